"""Server time of one Scaling-tab input change: `python -m llm_demo.bench scaling [--runs 15]`.

Times what the server does when a student changes the budget: the handler recomputes every law's table, the four
planner plots and inference-aware sizing, and Gradio serialises the table and figures for the browser.
Last line: `update_ms=<median ms>` (goal: <= 150).
"""
import argparse
import statistics
import time


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_demo.bench scaling", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="timed input changes (the median is reported)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    import gradio as gr

    from llm_demo.ui.scaling_tab import PLAN_DEFAULTS, update_plan

    plot, table = gr.Plot(), gr.Dataframe()
    markdown = gr.Markdown()

    def one_change(budget: str) -> None:
        out = update_plan(**dict(PLAN_DEFAULTS, budget=budget))
        markdown.postprocess(out["summary"]), markdown.postprocess(out["inference_md"]), table.postprocess(out["table"])
        for name in ("isoflop", "contour", "laws", "models", "inference_plot"):
            plot.postprocess(out[name])

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
