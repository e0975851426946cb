"""Our own miniature LLM pipeline: generated data -> BPE tokenizer -> pretrain (base) -> SFT -> DPO -> eval.

Run everything: `.venv/bin/python -m llm_demo.training all --out runs/tinygpt` (see `--help`). Importing is free.
"""
