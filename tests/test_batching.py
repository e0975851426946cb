"""Continuous batching: a stream in a batch gives what it gives alone, keeps its own settings, and leaves at once.
(The engine loop's own life, faults and scale: tests/test_engine_loop.py.)"""
import threading
import time

import pytest
import torch

from llm_demo import batching, config, engine, models
from llm_demo.sampling import SamplingConfig

MESSAGES = ["Hello cat", "A dog ran in the park with a red ball and then", "Hi", "The cat sat on the mat. 1 + 2 ="]


def prompts(lm):
    return [models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": m}]) for m in MESSAGES]


def alone(lm, prompt, cfg, **kw):
    return [(p.token_id, p.text, p.finish_reason) for p in engine.stream(lm, prompt, cfg, ignore_eos=True, **kw)]


def round_robin(gens, stagger=True):
    """Read the streams in turn in one thread, the i-th starting at round i; returns what each produced."""
    got, live, rnd = [[] for _ in gens], set(range(len(gens))), 0
    while live:
        for i in sorted(live):
            if stagger and i > rnd:
                continue
            try:
                p = next(gens[i])
                got[i].append((p.token_id, p.text, p.finish_reason))
            except StopIteration:
                live.discard(i)
        rnd += 1
    return got


@pytest.fixture
def batch(tiny_lm):
    b = batching.batcher_for(tiny_lm)
    b.stats = batching.BatchStats()
    yield b
    deadline = time.monotonic() + 5
    while (b.rows or b.waiting) and time.monotonic() < deadline:   # the loop drops closed streams before its next step
        time.sleep(0.01)
    assert not b.rows and not b.waiting and b.core.cache is None, "streams were left in the batch after the test"


@pytest.fixture
def forward_sizes(tiny_lm):
    """Batch size of every forward pass the model runs."""
    sizes, real = [], tiny_lm.model.forward
    tiny_lm.model.forward = lambda *a, **k: sizes.append(k["input_ids"].shape[0]) or real(*a, **k)
    yield sizes
    tiny_lm.model.forward = real


def test_greedy_streams_in_a_batch_equal_the_same_streams_alone(tiny_lm, batch):
    ps = prompts(tiny_lm)
    cfgs = [SamplingConfig(temperature=0, max_new_tokens=n) for n in (20, 12, 25, 16)]
    expected = [alone(tiny_lm, p, c) for p, c in zip(ps, cfgs)]
    got = round_robin([batching.stream(tiny_lm, p, c, ignore_eos=True) for p, c in zip(ps, cfgs)])
    for i, (e, g) in enumerate(zip(expected, got)):
        assert g == e, f"stream {i} ({MESSAGES[i]!r}) changed when batched with others"
    # the loop runs ahead of this one reader, so how many of the four overlap depends on the machine's speed
    assert batch.stats.max_rows >= 2 and batch.stats.row_steps > batch.stats.steps, \
        f"no real batching happened: {batch.stats}"


def test_each_stream_keeps_its_own_seed_settings_and_stop_conditions_across_threads(tiny_lm, batch):
    ps = prompts(tiny_lm)
    stop = alone(tiny_lm, ps[0], SamplingConfig(temperature=0, max_new_tokens=30))
    stop_text = "".join(t for _, t, _ in stop)[4:7]
    cfgs = [SamplingConfig(temperature=0, max_new_tokens=30, stop=(stop_text,)),
            SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=30, seed=1),
            SamplingConfig(temperature=0.7, top_k=20, top_p=0.9, repetition_penalty=1.3, max_new_tokens=22, seed=2),
            SamplingConfig(temperature=1.5, top_k=5, top_p=1.0, max_new_tokens=9, seed=3)]
    expected = [alone(tiny_lm, p, c) for p, c in zip(ps, cfgs)]
    got = [None] * 4
    barrier = threading.Barrier(4)

    def read(i):
        barrier.wait()
        got[i] = [(p.token_id, p.text, p.finish_reason)
                  for p in batching.stream(tiny_lm, ps[i], cfgs[i], ignore_eos=True)]

    threads = [threading.Thread(target=read, args=(i,)) for i in range(4)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    for i in range(4):
        assert got[i] == expected[i], f"stream {i} ({cfgs[i]}) differs from the same stream run alone"
    assert expected[0][-1][2] == "stop string", "the stop-string stream should end on its stop string"
    assert batch.stats.max_rows >= 2, f"threads never shared a forward pass: {batch.stats}"


def test_the_sampler_view_is_the_same_in_a_batch(tiny_lm, batch):
    p, cfg = prompts(tiny_lm)[0], SamplingConfig(temperature=0.8, top_k=30, top_p=0.9, max_new_tokens=8, seed=5)
    solo = list(engine.stream(tiny_lm, p, cfg, inspect=5, ignore_eos=True))
    other = batching.stream(tiny_lm, prompts(tiny_lm)[1], SamplingConfig(max_new_tokens=8), ignore_eos=True)
    mine = batching.stream(tiny_lm, p, cfg, inspect=5, ignore_eos=True)
    next(other)
    pieces = []
    for piece in mine:
        pieces.append(piece)
        next(other, None)
    for a, b in zip(solo, pieces, strict=True):
        assert a.step.candidates == b.step.candidates and a.step.token_id == b.step.token_id
        for sa, sb in zip(a.step.stages, b.step.stages, strict=True):
            assert sa.name == sb.name and sa.kept == sb.kept
            assert torch.allclose(torch.tensor(sa.probs), torch.tensor(sb.probs), atol=1e-5), sa.name


def test_a_reader_that_stops_leaves_the_batch_within_one_step_and_shutdown_ends_the_loop(tiny_lm, batch,
                                                                                        forward_sizes):
    ps = prompts(tiny_lm)
    gens = [batching.stream(tiny_lm, p, SamplingConfig(max_new_tokens=100), ignore_eos=True) for p in ps[:3]]
    for _ in range(3):
        for g in gens:
            next(g)
    assert max(forward_sizes) == 3, f"the three streams never shared a pass: {forward_sizes}"
    gens[1].close()                                # Stop button / closed tab: Gradio closes the generator
    mark = len(forward_sizes)
    for _ in range(5):
        next(gens[0])
    after = forward_sizes[mark:]
    assert after.count(3) <= 1 and set(after[1:]) <= {2}, f"the closed stream was still computed: {after}"
    deadline = time.monotonic() + 2                # the loop thread updates rows between steps: read it settled
    while len(batch.rows) != 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(batch.rows) == 2, f"the closed stream is still a row of the batch 2 s later: {len(batch.rows)} rows"
    thread = batch.thread
    for g in (gens[0], gens[2]):
        g.close()
    batching.shutdown()
    assert thread is not None and not thread.is_alive(), "shutdown must end the engine loop's thread"
    assert not batch.rows and batch.core.cache is None, "closing every reader must empty the batch and free its cache"


def test_an_unread_stream_keeps_its_tokens_for_its_reader(tiny_lm, batch):
    ps = prompts(tiny_lm)
    cfg = SamplingConfig(temperature=0, max_new_tokens=30)
    slow_expected = alone(tiny_lm, ps[1], cfg)
    slow = batching.stream(tiny_lm, ps[1], cfg, ignore_eos=True)
    fast = batching.stream(tiny_lm, ps[0], SamplingConfig(temperature=0, max_new_tokens=30), ignore_eos=True)
    first = [next(slow)]
    list(fast)                                     # only `fast` reads; `slow` runs on and its pieces wait in its queue
    got = first + list(slow)
    assert [(p.token_id, p.text, p.finish_reason) for p in got] == slow_expected


def test_a_failing_forward_pass_reaches_every_stream_and_the_next_stream_works(tiny_lm, batch, monkeypatch):
    ps = prompts(tiny_lm)
    gens = [batching.stream(tiny_lm, p, SamplingConfig(max_new_tokens=20), ignore_eos=True) for p in ps[:2]]
    next(gens[0]), next(gens[1])
    real = tiny_lm.model.forward
    monkeypatch.setattr(tiny_lm.model, "forward", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    for g in gens:
        with pytest.raises(RuntimeError, match="boom"):
            list(g)
    monkeypatch.setattr(tiny_lm.model, "forward", real)
    cfg = SamplingConfig(temperature=0, max_new_tokens=6)
    assert [(p.token_id, p.text, p.finish_reason) for p in batching.stream(tiny_lm, ps[2], cfg, ignore_eos=True)] \
        == alone(tiny_lm, ps[2], cfg), "the batch did not recover after a failed step"


def test_bad_settings_are_refused_before_joining(tiny_lm, batch):
    with pytest.raises(ValueError, match="Top-p"):
        next(batching.stream(tiny_lm, prompts(tiny_lm)[0], SamplingConfig(top_p=0)))
    with pytest.raises(ValueError, match="empty"):
        next(batching.stream(tiny_lm, "  ", SamplingConfig()))


def test_batching_can_be_switched_off(tiny_lm, batch, monkeypatch, forward_sizes):
    monkeypatch.setattr(config, "BATCHING", False)
    ps, cfg = prompts(tiny_lm), SamplingConfig(temperature=0, max_new_tokens=6)
    got = round_robin([batching.stream(tiny_lm, p, cfg, ignore_eos=True) for p in ps[:2]], stagger=False)
    assert got == [alone(tiny_lm, p, cfg) for p in ps[:2]]
    assert set(forward_sizes) == {1} and batch.stats.steps == 0, "batching was switched off but still used"
