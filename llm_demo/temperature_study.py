"""The seed's temperature table, measured: N samples of one prompt at each of its temperatures (same seeds), with
diversity across samples, repetition inside each sample and the mean log-probability per token under the model.

`python -m llm_demo.temperature_study --prompt "Write one sentence about the sea." --samples 8` prints the table.
"""
import argparse
import math
import time
from dataclasses import dataclass, field

import torch

from llm_demo import chat, engine, models
from llm_demo.sampling import SamplingConfig
from llm_demo import count

TEMPERATURES = tuple(chat.SEED_TEMPERATURE_NOTES)     # the seed's table: 0, 0.3, 0.7, 1.0, 1.5
DEFAULT_SAMPLES = 8
DEFAULT_TOKENS = 40       # 8 x 5 x 40 tokens: 17.5 CPU s on one core for SmolLM2 (bench branching --one-thread)
MAX_SAMPLES, MAX_TOKENS = 16, 128
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
            for row, i in enumerate(live):
                piece = decs[i].advance(logits[row])
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
    for value, what, cap in ((samples, "Samples", MAX_SAMPLES), (max_new_tokens, "Max new tokens", MAX_TOKENS)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= cap:
            raise ValueError(f"{what} must be a whole number from 1 to {cap}, got {value!r}.")
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
                        {why: reasons.count(why) for why in dict.fromkeys(reasons)}))
    judge(rows)
    for row in rows:
        cut = sum(n for why, n in row.stopped_by.items() if why.startswith("time limit"))
        if cut:
            row.verdict += f" ({cut} of {count(samples, 'sample')} hit the time limit: these numbers cover shorter answers.)"
    return rows


def judge(rows: list[Row]) -> None:
    """One sentence per row: does the measurement support the seed's wording? (The rules are stated in each.)"""
    r = {row.temperature: row for row in rows}
    d = {t: row.distinct2 for t, row in r.items()}
    lp = {t: row.mean_logprob for t, row in r.items()}
    ppl = lambda t: math.exp(-lp[t])
    same = len(set(r[0.0].samples)) == 1
    r[0.0].verdict = (f"{'Supported' if same else 'Not supported'}: the {count(len(r[0.0].samples), 'sample')} (different "
                      f"seeds) are {'all the same text' if same else 'not all the same'}.")
    cons = d[0.3] < d[1.0] and lp[0.3] > lp[1.0]
    r[0.3].verdict = (f"{'Supported' if cons else 'Not supported'} for “conservative”: diversity {d[0.3]:.2f} vs "
                      f"{d[1.0]:.2f} at T=1, perplexity {ppl(0.3):.1f} vs {ppl(1.0):.1f}. “Factual” is not "
                      f"measured: a likely sentence is not a true one.")
    mid = lambda x, a, b: min(a, b) <= x <= max(a, b)
    bal = mid(d[0.7], d[0.3], d[1.0]) and mid(lp[0.7], lp[0.3], lp[1.0])
    r[0.7].verdict = (f"{'Supported' if bal else 'Not supported'}: diversity {d[0.7]:.2f} and perplexity "
                      f"{ppl(0.7):.1f} {'lie' if bal else 'do not both lie'} between T=0.3's and T=1's.")
    mod = mid(d[1.0], d[0.7], d[1.5])
    r[1.0].verdict = (f"{'Supported' if mod else 'Not supported'} for “moderate diversity”: {d[1.0]:.2f}, "
                      f"between T=0.7 ({d[0.7]:.2f}) and T=1.5 ({d[1.5]:.2f}){'' if mod else ' is false'}. "
                      f"“Standard”: T=1 leaves the model's scores as they are (top-k/top-p still cut the tail).")
    lost = lp[1.5] < min(lp[t] for t in lp if t != 1.5) and d[1.5] >= max(d.values())
    r[1.5].verdict = (f"{'Supported' if lost else 'Not supported'}: the most diverse ({d[1.5]:.2f}) and least "
                      f"likely under the model (perplexity {ppl(1.5):.1f} vs {ppl(1.0):.1f} at T=1)"
                      f"{'' if lost else ' is not both true'}; “creative” itself is not measured.")


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
