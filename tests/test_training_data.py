"""The training data, tokenizer template and preference-pair files: deterministic, disjoint splits, clear errors.

Run: `.venv/bin/python -m pytest -q tests/test_training_data.py`
"""
import json
import random

import pytest

from llm_demo.training import data as D
from llm_demo.training import world as W
from llm_demo.training.pairs import load_pairs_jsonl, pair_to_jsonl_line, parse_pairs, validate_pair

SMALL = dict(corpus_mb=0.05, sft_n=300, dpo_n=200, dpo_heldout_n=50)


def small(seed=0) -> D.DataConfig:
    return D.DataConfig(seed=seed, **SMALL)


def test_generators_are_deterministic_for_a_seed():
    a, b, c = small(0), small(0), small(1)
    assert D.pretraining(a) == D.pretraining(b), "same seed must give the same pretraining corpus"
    assert D.sft(a) == D.sft(b), "same seed must give the same SFT chats"
    assert D.dpo_pairs(a, 50, False) == D.dpo_pairs(b, 50, False), "same seed must give the same DPO pairs"
    assert D.eval_prompts(a) == D.eval_prompts(b), "same seed must give the same eval prompts"
    assert D.pretraining(a) != D.pretraining(c), "another seed should give another corpus"
    assert D.sft(a) != D.sft(c), "another seed should give other chats"


def test_splits_do_not_overlap():
    cfg = small()
    train, held = D.pretraining(cfg)
    assert held, "the held-out pretraining split is empty"
    assert not set(train) & set(held), "a pretraining document is in both splits"
    sft_prompts = {r["prompt"][0]["content"] for r in D.sft(cfg)}
    dpo_train = {p["prompt"] for p in D.dpo_pairs(cfg, 200, heldout=False)}
    held_prompts = ({r["prompt"] for r in D.eval_prompts(cfg)}
                    | {p["prompt"] for p in D.dpo_pairs(cfg, 50, heldout=True)})
    assert not sft_prompts & held_prompts, f"held-out prompts leak into SFT: {sorted(sft_prompts & held_prompts)[:3]}"
    assert not dpo_train & held_prompts, f"held-out prompts leak into DPO: {sorted(dpo_train & held_prompts)[:3]}"
    assert all(D.is_heldout(p, cfg) for p in held_prompts), "an eval prompt is not in the held-out split"


def test_corpus_size_and_counts_meet_the_issue():
    cfg = D.DataConfig()  # the shipped configuration (generating it takes about a second)
    assert cfg.sft_n >= 5000 and cfg.dpo_n >= 2000, "the issue asks for >= 5,000 chats and >= 2,000 pairs"
    train, _ = D.pretraining(cfg)
    assert sum(len(d.encode()) for d in train) >= 5e6, "the pretraining corpus must hold at least 5 MB"


def _without(text: str, phrases: tuple[str, ...]) -> list[str]:
    for phrase in phrases:
        text = text.replace(phrase, "")
    return text.split()


def test_pairs_differ_only_in_tone():
    polite, rude = W.POLITE_OPENERS + W.POLITE_CLOSERS, W.RUDE_OPENERS + W.RUDE_CLOSERS
    for pair in D.dpo_pairs(small(), 100, heldout=False):
        assert W.is_polite(pair["chosen"]) and not W.is_polite(pair["rejected"]), f"tone is not the trait: {pair}"
        assert _without(pair["chosen"], polite) == _without(pair["rejected"], rude), f"the facts differ: {pair}"


def test_sft_leaves_room_for_dpo():
    rows = D.sft(D.DataConfig(sft_n=2000))
    share = sum(W.is_polite(r["completion"][0]["content"]) for r in rows) / len(rows)
    assert 0.2 < share < 0.4, f"about 30% of SFT answers should be polite (the rest rude), got {share:.2f}"


def test_checkers():
    pip = W.BY_NAME["Pip"]
    check = {"kind": "colour", "expected": pip.colour, "subject": "Pip"}
    assert W.is_correct(f"Of course! Pip is {pip.colour}.", check), "the right colour should count"
    other = next(c for c in W.COLOURS if c != pip.colour)
    assert not W.is_correct(f"Pip is {pip.colour} or {other}.", check), "naming two colours must not count"
    assert W.is_correct("3 plus 4 is seven.", {"kind": "number", "expected": 7}), "number words count"
    assert not W.is_correct("3 plus 4 is 8.", {"kind": "number", "expected": 7}), "a wrong sum must not count"
    friend = {"kind": "name", "expected": pip.friend, "subject": "Pip"}
    assert W.is_correct(f"The best friend of Pip is {pip.friend}.", friend), "the subject's own name is not a rival"
    assert not W.is_polite("Ugh, fine. Pip is red. Have a lovely day!"), "one rude phrase makes it impolite"


def test_chat_template_prompt_is_a_token_prefix():
    from llm_demo.training.tokenizer import END, train_bpe

    tok = train_bpe(iter(D.pretraining(D.DataConfig(corpus_mb=0.05))[0]), 400)
    user = [{"role": "user", "content": "What colour is Pip?"}]
    prompt = tok.apply_chat_template(user, add_generation_prompt=True, return_dict=True)["input_ids"]
    turn = [{"role": "assistant", "content": "Pip is red."}]
    full = tok.apply_chat_template(user + turn, return_dict=True)["input_ids"]
    assert full[:len(prompt)] == prompt, "TRL finds the completion by this prefix; the template must keep it"
    assert full[-1] == tok.convert_tokens_to_ids(END) == tok.eos_token_id, "a turn must end with <|end|> = eos"
    with pytest.raises(Exception, match="unknown role"):
        tok.apply_chat_template([{"role": "robot", "content": "hi"}])


def test_pairs_file_roundtrip_and_errors(tmp_path):
    good = tmp_path / "votes.jsonl"
    good.write_text(pair_to_jsonl_line("Hi", "Hello! Nice to meet you.", "Ugh. What?") + "\n")
    assert load_pairs_jsonl(good) == [{"prompt": "Hi", "chosen": "Hello! Nice to meet you.", "rejected": "Ugh. What?"}]
    ok = '{"prompt": "a", "chosen": "b", "rejected": "c"}\n'
    cases = {ok + '{"prompt": "a", "chosen": "b"}': "line 2: missing key(s) rejected",
             ok + 'not json': "line 2: not valid JSON",
             '[1, 2]': "line 1: expected a JSON object",
             '{"prompt": "", "chosen": "b", "rejected": "c"}': "line 1: 'prompt' must be a non-empty string",
             '{"prompt": "a", "chosen": "b", "rejected": "b"}': "line 1: 'chosen' and 'rejected' are identical"}
    for text, message in cases.items():
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_pairs(text.splitlines())
    with pytest.raises(ValueError, match="line 3"):
        validate_pair({"prompt": 1, "chosen": "b", "rejected": "c"}, 3)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="no preference pairs"):
        load_pairs_jsonl(empty)
    assert json.loads(pair_to_jsonl_line("p", "c", "r")) == {"prompt": "p", "chosen": "c", "rejected": "r"}
    latin = tmp_path / "latin1.jsonl"
    latin.write_bytes('{"prompt": "caf\u00e9", "chosen": "b", "rejected": "c"}'.encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        load_pairs_jsonl(latin)


def test_world_prose_is_deterministic_and_uses_the_facts():
    doc = W.profile(random.Random(3))
    name = doc.split()[0] if doc.split()[0] in W.BY_NAME else doc.split()[2].rstrip(".")
    c = W.BY_NAME[name]
    assert c.colour in doc and c.animal in doc, f"a profile must state the character's facts: {doc}"
    assert W.document(random.Random(5)) == W.document(random.Random(5)), "documents depend only on the rng"
