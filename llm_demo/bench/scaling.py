"""Server time of one Scaling-tab input change: `python -m llm_demo.bench scaling [--runs 15]`.

Times what the server does when a student changes the budget: the planner (llm_demo/scaling_planner.py)
recomputes every law's table, the four planner plots and inference-aware sizing, and the table and figures are
serialised to JSON for the browser (as Gradio's Plot and Dataframe do: Plotly's own JSON, the table split into
headers and rows).
Last line: `update_ms=<median ms>` (goal: <= 150).
"""
import argparse
import json
import statistics
import time

from llm_demo import scaling_planner


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_demo.bench scaling", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="timed input changes (the median is reported)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    def one_change(budget: str) -> None:
        out = scaling_planner.plan_views(**dict(scaling_planner.DEFAULTS, budget=budget))
        table = out["table"]
        json.dumps({"headers": list(table.columns), "data": table.values.tolist()}, default=str)
        for name in ("isoflop", "contour", "laws", "models", "inference_plot"):
            out[name].to_json()

    one_change("1e20")  # warm-up: first calls pay for lazy imports and caches
    times = []
    for i in range(args.runs):
        budget = f"{1 + i % 9}e{19 + i % 7}"  # a different budget each time, 1e19 .. 9e25
        start = time.perf_counter()
        one_change(budget)
        times.append((time.perf_counter() - start) * 1000)
    print(f"runs={args.runs} min_ms={min(times):.1f} max_ms={max(times):.1f}")
    print(f"update_ms={statistics.median(times):.1f}")
    return 0
