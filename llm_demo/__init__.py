"""LLM Lab: an interactive lab that teaches how large language models work.

Importing the package is free: models, tokenizers and Gradio load only when a module asks for them.
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
TINYGPT_DIR = ASSETS / "models" / "tinygpt"     # our shipped trio (base/, sft/, dpo/), the one place it is named
TRAIN_ALL = "python -m llm_demo.training all"  # the command that builds the trio


def not_built(what: str) -> str:
    """The one sentence for a shipped model (or its tokenizer) that is missing: what to run."""
    return f"{what} is not built yet: run `{TRAIN_ALL}`"


def count(n: int, noun: str) -> str:
    """'1 token', '2 tokens', '0 tokens': a number with its noun, for every sentence the app shows."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
