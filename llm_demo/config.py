"""Deployment limits and switches, in one place: the UI shows them, the engine enforces them.

Every value can be overridden by an environment variable (named next to it) when deploying for a class.
"""
import os


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not an integer") from None


def _env_flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    return default if raw == "" else raw in ("1", "true", "yes", "on")


# Per-request caps (a generation longer than these is refused with a message, never clamped silently).
MAX_NEW_TOKENS_CAP = _env_int("LLM_DEMO_MAX_NEW_TOKENS", 512)
MAX_PROMPT_TOKENS = _env_int("LLM_DEMO_MAX_PROMPT_TOKENS", 2048)
GENERATION_TIMEOUT_S = _env_int("LLM_DEMO_GENERATION_TIMEOUT_S", 120)
MAX_TEXT_CHARS = _env_int("LLM_DEMO_MAX_TEXT_CHARS", 200_000)  # tokenizer tab input cap

# Queueing: every handler that runs a model shares this concurrency id and limit.
MODEL_CONCURRENCY_ID = "model"
MODEL_CONCURRENCY_LIMIT = _env_int("LLM_DEMO_MODEL_CONCURRENCY", 2)
QUEUE_MAX_SIZE = _env_int("LLM_DEMO_QUEUE_MAX", 64)

# Model cache: least-recently-used models are evicted above this many megabytes of weights.
MODEL_MEMORY_BUDGET_MB = _env_int("LLM_DEMO_MODEL_MEMORY_MB", 4096)
# Hub probes give up after this many seconds, so an offline machine never hangs the UI.
HUB_TIMEOUT_S = _env_int("LLM_DEMO_HUB_TIMEOUT_S", 4)
# Typed hub ids / local directories are refused unless the deployer turns this on (off on public Spaces).
ALLOW_CUSTOM_MODELS = _env_flag("LLM_DEMO_ALLOW_CUSTOM_MODELS")
