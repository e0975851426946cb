"""Benchmark the Compare tab: `python -m llm_demo.bench compare [--family tinygpt] [--tokens 64] [--runs 5]`.

One prompt through the family's three stages: time until all three columns show their first token, and the wall
time of the side-by-side run divided by running the three one after another (same settings, so same tokens).
Median over runs. Last line: first_token_all_ms=<ms> parallel_vs_sequential=<ratio>.
"""
import argparse
import statistics
import time

from llm_demo import compare, engine, models
from llm_demo.sampling import SamplingConfig

PROMPT = "Tell me a story about Tom."


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llm_demo.bench compare", description=__doc__)
    ap.add_argument("--family", default=models.DEFAULT_FAMILY, help="model family to compare")
    ap.add_argument("--tokens", type=int, default=64, help="max new tokens per column")
    ap.add_argument("--runs", type=int, default=5, help="timed runs (the median is reported)")
    args = ap.parse_args(argv)
    cfg = SamplingConfig(temperature=0.7, top_k=50, top_p=0.9, max_new_tokens=args.tokens, seed=0)
    list(compare.stream_columns(args.family, PROMPT, cfg))                      # load the models, warm up
    firsts, ratios = [], []
    for _ in range(args.runs):
        t0, first = time.perf_counter(), None
        for cols in compare.stream_columns(args.family, PROMPT, cfg):
            if first is None and all(c.n_tokens > 0 or c.error for c in cols):
                first = time.perf_counter() - t0
        parallel = time.perf_counter() - t0
        t0 = time.perf_counter()
        for c in cols:
            if not c.error:
                lm = models.load(c.model)
                engine.generate(lm, models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": PROMPT}]),
                                cfg)
        sequential = time.perf_counter() - t0
        firsts.append(first)
        ratios.append(parallel / sequential)
    print(f"family={args.family} columns={[c.slot for c in cols if not c.error]} "
          f"tokens={[c.n_tokens for c in cols]} runs={args.runs}")
    print(f"first_token_all_ms={statistics.median(firsts) * 1000:.0f} "
          f"parallel_vs_sequential={statistics.median(ratios):.2f}")
    return 0
