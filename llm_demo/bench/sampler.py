"""Benchmark the batch sampler: `python -m llm_demo.bench sampler [--vocab 49152] [--reps 20]`.

Microseconds per token per row to sample B rows of logits (B = 1, 8, 32; SmolLM2's vocabulary of 49,152 by
default; the default settings T 0.7, top-k 50, top-p 0.9, and a repetition penalty on a quarter of the rows)
the old way (`legacy_next_token` below, one row at a time, transformers' logits processors and a reseeded
torch.Generator per token) against sampling.sample_rows (every row in one batched pass), without the sampler
view (inspect=0) and with the Chat tab's (inspect=10). Median of --reps runs, in CPU time (this process's, all
threads: on a shared machine wall time mostly measures the wait for a core) and in wall time.
Last line: us_per_row new_b32_i0=<µs> new_b32_i10=<µs> speedup_b32_i0=<old/new> speedup_b32_i10=<old/new> load=<1-min>
(CPU time). On a busy machine add --one-thread (no thread team waiting at barriers for a core).

legacy_next_token/_legacy_inspect are the sampler as it was before the batched one (commit ff25b58), kept as
this benchmark's baseline and as tests/test_sampler_batch.py's reference for the view's numbers.
"""
import argparse
import math
import os
import statistics
import time

import torch
from transformers import (RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper,
                          TopPLogitsWarper)

from llm_demo.sampling import SamplingConfig, StageView, StepInfo, sample_rows, step_seed


def legacy_next_token(logits: torch.Tensor, input_ids: torch.Tensor, cfg: SamplingConfig,
                      generator: torch.Generator | None, inspect: int = 0, force: int | None = None):
    """The previous sampling.next_token, unchanged but for `force` (when sampling, the token to report instead of
    its own draw, so a test can compare its view for the token the new sampler drew) and float() around the
    settings (transformers' processors refuse an int temperature or penalty)."""
    logits = logits.float().unsqueeze(0)                  # [1, vocab]
    stages = [("raw softmax (T=1)", logits)]
    if cfg.repetition_penalty != 1.0:
        logits = RepetitionPenaltyLogitsProcessor(float(cfg.repetition_penalty))(input_ids, logits)
        stages.append(("after repetition penalty", logits))
    if cfg.greedy:
        chosen = int(logits.argmax(-1))
        final = logits
        if inspect:
            final = torch.full_like(logits, -math.inf)
            final[0, chosen] = 0.0
        stages += [("after temperature", final), ("after top-k", final), ("after top-p", final)]
    else:
        logits = TemperatureLogitsWarper(float(cfg.temperature))(input_ids, logits - logits.max())
        stages.append(("after temperature", logits))
        if cfg.top_k > 0:
            logits = TopKLogitsWarper(int(cfg.top_k))(input_ids, logits)
        stages.append(("after top-k", logits))
        keep = torch.isfinite(logits[0]).nonzero()[:, 0]               # [n_kept] vocabulary ids
        vals = logits[:, keep]                                         # [1, n_kept]
        if cfg.top_p < 1.0:
            vals = TopPLogitsWarper(cfg.top_p)(input_ids, vals)
        final = torch.full_like(logits, -math.inf).index_copy_(1, keep, vals) if inspect else logits
        stages.append(("after top-p", final))
        live = torch.isfinite(vals[0]).nonzero()[:, 0]
        if force is None:
            pick = torch.multinomial(torch.softmax(vals[:, live], dim=-1), 1, generator=generator)
            chosen = int(keep[live[pick]])
        else:
            chosen = force
    info = StepInfo(chosen, 0.0)
    if inspect:
        _legacy_inspect(info, stages, final, inspect)
    return chosen, info


def _legacy_inspect(info: StepInfo, stages: list, final: torch.Tensor, inspect: int) -> None:
    """The previous sampling._inspect, unchanged."""
    raw = stages[0][1]
    raw_logp = torch.log_softmax(raw[0], -1)                                     # [vocab]
    cand = raw_logp.topk(min(inspect, raw_logp.numel())).indices.tolist()
    if info.token_id not in cand:
        cand.append(info.token_id)
    info.candidates = cand
    idx, top = torch.tensor(cand), cand[0]
    reduced = {id(raw): (raw[0, top] - raw_logp[top], torch.isfinite(raw[0]))}   # id(tensor) -> (log Z, finite)
    for _, lg in stages + [("final", final)]:
        if id(lg) not in reduced:
            reduced[id(lg)] = (torch.logsumexp(lg[0], -1), torch.isfinite(lg[0]))
    for name, lg in stages:
        log_z, finite = reduced[id(lg)]
        info.stages.append(StageView(name, (lg[0, idx] - log_z).exp().tolist(), int(finite.sum())))
    log_z, finite = reduced[id(final)]
    info.prob = float((final[0, info.token_id] - log_z).exp())
    info.logprobs = raw_logp[idx].tolist()
    info.entropy = _legacy_entropy(raw_logp, all_finite=bool(reduced[id(raw)][1].all()))
    info.entropy_final = _legacy_entropy(torch.log_softmax(final[0][finite], -1))


def _legacy_entropy(logp: torch.Tensor, all_finite: bool = False) -> float:
    p = logp.exp()
    if all_finite:
        return float(-torch.dot(p, logp))
    return float(-(p * torch.where(p > 0, logp, torch.zeros_like(logp))).sum())


def batch(n: int, vocab: int, seed: int = 0):
    """n rows of logits shaped like a language model's (a few strong candidates over a long tail), histories of
    200 ids, the default settings with a repetition penalty of 1.2 on every fourth row."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, vocab, generator=g) * 2.5
    hist = [torch.randint(0, vocab, (1, 200), generator=g) for _ in range(n)]
    cfgs = [SamplingConfig(seed=i, repetition_penalty=1.2 if i % 4 == 3 else 1.0) for i in range(n)]
    return logits, hist, cfgs


def old(logits, hist, cfgs, inspect: int, step: int) -> None:
    gen = torch.Generator()
    for i, cfg in enumerate(cfgs):
        gen.manual_seed(step_seed(cfg.seed, step))
        legacy_next_token(logits[i], hist[i], cfg, gen, inspect)


def new(logits, hist, cfgs, inspect: int, step: int) -> None:
    sample_rows(logits, hist, cfgs, [step] * len(cfgs), [inspect] * len(cfgs))


def timed(fn, *args) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn(*args)
    return time.process_time() - c0, time.perf_counter() - t0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llm_demo.bench sampler", description=__doc__)
    ap.add_argument("--vocab", type=int, default=49152, help="vocabulary size (SmolLM2's: 49,152)")
    ap.add_argument("--reps", type=int, default=20, help="timed runs of each case (the median is reported)")
    ap.add_argument("--one-thread", action="store_true", help="torch on one thread (a busy, shared machine)")
    args = ap.parse_args(argv)
    if args.one_thread:
        torch.set_num_threads(1)
    res, wall = {}, {}
    print(f"vocab={args.vocab} threads={torch.get_num_threads()} reps={args.reps}; µs per token per row, CPU time "
          "(wall time in brackets)")
    with torch.inference_mode():
        for n in (1, 8, 32):
            logits, hist, cfgs = batch(n, args.vocab)
            for inspect in (0, 10):
                for way, fn in (("old", old), ("new", new)):
                    fn(logits, hist, cfgs, inspect, 0)                    # warm-up
                    ts = [timed(fn, logits, hist, cfgs, inspect, s + 1) for s in range(args.reps)]
                    res[way, n, inspect] = statistics.median(c for c, _ in ts) / n * 1e6
                    wall[way, n, inspect] = statistics.median(w for _, w in ts) / n * 1e6
                o, w = res['old', n, inspect], res['new', n, inspect]
                print(f"B={n:2d} inspect={inspect:2d} old={o:.0f} ({wall['old', n, inspect]:.0f}) "
                      f"new={w:.0f} ({wall['new', n, inspect]:.0f}) speedup={o / w:.1f}")
    print(f"us_per_row new_b32_i0={res['new', 32, 0]:.0f} new_b32_i10={res['new', 32, 10]:.0f} "
          f"speedup_b32_i0={res['old', 32, 0] / res['new', 32, 0]:.1f} "
          f"speedup_b32_i10={res['old', 32, 10] / res['new', 32, 10]:.1f} load={os.getloadavg()[0]:.1f}")
    return 0
