"""The DPO pairs format lives in the core (llm_demo/pairs.py: Compare and the arena export it, no torch); the
training pipeline reads it from there. This name stays for `from llm_demo.training.pairs import ...`."""
from llm_demo.pairs import PAIR_KEYS, load_pairs_jsonl, pair_to_jsonl_line, parse_pairs, validate_pair  # noqa: F401
