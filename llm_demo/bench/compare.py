"""Benchmark the Compare tab: `python -m llm_demo.bench compare [--family tinygpt] [--tokens 64] [--runs 5]`.

One prompt through the family's three stages: time until all three columns show their first token, and the wall
time of the side-by-side run divided by running the three one after another (same settings, so same tokens, and
the same streaming path the tab uses).
Median over runs. Last line: first_token_all_ms=<ms> parallel_vs_sequential=<ratio>.
"""
import argparse
import statistics
import time

from llm_demo import batching, compare, models
from llm_demo.sampling import SamplingConfig

PROMPT = "Tell me a story about Tom."


def side_by_side(family: str, cfg: SamplingConfig) -> tuple[float, float, list]:
    """(seconds until every column has a token or has ended, seconds for the whole run, the final columns). A
    column can end before its first token (the base model may draw its end token first), so ended counts too."""
    t0, first = time.perf_counter(), None
    for cols in compare.stream_columns(family, PROMPT, cfg):
        if first is None and all(c.n_tokens > 0 or c.done for c in cols):
            first = time.perf_counter() - t0
    return first, time.perf_counter() - t0, cols


def one_after_another(cols, cfg: SamplingConfig) -> float:
    """Seconds to run the same columns one at a time, through the same streaming path the tab uses."""
    t0 = time.perf_counter()
    for c in cols:
        if not c.error:
            lm = models.load(c.model)
            batching.generate(lm, models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": PROMPT}]),
                              cfg)
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llm_demo.bench compare", description=__doc__)
    ap.add_argument("--family", default=models.DEFAULT_FAMILY, help="model family to compare")
    ap.add_argument("--tokens", type=int, default=64, help="max new tokens per column")
    ap.add_argument("--runs", type=int, default=9, help="timed runs (the median is reported)")
    ap.add_argument("--turn-ms", type=float, default=compare.TURN_S * 1000,
                    help="how long each column keeps the cores per turn (0: one token per turn)")
    args = ap.parse_args(argv)
    if not 0 <= args.turn_ms <= 1000:
        ap.error("--turn-ms must be 0-1000")
    compare.TURN_S = args.turn_ms / 1000
    cfg = SamplingConfig(temperature=0.7, top_k=50, top_p=0.9, max_new_tokens=args.tokens, seed=0)
    _, _, cols = side_by_side(args.family, cfg)                       # load the models, warm up
    firsts, ratios = [], []
    for i in range(args.runs):
        # Alternate which side goes first, so a drift in machine load doesn't favour one of them.
        if i % 2:
            sequential = one_after_another(cols, cfg)
            first, parallel, cols = side_by_side(args.family, cfg)
        else:
            first, parallel, cols = side_by_side(args.family, cfg)
            sequential = one_after_another(cols, cfg)
        firsts.append(first)
        ratios.append(parallel / sequential)
    print(f"family={args.family} columns={[c.slot for c in cols if not c.error]} "
          f"tokens={[c.n_tokens for c in cols]} runs={args.runs} turn_ms={args.turn_ms:g}")
    print(f"first_token_all_ms={statistics.median(firsts) * 1000:.0f} "
          f"parallel_vs_sequential={statistics.median(ratios):.2f}")
    return 0
