"""The seed's temperature table, measured: N samples of one prompt at each of its temperatures (same seeds), with
diversity across samples, repetition inside each sample and the mean log-probability per token under the model.

`python -m llm_demo.temperature_study --prompt "Write one sentence about the sea." --samples 8` prints the table.
"""
import argparse
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from llm_demo import chat, engine, models
from llm_demo.sampling import SamplingConfig
from llm_demo import count

TEMPERATURES = tuple(chat.SEED_TEMPERATURE_NOTES)     # the seed's table: 0, 0.3, 0.7, 1.0, 1.5
DEFAULT_SAMPLES = 8
DEFAULT_TOKENS = 40       # 8 x 5 x 40 tokens: 17.5 CPU s on one core for SmolLM2 (bench branching --one-thread)
MIN_SAMPLES, MAX_SAMPLES, MAX_TOKENS = 2, 16, 128   # one sample has no spread: no diversity, no noise estimate
LOOP_MARGIN = 0.05        # "no more loops": at most 5 points more repeated 4-grams than the reference, beyond the noise
N_BOOT = 400              # bootstrap resamples of the samples behind each verdict's interval
DEFAULT_PROMPT = "Tell me a short story about a lighthouse keeper."   # long answers: every sample runs to max tokens


@dataclass
class Row:
    temperature: float
    seed_says: str
    samples: list[str] = field(default_factory=list)
    distinct2: float = 0.0      # distinct bigrams / all bigrams, pooled over the samples (Li et al., NAACL 2016)
    repetition: float = 0.0     # seq-rep-4 (Welleck et al., ICLR 2020): repeated 4-grams / 4-grams, mean per sample
    mean_logprob: float = 0.0   # mean log p(token) under the model at T=1 (no filters), nats: a coherence proxy
    n_tokens: int = 0
    stopped_by: dict = field(default_factory=dict)   # finish reason -> how many samples ended that way
    verdict: str = ""
    ids: list = field(default_factory=list)          # per sample: its token ids (the bootstrap resamples these)
    logps: list = field(default_factory=list)        # per sample: each token's log p under the model


def distinct_n(samples: list[list[int]], n: int = 2) -> float:
    grams = [tuple(s[i:i + n]) for s in samples for i in range(len(s) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def seq_rep(sample: list[int], n: int = 4) -> float:
    grams = [tuple(sample[i:i + n]) for i in range(len(sample) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def _generate(lm, prompt: str, cfgs: list[SamplingConfig], progress) -> list[tuple[list[int], list[float], str]]:
    """All samples in lock-step as one batch (they share the prompt: one prefill, no padding). Per sample: the
    token ids, each token's log-probability under the raw model, and why it stopped."""
    decs = [engine.Decoder(lm, prompt, c) for c in cfgs]
    ids = decs[0].all_ids.to(lm.device)
    out = engine.forward(lm, input_ids=ids, use_cache=True, logits_to_keep=1)
    cache = out.cache
    for layer in cache.layers:                                # [1, heads, seq, dim] -> [rows, heads, seq, dim]
        layer.keys = layer.keys.expand(len(decs), -1, -1, -1).contiguous()
        layer.values = layer.values.expand(len(decs), -1, -1, -1).contiguous()
    logits = out.logits[:, -1].expand(len(decs), -1)          # [rows, vocab]
    live = list(range(len(decs)))                             # rows still generating, in cache order
    result = [([], [], "") for _ in decs]
    steps = max(c.max_new_tokens for c in cfgs)
    for step in range(steps):
        with torch.inference_mode():
            logp = torch.log_softmax(logits.float(), -1)
            keep = []
            pieces = engine.advance_all([decs[i] for i in live], logits.cpu())       # one sampling pass
            for row, (i, piece) in enumerate(zip(live, pieces)):
                if piece.finish_reason != "end of turn":
                    result[i][0].append(piece.token_id)
                    result[i][1].append(float(logp[row, piece.token_id]))
                if not piece.done:
                    keep.append(row)
                else:
                    result[i] = (*result[i][:2], piece.finish_reason)
        if progress:
            progress((step + 1) / steps, f"token {step + 1} of at most {steps}, {count(len(keep), 'sample')} still going")
        if not keep:
            break
        if len(keep) < len(live):                             # drop finished rows from the batch
            idx = torch.tensor(keep, device=lm.device)
            for layer in cache.layers:
                layer.keys, layer.values = layer.keys.index_select(0, idx), layer.values.index_select(0, idx)
            live = [live[r] for r in keep]
        inp = torch.tensor([[decs[i].last_token] for i in live], device=lm.device)     # [rows, 1]
        out = engine.forward(lm, input_ids=inp, cache=cache, use_cache=True)
        cache, logits = out.cache, out.logits[:, -1]
    return result


def run(model: str, prompt: str = DEFAULT_PROMPT, samples: int = DEFAULT_SAMPLES, max_new_tokens: int = DEFAULT_TOKENS,
        top_k: int = 50, top_p: float = 0.9, seed: int = 0, system: str = "", progress=None) -> list[Row]:
    """The table for one prompt: per temperature, `samples` answers with seeds seed..seed+samples-1."""
    for value, what, low, cap in ((samples, "Samples", MIN_SAMPLES, MAX_SAMPLES),
                                  (max_new_tokens, "Max new tokens", 1, MAX_TOKENS)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= cap:
            raise ValueError(f"{what} must be a whole number from {low} to {cap}, got {value!r}"
                             + (": with one sample per temperature there is no diversity across samples and no "
                                "noise to judge a difference against." if value == 1 and what == "Samples" else "."))
    cfgs = [SamplingConfig(t, top_k, top_p, 1.0, max_new_tokens, seed + s)
            for t in TEMPERATURES for s in range(samples)]
    lm = models.load(model, backend="transformers")   # _generate drives the torch model and its KV cache directly
    text = models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": prompt}], system)
    got = _generate(lm, text, cfgs, progress)
    rows = []
    for j, t in enumerate(TEMPERATURES):
        mine = got[j * samples:(j + 1) * samples]
        lps = [lp for _, l, _ in mine for lp in l]
        reasons = [why for _, _, why in mine]
        rows.append(Row(t, chat.SEED_TEMPERATURE_NOTES[t],
                        [lm.tokenizer.decode(ids, skip_special_tokens=True) for ids, _, _ in mine],
                        distinct_n([ids for ids, _, _ in mine]), sum(seq_rep(ids) for ids, _, _ in mine) / len(mine),
                        sum(lps) / len(lps) if lps else float("nan"), len(lps),
                        {why: reasons.count(why) for why in dict.fromkeys(reasons)},
                        ids=[ids for ids, _, _ in mine], logps=[l for _, l, _ in mine]))
    judge(rows)
    for row in rows:
        cut = sum(n for why, n in row.stopped_by.items() if why.startswith("time limit"))
        if cut:
            row.verdict += f" ({cut} of {count(samples, 'sample')} hit the time limit: these numbers cover shorter answers.)"
    return rows


MEASURES = {  # name -> statistic over a list of samples (ids, logps); every verdict compares two of them
    "distinct-2": lambda ids, lps: distinct_n(ids),
    "rep-4": lambda ids, lps: sum(seq_rep(x) for x in ids) / len(ids),
    "mean log p": lambda ids, lps: (sum(map(sum, lps)) / max(1, sum(map(len, lps)))),
}


def difference(a: Row, b: Row, measure: str, n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float, float]:
    """measure(b) - measure(a) and its 95% paired bootstrap interval: samples redrawn with replacement, the same
    sample indices (the same seeds) for both rows (Efron & Tibshirani 1993, Sec. 13). Noise from which samples
    came out, not from other prompts."""
    f, n = MEASURES[measure], len(a.ids)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        k = rng.integers(0, n, n)
        diffs.append(f([b.ids[i] for i in k], [b.logps[i] for i in k]) - f([a.ids[i] for i in k], [a.logps[i] for i in k]))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return f(b.ids, b.logps) - f(a.ids, a.logps), float(lo), float(hi)


def _call(a: Row, b: Row, measure: str, sign: int) -> tuple[str, str]:
    """("yes" | "no" | "unclear", "measure T=a → T=b: +0.12 [0.05, 0.20]"): is measure(b) - measure(a) of the sign
    the claim needs, beyond the bootstrap noise?"""
    d, lo, hi = difference(a, b, measure)
    call = "yes" if sign * lo > 0 and sign * hi > 0 else "no" if sign * lo < 0 and sign * hi < 0 else "unclear"
    return call, f"{measure} T={a.temperature:g} → T={b.temperature:g}: {d:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def _no_more_loops(a: Row, b: Row) -> tuple[str, str]:
    """Does b repeat itself no more than a? "yes" when rep-4(b) - rep-4(a) stays under LOOP_MARGIN across its whole
    interval, "no" when it is above 0 across it (b loops more), else "unclear"."""
    d, lo, hi = difference(a, b, "rep-4")
    call = "yes" if hi <= LOOP_MARGIN else "no" if lo > 0 else "unclear"
    return call, f"rep-4 T={a.temperature:g} → T={b.temperature:g}: {d:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def _verdict(calls: list[tuple[str, str]], claim: str, n: int) -> str:
    """Supported only when every test clears the noise; Not supported when one goes the wrong way beyond it."""
    word = ("Not supported" if any(c == "no" for c, _ in calls) else "Supported" if all(c == "yes" for c, _ in calls)
            else "Not resolved")
    noise = " (differences within the noise of these samples: try more)" if word == "Not resolved" else ""
    return f"{word} for {claim}{noise}: " + "; ".join(t for _, t in calls) + f" (95% bootstrap over {n} samples)."


def judge(rows: list[Row]) -> None:
    """One sentence per row: does the measurement support the seed's wording, beyond the noise of the samples?
    Each test could fail for a reason a student cares about: low temperatures falling into loops (rep-4), a
    "balanced" setting that loops or is as incoherent as T=1.5, T=1 already as diverse as it gets."""
    r = {row.temperature: row for row in rows}
    n = len(r[0.0].samples)
    same = len(set(r[0.0].samples)) == 1
    r[0.0].verdict = (f"{'Supported' if same else 'Not supported'}: the {count(n, 'sample')} (different seeds) are "
                      f"{'all the same text' if same else 'not all the same'}: T = 0 is the argmax.")
    # conservative: less diverse than T=1, and not trapped in a loop (repeats no more than T=1 does)
    r[0.3].verdict = _verdict([_call(r[1.0], r[0.3], "distinct-2", -1), _no_more_loops(r[1.0], r[0.3])],
                              "“conservative” without loops", n) + " “Factual” is not measured: a likely sentence is not a true one."
    # balanced: no more repetitive than T=1 and clearly more likely under the model than T=1.5's text
    r[0.7].verdict = _verdict([_no_more_loops(r[1.0], r[0.7]), _call(r[1.5], r[0.7], "mean log p", +1)], "“balanced” (no loops, not incoherent)", n)
    # moderate diversity: T=1.5 still adds diversity, so T=1 is not already the most diverse
    r[1.0].verdict = _verdict([_call(r[1.0], r[1.5], "distinct-2", +1)], "“moderate diversity”", n) + \
        " “Standard”: T=1 leaves the model's scores as they are (top-k/top-p still cut the tail)."
    # less coherent: less likely under the model than T=1, and more diverse
    r[1.5].verdict = _verdict([_call(r[1.0], r[1.5], "mean log p", -1), _call(r[1.0], r[1.5], "distinct-2", +1)],
                              "“may lose coherence”", n) + " “Creative” itself is not measured."


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m llm_demo.temperature_study", description=__doc__)
    ap.add_argument("--model", default=models.DEFAULT_CHAT_MODEL, help="registry name of the model")
    ap.add_argument("--prompt", default=DEFAULT_PROMPT, help="the one prompt every sample answers")
    ap.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="samples per temperature (seeds 0..N-1)")
    ap.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, help="max new tokens per sample")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = run(args.model, args.prompt, args.samples, args.tokens)
    for row in rows:
        print(f"T={row.temperature:<4g} distinct-2={row.distinct2:.3f} rep-4={row.repetition:.3f} "
              f"mean_logp={row.mean_logprob:.3f} tokens={row.n_tokens} stopped_by={row.stopped_by}  {row.verdict}")
    print(f"seconds={time.perf_counter() - t0:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
