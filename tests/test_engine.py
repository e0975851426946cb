"""The streaming engine and the sampler: equal to transformers where they should be, honest about every step."""
import math
import threading

import pytest
import torch

from llm_demo import engine, models
from llm_demo.sampling import SamplingConfig, next_token

MSG = [{"role": "user", "content": "Hello cat"}]


def prompt_of(lm):
    return models.build_prompt(lm.spec, lm.tokenizer, MSG)


def hf_greedy(lm, prompt, n):
    ids = torch.tensor([engine.encode_prompt(lm, prompt)])
    out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                            do_sample=False, pad_token_id=lm.tokenizer.eos_token_id)
    return out[0, ids.shape[1]:].tolist()


def engine_ids(lm, prompt, cfg, **kw):
    return [p.token_id for p in engine.stream(lm, prompt, cfg, **kw)]


def test_temperature_zero_equals_transformers_greedy(tiny_lm):
    p = prompt_of(tiny_lm)
    ours = engine_ids(tiny_lm, p, SamplingConfig(temperature=0, max_new_tokens=20), ignore_eos=True)
    assert ours == hf_greedy(tiny_lm, p, 20), "greedy engine output differs from generate(do_sample=False)"


def test_top_k_one_equals_greedy(tiny_lm):
    p = prompt_of(tiny_lm)
    k1 = engine_ids(tiny_lm, p, SamplingConfig(temperature=1.3, top_k=1, top_p=1.0, max_new_tokens=20, seed=7),
                    ignore_eos=True)
    assert k1 == hf_greedy(tiny_lm, p, 20), "top-k = 1 should leave only the argmax"


def test_same_seed_same_text_different_seed_different_text(tiny_lm):
    p = prompt_of(tiny_lm)
    run = lambda seed: engine_ids(tiny_lm, p, SamplingConfig(temperature=1.0, top_k=0, top_p=1.0,
                                                               max_new_tokens=30, seed=seed), ignore_eos=True)
    assert run(1) == run(1), "the same seed must reproduce the same tokens"
    assert sum(run(1) != run(s) for s in (2, 3, 4)) >= 2, "different seeds should almost always differ"


def test_sessions_do_not_share_randomness(tiny_lm):
    """Each stream owns a torch.Generator: global RNG use in between changes nothing."""
    p = prompt_of(tiny_lm)
    cfg = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=15, seed=5)
    a = engine.stream(tiny_lm, p, cfg, ignore_eos=True)
    first = [next(a).token_id for _ in range(5)]
    torch.rand(1000)
    engine_ids(tiny_lm, p, SamplingConfig(temperature=1.0, max_new_tokens=5, seed=99))
    first += [x.token_id for x in a]
    assert first == engine_ids(tiny_lm, p, cfg, ignore_eos=True), "another stream disturbed this one's randomness"


@pytest.mark.parametrize("top_p", [0.05, 0.5, 0.9, 1.0])
def test_top_p_keeps_smallest_set_reaching_p(top_p):
    torch.manual_seed(0)
    logits = torch.randn(200) * 3
    cfg = SamplingConfig(temperature=1.0, top_k=0, top_p=top_p)
    _, info = next_token(logits, torch.tensor([[0]]), cfg, inspect=200)
    kept = info.stages[-1].kept
    sorted_p = torch.softmax(logits, -1).sort(descending=True).values
    cum = sorted_p.cumsum(0)
    expected = int((cum < top_p - 1e-6).sum()) + 1 if top_p < 1 else 200
    assert kept == expected, f"top-p={top_p} kept {kept} tokens, the smallest set reaching p has {expected}"
    assert kept >= 1, "top-p must never leave an empty set"


def test_reported_distributions_sum_to_one_and_match_the_sample(tiny_lm):
    p = prompt_of(tiny_lm)
    vocab = tiny_lm.model.config.vocab_size
    cfg = SamplingConfig(temperature=0.8, top_k=40, top_p=0.9, repetition_penalty=1.2, max_new_tokens=12, seed=3)
    for piece in engine.stream(tiny_lm, p, cfg, inspect=vocab, ignore_eos=True):
        st = piece.step
        for stage in st.stages:
            assert math.isclose(sum(stage.probs), 1.0, abs_tol=1e-4), f"{stage.name} sums to {sum(stage.probs)}"
        final = dict(zip(st.candidates, st.stages[-1].probs))
        assert final[piece.token_id] > 0, "the sampled token had zero probability in the reported distribution"
        assert math.isclose(final[piece.token_id], st.prob, rel_tol=1e-4), "reported prob != final distribution"
        assert [s.name for s in st.stages] == ["raw softmax (T=1)", "after repetition penalty", "after temperature",
                                                "after top-k", "after top-p"]
        assert st.stages[3].kept <= 40, "top-k kept more than k tokens"


def test_cancellation_stops_within_one_token_and_leaves_no_thread(tiny_lm):
    before = threading.active_count()
    calls = []
    real_forward = tiny_lm.model.forward
    tiny_lm.model.forward = lambda *a, **k: calls.append(1) or real_forward(*a, **k)
    try:
        g = engine.stream(tiny_lm, prompt_of(tiny_lm), SamplingConfig(max_new_tokens=50), ignore_eos=True)
        for _ in range(3):
            next(g)
        g.close()
        n = len(calls)
        assert n <= 4, f"{n} forward passes for 3 tokens: generation ran ahead of the consumer"
    finally:
        tiny_lm.model.forward = real_forward
    assert threading.active_count() == before, "a generation thread outlived the consumer"


def test_text_never_ends_in_a_broken_utf8_character(tiny_lm):
    p = prompt_of(tiny_lm)
    for seed in range(5):
        cfg = SamplingConfig(temperature=1.5, top_k=0, top_p=1.0, max_new_tokens=30, seed=seed)
        for piece in engine.stream(tiny_lm, p, cfg, ignore_eos=True):
            assert not piece.text.endswith("\ufffd") or piece.done, f"piece {piece.text!r} ends mid-character"


def test_stop_string_ends_generation_and_is_not_shown(tiny_lm):
    p = prompt_of(tiny_lm)
    full, _ = engine.generate(tiny_lm, p, SamplingConfig(temperature=0, max_new_tokens=30), ignore_eos=True)
    stop = full[5:8]
    assert stop.strip(), "test needs a non-empty stop string"
    text, reason = engine.generate(tiny_lm, p, SamplingConfig(temperature=0, max_new_tokens=30, stop=(stop,)),
                                   ignore_eos=True)
    assert reason == "stop string" and stop not in text and full.startswith(text), (text, reason)


@pytest.mark.parametrize("kw,words", [
    (dict(temperature=-1), "Temperature"), (dict(temperature=float("nan")), "finite"),
    (dict(temperature=float("inf")), "finite"), (dict(top_p=0), "Top-p"), (dict(top_p=1.5), "Top-p"),
    (dict(top_k=-1), "Top-k"), (dict(top_k=2.5), "Top-k"), (dict(max_new_tokens=0), "Max new tokens"),
    (dict(max_new_tokens=10**6), "Max new tokens"), (dict(repetition_penalty=0), "Repetition"),
    (dict(seed=-3), "Seed"), (dict(temperature="hot"), "number"),
])
def test_bad_settings_are_refused_with_a_sentence(tiny_lm, kw, words):
    with pytest.raises(ValueError, match=words):
        next(engine.stream(tiny_lm, prompt_of(tiny_lm), SamplingConfig(**kw)))


def test_empty_prompt_and_unknown_model_are_refused(tiny_lm):
    with pytest.raises(ValueError, match="empty"):
        next(engine.stream(tiny_lm, "  ", SamplingConfig()))
    with pytest.raises(ValueError, match="Unknown model"):
        models.load("gpt-17")


def test_score_matches_a_manual_log_likelihood(tiny_lm):
    p, answer = prompt_of(tiny_lm), "The cat sat"
    s = engine.score(tiny_lm, p, answer)
    ids = tiny_lm.tokenizer(p, add_special_tokens=False)["input_ids"]
    r = tiny_lm.tokenizer(answer, add_special_tokens=False)["input_ids"]
    manual = 0.0
    for i, t in enumerate(r):
        with torch.no_grad():
            logits = tiny_lm.model(torch.tensor([ids + r[:i]])).logits[0, -1]
        manual += float(torch.log_softmax(logits, -1)[t])
    assert math.isclose(s.total, manual, rel_tol=1e-4), f"score {s.total} != step-by-step {manual}"
    assert len(s.logprobs) == len(r) and s.mean < 0


# ---------------------------------------------------------------- regressions (issue 17)

def test_the_earliest_stop_string_in_the_text_cuts_not_the_first_listed(tiny_lm):
    p = prompt_of(tiny_lm)
    full, _ = engine.generate(tiny_lm, p, SamplingConfig(temperature=0, max_new_tokens=30), ignore_eos=True)
    early, late = full[3:6], full[12:15]
    assert early.strip() and late.strip() and full.find(late) > full.find(early), f"pick other slices of {full!r}"
    cfg = SamplingConfig(temperature=0, max_new_tokens=30, stop=(late, early))          # later one listed first
    text, reason = engine.generate(tiny_lm, p, cfg, ignore_eos=True)
    assert reason == "stop string" and text == full[:full.find(early)], (text, full)


def test_score_refuses_a_response_with_no_tokens(tiny_lm):
    """A response that tokenizes to nothing must not be scored as the prompt's own log-probability ([-0:])."""
    class NoTokensFor:
        def __init__(self, tok, response):
            self.tok, self.response = tok, response

        def __call__(self, text, **kw):
            return {"input_ids": []} if text == self.response else self.tok(text, **kw)

        def __getattr__(self, name):
            return getattr(self.tok, name)

    lm = models.LoadedModel(tiny_lm.spec, tiny_lm.model, NoTokensFor(tiny_lm.tokenizer, "\u200b"), "cpu", 0, 0.0)
    with pytest.raises(ValueError, match="no tokens"):
        engine.score(lm, prompt_of(tiny_lm), "\u200b")
