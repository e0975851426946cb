"""LLM Lab: an interactive lab that teaches how large language models work.

Importing the package is free: models, tokenizers and Gradio load only when a module asks for them.
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
