"""engine.stream(..., prefix_ids=[...]): generation continues after given answer tokens as if it had made them."""
import pytest

from llm_demo import batching, config, engine, models
from llm_demo.sampling import SamplingConfig

MSG = [{"role": "user", "content": "Hello cat"}]
SAMPLED = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.3, max_new_tokens=20, seed=11)
GREEDY = SamplingConfig(temperature=0, max_new_tokens=20)


def prompt_of(lm):
    return models.build_prompt(lm.spec, lm.tokenizer, MSG)


def ids_and_text(pieces):
    pieces = list(pieces)
    return [p.token_id for p in pieces if p.token_id is not None], "".join(p.text for p in pieces), pieces[-1]


@pytest.mark.parametrize("cfg", [GREEDY, SAMPLED], ids=["greedy", "sampled+penalty"])
@pytest.mark.parametrize("k", [0, 1, 7, 19])
def test_continuing_after_k_tokens_gives_the_rest_of_the_answer(tiny_lm, cfg, k):
    p = prompt_of(tiny_lm)
    full, full_text, _ = ids_and_text(engine.stream(tiny_lm, p, cfg, ignore_eos=True))
    assert len(full) == 20, "the reference answer should use all 20 tokens"
    rest, text, last = ids_and_text(engine.stream(tiny_lm, p, cfg, ignore_eos=True, prefix_ids=full[:k]))
    assert rest == full[k:], f"after {k} given tokens the stream drew {rest}, the original went on with {full[k:]}"
    assert text == full_text, "joining the pieces must give the whole answer, prefix text included"
    assert last.n_tokens == 20 and last.finish_reason == "max new tokens", "the prefix must count as generated"


def test_batched_stream_continues_the_same_way(tiny_lm, monkeypatch):
    monkeypatch.setattr(config, "BATCHING", True)
    assert batching.batchable(tiny_lm), "the tiny GPT-2 should use the batched path"
    p = prompt_of(tiny_lm)
    full, _, _ = ids_and_text(engine.stream(tiny_lm, p, SAMPLED, ignore_eos=True))
    rest, _, _ = ids_and_text(batching.stream(tiny_lm, p, SAMPLED, ignore_eos=True, prefix_ids=full[:5]))
    assert rest == full[5:], "batching.stream with prefix_ids differs from the original answer"


def test_a_forced_token_appears_at_its_place_and_the_model_goes_on_from_it(tiny_lm):
    p = prompt_of(tiny_lm)
    full, _, _ = ids_and_text(engine.stream(tiny_lm, p, GREEDY, ignore_eos=True))
    alt = next(t for t in range(5, 400) if t not in (full[3],) and t not in engine.stop_token_ids(tiny_lm))
    prefix = full[:3] + [alt]
    rest, text, _ = ids_and_text(engine.stream(tiny_lm, p, GREEDY, ignore_eos=True, prefix_ids=prefix))
    assert len(rest) == 16, "the branch should still stop at max new tokens (20, prefix included)"
    expected = tiny_lm.tokenizer.decode(prefix + rest)
    assert text == expected and text.startswith(tiny_lm.tokenizer.decode(prefix)), (text, expected)
    alone, _, _ = ids_and_text(engine.stream(tiny_lm, p + tiny_lm.tokenizer.decode(prefix), GREEDY,
                                             ignore_eos=True))
    assert rest[:3] == alone[:3], "greedy after the forced token should match greedy after the same text in the prompt"


def test_a_prefix_that_ends_the_answer_yields_one_final_piece_without_a_forward_pass(tiny_lm):
    p = prompt_of(tiny_lm)
    calls, real = [], tiny_lm.model.forward
    tiny_lm.model.forward = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        full, full_text, _ = ids_and_text(engine.stream(tiny_lm, p, GREEDY, ignore_eos=True))
        calls.clear()
        pieces = list(engine.stream(tiny_lm, p, GREEDY, ignore_eos=True, prefix_ids=full))
        assert not calls, "a finished prefix must not run the model"
    finally:
        tiny_lm.model.forward = real
    assert len(pieces) == 1 and pieces[0].done and pieces[0].finish_reason == "max new tokens", pieces
    assert pieces[0].text == full_text and pieces[0].token_id is None
    eos = tiny_lm.tokenizer.eos_token_id
    end = list(engine.stream(tiny_lm, p, GREEDY, prefix_ids=full[:4] + [eos]))
    assert len(end) == 1 and end[0].finish_reason == "end of turn", end


def test_a_stop_string_inside_the_prefix_ends_the_answer_there(tiny_lm):
    p = prompt_of(tiny_lm)
    full, full_text, _ = ids_and_text(engine.stream(tiny_lm, p, GREEDY, ignore_eos=True))
    stop = full_text[4:7]
    assert stop.strip(), "test needs a visible stop string"
    cfg = SamplingConfig(temperature=0, max_new_tokens=20, stop=(stop,))
    j = next(j for j in range(1, 21) if stop in tiny_lm.tokenizer.decode(full[:j]))
    pieces = list(engine.stream(tiny_lm, p, cfg, ignore_eos=True, prefix_ids=full[:j]))
    assert len(pieces) == 1 and pieces[0].finish_reason == "stop string" and stop not in pieces[0].text, pieces
    with pytest.raises(ValueError, match="already ended \\(stop string\\)"):
        next(engine.stream(tiny_lm, p, cfg, ignore_eos=True, prefix_ids=full[:j + 1]))


@pytest.mark.parametrize("prefix,words", [
    ([-1], "not a token"), ([10**6], "not a token"), (["a"], "whole number"), ([2.0], "whole number"),
    ([True], "whole number"), ("abc", "list of token ids"), (5, "list of token ids"),
])
def test_bad_prefix_ids_are_refused_with_a_sentence(tiny_lm, prefix, words):
    with pytest.raises(ValueError, match=words):
        next(engine.stream(tiny_lm, prompt_of(tiny_lm), GREEDY, prefix_ids=prefix))


def test_a_token_after_the_end_of_turn_is_refused(tiny_lm):
    eos = tiny_lm.tokenizer.eos_token_id
    with pytest.raises(ValueError, match=r"prefix_ids\[2\] comes after the answer already ended \(end of turn\)"):
        next(engine.stream(tiny_lm, prompt_of(tiny_lm), GREEDY, prefix_ids=[30, eos, 31]))


def test_step_seeds_depend_on_seed_and_position():
    seeds = {engine.step_seed(s, i) for s in range(20) for i in range(50)}
    assert len(seeds) == 1000, "two (seed, position) pairs share a generator seed"
    assert all(0 <= s < 2**63 for s in seeds), "torch seeds must be below 2^63"
