"""Deployment limits and switches, in one place: the UI shows them, the engine enforces them.

Every value can be overridden by an environment variable (named next to it) when deploying for a class;
docs/deploy.md "Deploying for a class" lists them. Defaults are sized for a 2-vCPU, 16 GB machine (a free CPU Space).
"""
import os
from pathlib import Path


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SystemExit(f"{name}={value} is too small: it must be at least {minimum}")
    return value


def env_flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    return default if raw == "" else raw in ("1", "true", "yes", "on")


# Per-request caps (a generation longer than these is refused with a message, never clamped silently).
MAX_NEW_TOKENS_CAP = _env_int("LLM_DEMO_MAX_NEW_TOKENS", 512)
MAX_PROMPT_TOKENS = _env_int("LLM_DEMO_MAX_PROMPT_TOKENS", 2048)
GENERATION_TIMEOUT_S = _env_int("LLM_DEMO_GENERATION_TIMEOUT_S", 120)
MAX_TEXT_CHARS = _env_int("LLM_DEMO_MAX_TEXT_CHARS", 200_000)  # tokenizer tab input cap

# Batching (llm_demo/batching.py): one engine loop per model advances every concurrent stream of that model in each
# forward pass. MAX_BATCH_SIZE streams share a step; on 2 CPU cores SmolLM2-135M on llama.cpp still gains tokens/s
# in total from 8 to 32 streams (issue 24: `python -m llm_demo.bench batch`), so a class of 30 is one batch.
BATCHING = env_flag("LLM_DEMO_BATCHING", default=True)
MAX_BATCH_SIZE = _env_int("LLM_DEMO_MAX_BATCH", 32)
# A joining stream's prompt is evaluated this many tokens per step, between the running streams' decode steps, so a
# long prompt never stalls them by more than one chunk; a stream alone cuts its prompt the same way (same numbers).
PREFILL_CHUNK = _env_int("LLM_DEMO_PREFILL_CHUNK", 256)
# The transformers batch's KV cache stays under this many megabytes (every row's worst case: prompt + max new tokens);
# a stream that would not fit waits for rows to leave, one that could never fit alone is refused with the numbers.
# llama.cpp's KV cache is allocated at load: MAX_BATCH_SIZE + 2 slots of (prompt cap + new-token cap) tokens.
BATCH_KV_MB = _env_int("LLM_DEMO_BATCH_KV_MB", 2048)
# A transformers model smaller than this runs its engine loop on one CPU thread: a TinyGPT step (2.6M parameters,
# [rows, 128] x [128, 384] products) costs less than waking a second OpenMP thread for every operation. Measured
# on the 2-core dev machine under load: 14-22 ms per TinyGPT forward on one thread, 300-430 ms on two.
ONE_THREAD_PARAMS = 20_000_000

# Queueing: every handler that runs a model shares this concurrency id and limit; cheap handlers (tokenizer,
# planner, votes) have no limit, so they never wait behind generation. The limit follows the batch cap: every
# student the engine can batch is admitted at once.
MODEL_CONCURRENCY_ID = "model"
MODEL_CONCURRENCY_LIMIT = _env_int("LLM_DEMO_MODEL_CONCURRENCY", MAX_BATCH_SIZE)
# Requests waiting for a model slot beyond this get Gradio's "busy, please try again" instead of a place in line:
# 64 is two per student for a class of 30 (a chat and a compare), and position 64 still starts within a minute
# or two at the default answer lengths.
QUEUE_MAX_SIZE = _env_int("LLM_DEMO_QUEUE_MAX", 64)

# Model cache: least-recently-used models are evicted above this many megabytes of weights.
MODEL_MEMORY_BUDGET_MB = _env_int("LLM_DEMO_MODEL_MEMORY_MB", 4096)
# Hub probes give up after this many seconds, so an offline machine never hangs the UI.
HUB_TIMEOUT_S = _env_int("LLM_DEMO_HUB_TIMEOUT_S", 4)
# Typed hub ids / local directories are refused unless the deployer turns this on (off on public Spaces).
ALLOW_CUSTOM_MODELS = env_flag("LLM_DEMO_ALLOW_CUSTOM_MODELS")
# Typed Hugging Face tokenizer ids in the Tokenizer tab (tokenizer files only, never code): on when run locally,
# off by default on a Hugging Face Space (which sets SPACE_ID), where every visitor could make the server
# download and keep arbitrary repositories' files.
ALLOW_HUB_TOKENIZERS = env_flag("LLM_DEMO_ALLOW_HUB_TOKENIZERS", default=not os.environ.get("SPACE_ID"))

# Gradio's file cache (downloads such as the votes JSONL): every CACHE_CLEAN_EVERY_S seconds, files older than
# CACHE_MAX_AGE_S are deleted; a closed tab deletes its own votes file at once.
CACHE_CLEAN_EVERY_S = _env_int("LLM_DEMO_CACHE_CLEAN_EVERY_S", 600)
CACHE_MAX_AGE_S = _env_int("LLM_DEMO_CACHE_MAX_AGE_S", 3600)


def limits_markdown() -> str:
    """The per-request caps and the queue, as the Chat and Compare tabs show them."""
    return (f"Limits on this deployment: {MAX_NEW_TOKENS_CAP} new tokens, {MAX_PROMPT_TOKENS} prompt tokens, "
            f"{GENERATION_TIMEOUT_S} s per answer. Answers generated at once (batched): up to "
            f"{MODEL_CONCURRENCY_LIMIT}; when more people ask, the answer box shows your place in the queue.")

# ---------------------------------------------------------------- engines (issue 14)

# GGUF models run on llama.cpp (llama-cpp-python) when it is importable; 0 forces the transformers backend.
LLAMA_CPP = env_flag("LLM_DEMO_LLAMA_CPP", default=True)
# Threads llama.cpp computes with (0: as many as torch uses, i.e. the cores). Its threads wait for each other at
# every layer, so on a machine shared with other busy processes fewer can be faster (README, "Engines").
LLAMA_THREADS = _env_int("LLM_DEMO_LLAMA_THREADS", 0, minimum=0)
# The transformers backend's numbers (issue 23): "auto" = bf16 for SmolLM2 and hub models on CPUs that multiply
# bf16 natively (AVX512-BF16 / AMX), fp32 elsewhere and for our trio; "float32" or "bfloat16" forces one for every
# model (torch computes bf16 on any CPU, slowly without native support). The tests run both on every machine.
DTYPES = ("auto", "float32", "bfloat16")
DTYPE = os.environ.get("LLM_DEMO_DTYPE", "").strip().lower() or "auto"
if DTYPE not in DTYPES:
    raise SystemExit(f"LLM_DEMO_DTYPE={DTYPE!r}: choose one of {', '.join(DTYPES)}")
# The weight format llama.cpp serves GGUF models from (llm_demo/gguf_formats.py, issue 24): "auto" = the format
# measured fastest for a class's batches on this kind of CPU (BF16 with native bf16, else Q8_0), made from the
# shipped Q4_1 file at first start and cached in CACHE_DIR; "q4_1" serves the shipped file itself.
GGUF_FORMATS = ("auto", "q4_1", "q8_0", "f16", "bf16")
GGUF_FORMAT = os.environ.get("LLM_DEMO_GGUF_FORMAT", "").strip().lower() or "auto"
if GGUF_FORMAT not in GGUF_FORMATS:
    raise SystemExit(f"LLM_DEMO_GGUF_FORMAT={GGUF_FORMAT!r}: choose one of {', '.join(GGUF_FORMATS)}")
# Where the transformers copy of a GGUF model (dequantised once, ~15 s) and its tokenizer are kept as safetensors,
# so later starts load them in seconds, and llama.cpp's re-encoded copy (GGUF_FORMAT). Default: the user's cache
# folder.
CACHE_DIR = os.path.expanduser(os.environ.get("LLM_DEMO_CACHE_DIR", "").strip() or os.path.join(
    os.environ.get("XDG_CACHE_HOME", "").strip() or "~/.cache", "llm_lab"))


def _env_server_url(name: str) -> str:
    """An OpenAI-compatible server's base URL (e.g. http://10.0.0.5:8000/v1): http(s) only, no key inside it."""
    from urllib.parse import parse_qs, urlparse
    raw = os.environ.get(name, "").strip()
    if not raw:
        return ""
    url = urlparse(raw)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise SystemExit(f"{name} must be an http:// or https:// URL such as http://127.0.0.1:8000/v1, "
                         f"not {url.scheme + '://…' if url.scheme else 'a ' + str(len(raw)) + '-character string'}")
    keyish = {"key", "api_key", "apikey", "token", "access_token", "auth"}
    if url.username or url.password or keyish & {k.lower() for k in parse_qs(url.query)}:
        raise SystemExit(f"{name} contains a credential: put the key in LLM_DEMO_OPENAI_API_KEY instead "
                         "(a URL is shown and logged, the key never is)")
    return raw.rstrip("/")


# Remote engines: every model an OpenAI-compatible server lists at /v1/models joins the registry as remote:<id>.
OPENAI_BASE_URL = _env_server_url("LLM_DEMO_OPENAI_BASE_URL")
OPENAI_API_KEY = os.environ.get("LLM_DEMO_OPENAI_API_KEY", "").strip()   # sent as a Bearer token, never shown

# Class arena (docs/arena.md): blind votes from the whole class in one SQLite file. Off unless the deployer
# names the file (LLM_DEMO_CLASS_DB) or turns class mode on (LLM_DEMO_CLASS_MODE=1: the file is CLASS_DATA_DIR's
# class_arena.sqlite3). CLASS_DATA_DIR also holds the stage `python -m llm_demo.training dpo --from-class-db` trains
# (dpo-class/): a writable folder outside the repository, so a deployment never writes into its own assets.
CLASS_DATA_DIR = Path(os.environ.get("LLM_DEMO_CLASS_DATA_DIR", "").strip()
                      or Path(os.environ.get("XDG_DATA_HOME", "").strip() or Path.home() / ".local" / "share")
                      / "llm_lab")
CLASS_DB = (os.environ.get("LLM_DEMO_CLASS_DB", "").strip()
            or (str(CLASS_DATA_DIR / "class_arena.sqlite3") if env_flag("LLM_DEMO_CLASS_MODE") else ""))
# The teacher view (totals, export, reset) exists only when the deployer sets a token; it is compared in constant time.
TEACHER_TOKEN = os.environ.get("LLM_DEMO_TEACHER_TOKEN", "")
