"""Benchmarks: `python -m llm_demo.bench NAME [flags]`; one module per NAME, each printing its result last."""
