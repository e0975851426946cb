"""The engine loop (batching.Engine): exact at 1/8/32 streams, joins and leaves mid-batch, chunked prefill, Stop,
a stream's own failure, the loop's death and restart, shutdown, the memory bound, the cap, and the trio batched."""
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from llm_demo import backend, batching, config, engine, models
from llm_demo.sampling import SamplingConfig

WORDS = ["Hello cat", "A dog ran in the park with a red ball and then", "Hi", "The cat sat on the mat. 1 + 2 =",
         "Ünïcödé tëxt", "world! 1 + 2", "a red ball", "The mat"]


def prompt_of(lm, i):
    return models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": WORDS[i % len(WORDS)] * (1 + i % 3)}])


def mixed(i, n=12):
    """Settings that differ per stream: greedy, plain sampling, top-k/top-p, repetition penalty, stop strings."""
    kinds = [dict(temperature=0), dict(temperature=1.0, top_k=0, top_p=1.0),
             dict(temperature=0.7, top_k=20, top_p=0.9, repetition_penalty=1.3), dict(temperature=1.5, top_k=5),
             dict(temperature=0.8, stop=("a",))]
    return SamplingConfig(max_new_tokens=n + i % 5, seed=100 + i, **kinds[i % len(kinds)])


def trace(pieces):
    return [(p.token_id, p.text, p.finish_reason, p.n_tokens) for p in pieces]


def in_threads(fn, n):
    out, errors = [None] * n, []
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        try:
            out[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append((i, exc))
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    [t.start() for t in threads]
    [t.join(120) for t in threads]
    assert not any(t.is_alive() for t in threads), "a reader hung"
    return out, errors


@pytest.fixture
def eng(tiny_lm):
    e = batching.batcher_for(tiny_lm)
    e.stats = batching.BatchStats()
    yield e
    deadline = time.monotonic() + 5
    while (e.rows or e.waiting) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not e.rows and not e.waiting, "streams were left in the batch"


@pytest.mark.parametrize("n", [1, 8, 32])
def test_batched_streams_equal_the_same_streams_alone(tiny_lm, eng, n):
    ps = [prompt_of(tiny_lm, i) for i in range(n)]
    expected = [trace(engine.stream(tiny_lm, ps[i], mixed(i), inspect=3 * (i % 2), ignore_eos=True)) for i in range(n)]
    got, errors = in_threads(lambda i: trace(batching.stream(tiny_lm, ps[i], mixed(i), inspect=3 * (i % 2),
                                                             ignore_eos=True)), n)
    assert not errors, errors
    for i in range(n):
        assert got[i] == expected[i], f"stream {i} ({mixed(i)}) changed in a batch of {n}"
    assert eng.stats.max_rows >= min(n, 4), f"{n} concurrent streams never shared a step: {eng.stats}"


def test_a_class_of_thirty_is_one_batch_and_gradio_admits_it(tiny_lm, eng):
    assert config.MAX_BATCH_SIZE >= 32 and config.MODEL_CONCURRENCY_LIMIT == config.MAX_BATCH_SIZE, \
        "Gradio's model concurrency must follow the batch cap (>= 32 by default)"
    ps = [prompt_of(tiny_lm, i) for i in range(30)]
    cfg = SamplingConfig(temperature=0, max_new_tokens=40)
    got, errors = in_threads(lambda i: engine.collect(batching.stream(tiny_lm, ps[i], cfg, ignore_eos=True)), 30)
    assert not errors and all(r == "max new tokens" for _, r in got), errors
    assert eng.stats.max_rows >= 20, f"30 students at once should decode as one batch, not waves: {eng.stats}"


def test_joins_and_leaves_mid_batch_with_chunked_prefill(tiny_lm, eng, monkeypatch):
    """A long prompt joins while others decode, prefilled 4 tokens per step (alone it is cut the same way); a stream
    leaves mid-batch; the only decoding stream ends while another is still being prefilled."""
    monkeypatch.setattr(config, "PREFILL_CHUNK", 4)
    long = prompt_of(tiny_lm, 1)                   # ~47 tokens: a dozen chunks
    cfgs = [SamplingConfig(temperature=0.9, top_k=30, max_new_tokens=30, seed=1),
            SamplingConfig(temperature=0, max_new_tokens=20), SamplingConfig(temperature=0.5, max_new_tokens=3)]
    ps = [prompt_of(tiny_lm, 0), long, prompt_of(tiny_lm, 2)]
    expected = [trace(engine.stream(tiny_lm, p, c, ignore_eos=True)) for p, c in zip(ps, cfgs)]
    sizes, real = [], tiny_lm.model.forward
    monkeypatch.setattr(tiny_lm.model, "forward", lambda *a, **k: sizes.append(tuple(k["input_ids"].shape))
                        or real(*a, **k))
    a = batching.stream(tiny_lm, ps[0], cfgs[0], ignore_eos=True)
    got_a = trace([next(a) for _ in range(3)])
    leaver = batching.stream(tiny_lm, ps[0], SamplingConfig(max_new_tokens=100), ignore_eos=True)
    next(leaver)
    sizes.clear()                                  # from here on `leaver` decodes while `b` is prefilled
    b = batching.stream(tiny_lm, ps[1], cfgs[1], ignore_eos=True)
    got_b = trace([next(b)])                       # joined mid-batch: its first token after its chunks
    window = list(sizes)
    leaver.close()                                 # leaves mid-batch
    got_a += trace(a)
    got_b += trace(b)
    assert got_a == expected[0] and got_b == expected[1], "a join or a leave changed another stream's tokens"
    chunks = [s for s in window if s[0] == 1 and s[1] > 1]
    assert len(chunks) >= 10 and max(s[1] for s in chunks) <= 4, f"the long prompt was not prefilled in chunks: {window}"
    for x, y in zip(window, window[1:]):           # between two prompt chunks the running streams took a step
        assert not (x[1] > 1 and y[1] > 1), f"two prefill chunks in a row stalled the running streams: {window}"
    # the only decoding stream (3 tokens) ends while the long prompt is still being prefilled
    short = batching.stream(tiny_lm, ps[2], cfgs[2], ignore_eos=True)
    got_short = trace([next(short)])
    b = batching.stream(tiny_lm, ps[1], cfgs[1], ignore_eos=True)
    first_b = next(b)
    got_short += trace(short)
    assert got_short == expected[2] and trace([first_b]) + trace(b) == expected[1]


def test_stop_drops_the_stream_before_the_next_step(tiny_lm, eng):
    gens = [batching.stream(tiny_lm, prompt_of(tiny_lm, i), SamplingConfig(max_new_tokens=200), ignore_eos=True)
            for i in range(2)]
    [next(g) for g in gens]
    gens[0].close()                                # the Stop button: Gradio closes the generator
    steps = eng.stats.steps
    next(gens[1])
    next(gens[1])
    assert len(eng.rows) <= 1, "the stopped stream is still in the batch"
    assert eng.stats.row_steps - eng.stats.steps <= steps, "the stopped stream was still sampled"
    gens[1].close()


def test_a_stream_whose_sampling_fails_ends_with_a_sentence_and_the_others_continue(tiny_lm, eng, monkeypatch):
    real_advance_all = backend.advance_all

    def advance_all(decs, logits):          # Decoder.advance (one stream alone) goes through it too
        if any(d.cfg.seed == 666 and len(d.new_ids) == 3 for d in decs):
            raise RuntimeError("injected")
        return real_advance_all(decs, logits)
    ps = [prompt_of(tiny_lm, i) for i in range(3)]
    cfgs = [mixed(0, 20), SamplingConfig(temperature=1.0, max_new_tokens=20, seed=666), mixed(2, 20)]
    expected = [trace(engine.stream(tiny_lm, p, c, ignore_eos=True)) for p, c in zip(ps, cfgs)]
    monkeypatch.setattr(backend, "advance_all", advance_all)
    got, errors = in_threads(lambda i: trace(batching.stream(tiny_lm, ps[i], cfgs[i], ignore_eos=True)), 3)
    assert [i for i, _ in errors] == [1], f"only the failing stream should fail: {errors}"
    assert isinstance(errors[0][1], batching.EngineFault) and "the others carry on" in str(errors[0][1])
    assert got[0] == expected[0] and got[2] == expected[2], "the other streams' tokens changed"


def test_a_stream_whose_prompt_fails_ends_alone(tiny_lm, eng, monkeypatch):
    core, real = eng.core, eng.core._prefill
    monkeypatch.setattr(core, "_prefill", lambda row: (_ for _ in ()).throw(RuntimeError("bad prompt"))
                        if row.dec.cfg.seed == 13 else real(row))
    good = batching.stream(tiny_lm, prompt_of(tiny_lm, 0), SamplingConfig(temperature=0, max_new_tokens=15),
                           ignore_eos=True)
    first = next(good)
    with pytest.raises(RuntimeError, match="bad prompt"):
        list(batching.stream(tiny_lm, prompt_of(tiny_lm, 1), SamplingConfig(max_new_tokens=5, seed=13)))
    rest = trace([first]) + trace(good)
    assert rest == trace(engine.stream(tiny_lm, prompt_of(tiny_lm, 0), SamplingConfig(temperature=0, max_new_tokens=15),
                                       ignore_eos=True))


def test_the_loop_dying_is_detected_restarted_and_its_students_told(tiny_lm, eng, monkeypatch):
    ps = [prompt_of(tiny_lm, i) for i in range(3)]
    gens = [batching.stream(tiny_lm, p, SamplingConfig(max_new_tokens=100), ignore_eos=True) for p in ps]
    [next(g) for g in gens]
    real = eng._drop_gone
    monkeypatch.setattr(eng, "_drop_gone", lambda: (_ for _ in ()).throw(MemoryError("forced crash")))
    for g in gens:
        with pytest.raises(batching.EngineFault, match="restarted") as err:
            for _ in g:
                pass
        assert str(err.value) == batching.RESTARTED, "every affected student reads the one sentence"
    monkeypatch.setattr(eng, "_drop_gone", real)
    assert eng.stats.restarts == 1, eng.stats
    cfg = SamplingConfig(temperature=0.8, max_new_tokens=10, seed=4)
    assert trace(batching.stream(tiny_lm, ps[0], cfg)) == trace(engine.stream(tiny_lm, ps[0], cfg)), \
        "the restarted loop does not answer as before"


def test_a_loop_thread_that_vanished_is_noticed_by_its_readers(tiny_lm, eng, monkeypatch):
    """A thread that ended without its own handler running (so it told no one): its readers notice within a second,
    get the sentence, and a fresh loop serves the next stream."""
    batching.shutdown()                                          # the next stream starts a new thread
    real_run = eng._run

    def vanishing():                                             # runs until both streams decode, then ends
        while sum(r.decoding for r in eng.active) < 2:
            eng._step_once()
        eng._step_once()
    monkeypatch.setattr(eng, "_run", vanishing)
    gens = [batching.stream(tiny_lm, prompt_of(tiny_lm, i), SamplingConfig(max_new_tokens=200), ignore_eos=True)
            for i in range(2)]
    next(gens[0]), next(gens[1])
    monkeypatch.setattr(eng, "_run", real_run)
    for g in gens:
        with pytest.raises(batching.EngineFault, match="restarted"):
            for _ in g:
                pass
    assert eng.stats.restarts == 1, eng.stats
    assert engine.collect(batching.stream(tiny_lm, prompt_of(tiny_lm, 1), SamplingConfig(max_new_tokens=4)))[1]


def test_shutdown_ends_running_streams_with_a_sentence_and_the_thread(tiny_lm, eng):
    g = batching.stream(tiny_lm, prompt_of(tiny_lm, 0), SamplingConfig(max_new_tokens=10_000 // 100), ignore_eos=True)
    next(g)
    thread = eng.thread
    batching.shutdown()
    assert not thread.is_alive(), "shutdown left the engine loop running"
    with pytest.raises(batching.EngineFault, match="shutting down"):
        for _ in g:
            pass
    assert engine.collect(batching.stream(tiny_lm, prompt_of(tiny_lm, 1), SamplingConfig(max_new_tokens=3)))[1], \
        "after shutdown a new stream starts a fresh loop"


@pytest.mark.slow      # a fresh Python process that imports torch and transformers
def test_a_process_with_streams_still_running_exits_promptly(tiny_dir):
    code = ("import sys; sys.path.insert(0, 'tests')\n"
            "from tiny import load_tiny\nfrom llm_demo import batching, models\n"
            "from llm_demo.sampling import SamplingConfig\n"
            f"lm = load_tiny({str(tiny_dir)!r})\n"
            "p = models.build_prompt(lm.spec, lm.tokenizer, [{'role': 'user', 'content': 'Hi'}])\n"
            "gens = [batching.stream(lm, p, SamplingConfig(max_new_tokens=120), ignore_eos=True) for _ in range(4)]\n"
            "[next(g) for g in gens]\nprint('streaming', flush=True)\n")
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "streaming" in done.stdout, done.stderr[-2000:]
    assert time.monotonic() - t0 < 90, "the process hung at exit"


def test_the_batch_memory_is_bounded_and_a_request_that_cannot_fit_is_refused_with_numbers(tiny_lm, eng,
                                                                                            monkeypatch):
    p = prompt_of(tiny_lm, 0)
    n_prompt = len(engine.encode_prompt(tiny_lm, p))
    # The tiny model's cache is a few kB per stream: pretend each position costs enough that one stream's worst case
    # (prompt + 20 new tokens) is 0.6 MB, and allow 1 MB.
    monkeypatch.setattr(eng.core, "per_position", int(0.6 * 2**20 / (n_prompt + 20)))
    monkeypatch.setattr(config, "BATCH_KV_MB", 1)
    cfg = SamplingConfig(temperature=0, max_new_tokens=20)
    got, errors = in_threads(lambda i: trace(batching.stream(tiny_lm, p, cfg, ignore_eos=True)), 3)
    assert not errors and got[0] == got[1] == got[2] == trace(engine.stream(tiny_lm, p, cfg, ignore_eos=True))
    assert eng.stats.max_rows == 1, f"the budget fits one stream, yet {eng.stats.max_rows} shared the cache"
    huge = SamplingConfig(max_new_tokens=tiny_lm.context_length)   # its worst case: the whole context, > 1 MB
    with pytest.raises(ValueError, match=r"tokens \(\d+ MB of KV cache\), more than this deployment's batch memory "
                                         r"of 1 MB"):
        next(batching.stream(tiny_lm, p, huge))


def test_the_cap_bounds_the_batch_and_the_rest_wait_their_turn(tiny_lm, eng, monkeypatch):
    monkeypatch.setattr(eng, "max_rows", 3)
    ps = [prompt_of(tiny_lm, i) for i in range(7)]
    expected = [trace(engine.stream(tiny_lm, ps[i], mixed(i), ignore_eos=True)) for i in range(7)]
    got, errors = in_threads(lambda i: trace(batching.stream(tiny_lm, ps[i], mixed(i), ignore_eos=True)), 7)
    assert not errors and got == expected
    assert eng.stats.max_rows == 3, eng.stats


def test_refused_settings_never_join(tiny_lm, eng):
    with pytest.raises(ValueError, match="Top-p"):
        next(batching.stream(tiny_lm, prompt_of(tiny_lm, 0), SamplingConfig(top_p=0)))
    too_long = "word " * (tiny_lm.context_length + 10)
    with pytest.raises(ValueError, match="tokens"):
        next(batching.stream(tiny_lm, too_long, SamplingConfig()))
    assert not eng.rows and not eng.waiting and eng.stats.steps == 0


TRIO = [models.get_spec(n).name for n in models.family_stages("tinygpt").values()] if "tinygpt" in models.families() \
    else []


@pytest.mark.skipif(not TRIO or not all(models.availability(n)[0] for n in TRIO), reason="the TinyGPT trio is not built")
def test_concurrent_compare_runs_of_the_trio_share_forward_passes():
    from llm_demo import compare
    cfg = SamplingConfig(temperature=0.8, top_k=40, max_new_tokens=12, seed=3)
    prompts = ["Once upon a time", "The little dog", "A girl named Lily", "One day"]

    def run(i):
        cols = None
        for cols in compare.stream_columns("tinygpt", prompts[i], cfg):
            pass
        return [(c.text, c.finish_reason, c.error) for c in cols]
    engines = [batching.batcher_for(models.load(n)) for n in TRIO]
    assert all(engines), "every TinyGPT stage should batch"
    for e in engines:
        e.stats = batching.BatchStats()
    alone = [run(i) for i in range(4)]
    for e in engines:
        e.stats = batching.BatchStats()
    got, errors = in_threads(run, 4)
    assert not errors and got == alone, "a Compare run changed when run with others"
    assert all(e.stats.max_rows >= 2 for e in engines), [e.stats for e in engines]


def test_the_engine_loop_imports_no_backend():
    import ast
    tree = ast.parse(Path(batching.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not imported & {"llamacpp", "transformers_backend", "remote", "models", "llama_cpp", "transformers"}, \
        f"batching.py imports a backend: {sorted(imported)}"
