"""Benchmark branching and the measured temperature table:
`python -m llm_demo.bench branching [--model NAME] [--at 48] [--runs 5]`.

Time to first token of a branch (generation continued after `--at` answer tokens, engine.stream(prefix_ids=...))
against a fresh answer whose prompt holds the same tokens (prompt + that text), alternating order, median of runs
(on llama.cpp also a branch whose answer's kept KV cells are gone);
then the measured temperature table at its default size (llm_demo/temperature_study.py).
Last line: branch_ttft_ratio=<branch/fresh> table_s=<seconds> (goals: ratio within 1.10, table under 60 s).
On a shared machine add --one-thread and read the table's cpu_s (one core's work: an upper bound for 2 idle cores).
"""
import argparse
import os
import statistics
import time

import torch

from llm_demo import engine, models, temperature_study
from llm_demo.sampling import SamplingConfig

MESSAGE = "Tell me a fun fact about octopuses."


def ttft(pieces) -> float:
    t0 = time.perf_counter()
    next(pieces)
    dt = time.perf_counter() - t0
    pieces.close()
    return dt


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llm_demo.bench branching", description=__doc__)
    ap.add_argument("--model", default=models.DEFAULT_CHAT_MODEL, help="registry name of the chat model")
    ap.add_argument("--at", type=int, default=48, help="answer tokens kept before the branch continues")
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each kind (the median is reported)")
    ap.add_argument("--skip-table", action="store_true", help="only the time-to-first-token comparison")
    ap.add_argument("--one-thread", action="store_true",
                    help="run the table on one thread: its CPU seconds bound the idle 2-core time (busy machines)")
    args = ap.parse_args(argv)
    lm = models.load(args.model)
    cfg = SamplingConfig(temperature=0.7, max_new_tokens=args.at + 16, seed=0)
    prompt = models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": MESSAGE}])
    ids = [p.token_id for p in engine.stream(lm, prompt, cfg, ignore_eos=True)][:args.at]
    fresh_prompt = prompt + lm.tokenizer.decode(ids)
    n_branch = len(engine.encode_prompt(lm, prompt)) + len(ids)
    n_fresh = len(engine.encode_prompt(lm, fresh_prompt))
    branch, fresh = [], []
    for i in range(args.runs):
        order = [("b", branch), ("f", fresh)] if i % 2 == 0 else [("f", fresh), ("b", branch)]
        for kind, out in order:
            if kind == "b":
                out.append(ttft(engine.stream(lm, prompt, cfg, ignore_eos=True, prefix_ids=ids)))
            else:
                out.append(ttft(engine.stream(lm, fresh_prompt, cfg, ignore_eos=True)))
    b, f = statistics.median(branch), statistics.median(fresh)
    print(f"model={args.model} context_tokens branch={n_branch} fresh={n_fresh} ttft_ms branch={b * 1000:.0f} "
          f"fresh={f * 1000:.0f} runs={args.runs} load={os.getloadavg()[0]:.1f}")
    if hasattr(lm, "reuse"):
        # llama.cpp: the branch above starts from the KV cells the answer's slot kept (the app's case: the visitor
        # branches the answer on screen). When other streams have overwritten every kept slot, the branch replays
        # its prefix one token per llama_decode instead (llamacpp.prefill): measured here too.
        lm.reuse, replayed = (lambda *a: 0), []
        for _ in range(args.runs):
            replayed.append(ttft(engine.stream(lm, prompt, cfg, ignore_eos=True, prefix_ids=ids)))
        del lm.reuse
        r = statistics.median(replayed)
        print(f"llama.cpp branch without kept cells (all slots overwritten since): ttft_ms={r * 1000:.0f} "
              f"ratio_to_fresh={r / f:.2f}")
    table_s = float("nan")
    if not args.skip_table:
        if args.one_thread:
            torch.set_num_threads(1)
        t0, c0 = time.perf_counter(), time.process_time()
        rows = temperature_study.run(args.model)
        table_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        stopped = {}
        for r in rows:
            for why, n in r.stopped_by.items():
                stopped[why] = stopped.get(why, 0) + n
        # cpu_s with --one-thread: the CPU seconds of one core doing all the work, an upper bound of the wall time on
        # an idle 2-core machine; the number to read when other jobs share the cores (then table_s mostly measures
        # waiting, and samples may hit the per-answer time limit: see stopped_by).
        print(f"table samples={temperature_study.DEFAULT_SAMPLES} tokens={temperature_study.DEFAULT_TOKENS} "
              f"generated={sum(r.n_tokens for r in rows)} stopped_by={stopped} cpu_s={cpu_s:.1f} threads={torch.get_num_threads()} "
              f"load={os.getloadavg()[0]:.1f}")
    print(f"branch_ttft_ratio={b / f:.2f} table_s={table_s:.1f}")
    return 0
