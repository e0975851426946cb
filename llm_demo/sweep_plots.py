"""Figures and text for the Scaling tab's "Measured on this laptop" section, from assets/scaling (no Gradio here).

The numbers come from `scaling_fit.fit_all(read_sweep())`, cached in assets/scaling/fits.json by
`python -m llm_demo.training sweep --ship` (tests/test_sweep.py recomputes them from sweep.csv).
"""
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from llm_demo import scaling
from llm_demo.scaling_fit import SWEEP_CSV, read_sweep
from llm_demo.scaling_plots import _layout, _scatter, fmt_count, fmt_flops
from llm_demo import count

FITS_JSON = SWEEP_CSV.parent / "fits.json"
METADATA_JSON = SWEEP_CSV.parent / "metadata.json"
# Hoffmann et al. 2022, Table 2: N_opt ∝ C^a, D_opt ∝ C^b for their Approaches 1, 2, 3.
CHINCHILLA_TABLE_2 = {"approach1": (0.50, 0.50), "approach2": (0.49, 0.51), "approach3": (0.46, 0.54)}
APPROACH_NAMES = {"approach1": "1: lowest loss per budget", "approach2": "2: IsoFLOP parabolas",
                  "approach3": "3: parametric L(N, D)"}
COLORS = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e"]


def load_fits(path: Path = FITS_JSON) -> dict:
    return json.loads(Path(path).read_text())


def _interval(fit: dict, key: str, fmt: str = "{:.2f}") -> str:
    iv = fit["intervals"].get(key)
    return fmt.format(fit[key]) + (f" [{fmt.format(iv['lo'])}, {fmt.format(iv['hi'])}]" if iv else "")


def fits_markdown(fits: dict) -> str:
    """The exponents with their 95% intervals next to Chinchilla's, bytes per parameter, Approach 3's constants."""
    budgets = fits["budgets"]
    # the sweep's "tokens" are bytes (fits' key tokens_per_param); Chinchilla's ~20 counts BPE tokens
    head = " | ".join(f"bytes / param at {fmt_flops(c)}" for c in budgets)
    lines = [f"| approach | a (N_opt ∝ C^a) | b (D_opt ∝ C^b) | Chinchilla's a / b | {head} |",
             "|---|---|---|---|" + "---|" * len(budgets)]
    for key, name in APPROACH_NAMES.items():
        fit = fits[key]
        tpp = fit["tokens_per_param"]
        iv = fit["intervals"].get("tokens_per_param")
        cells = [f"{t:.0f}" + (f" [{lo:.0f}, {hi:.0f}]" if iv else "")
                 for t, lo, hi in zip(tpp, iv["lo"] if iv else tpp, iv["hi"] if iv else tpp)]
        a_ref, b_ref = CHINCHILLA_TABLE_2[key]
        lines.append(f"| {name} | {_interval(fit, 'a')} | {_interval(fit, 'b')} | {a_ref:.2f} / {b_ref:.2f} | "
                     + " | ".join(cells) + " |")
    three = fits["approach3"]
    n_boot = fits["approach2"]["n_boot"]
    consts = ", ".join(f"{sym} = {_interval(three, key, '{:.3g}')}" for sym, key in
                       (("E", "E"), ("A", "A"), ("B", "B"), ("α", "alpha"), ("β", "beta")))
    refused = ", ".join(f"Approach {k[-1]}: {fits[k]['refused']} of {n_boot}" for k in APPROACH_NAMES
                        if fits[k]["refused"])
    kept = n_boot - fits["approach2"]["refused"]
    lines += ["", f"**Approach 3's constants:** {consts} (L in nats per byte).", "",
              f"Brackets: 95% bootstrap intervals ({n_boot} resamples). Approaches 1 and 2: each run keeps its "
              "fitted loss plus a residual redrawn from its budget's"
              + (f"; resamples whose curve had no minimum near the sizes tried are left out ({refused}), so "
                 f"Approach 2's interval is conditional on a minimum: it describes the {kept} of {n_boot} "
                 "resamples that had one, and the true uncertainty is wider" if refused else "")
              + ". Approach 3: the runs themselves resampled with replacement and refitted (a residual bootstrap "
              "would be too narrow: its Huber fit passes almost exactly through a third of the runs). "
              f"{fits['runs']} runs at {len(budgets)} budgets, N from {fmt_count(fits['n_range'][0])} to "
              f"{fmt_count(fits['n_range'][1])} parameters; Chinchilla's a and b are their Table 2."]
    return "\n".join(lines)


def per_param_markdown(fits: dict, bytes_per_token: float) -> str:
    """The optimum in bytes per parameter with each approach's 95% interval at the largest budget, converted to
    Chinchilla's unit (BPE tokens of the trio's tokenizer), and what these data can and cannot tell."""
    top = fits["budgets"][-1]
    tpp = [t for key in APPROACH_NAMES for t in fits[key]["tokens_per_param"]]
    cells = []
    for key in APPROACH_NAMES:
        fit = fits[key]
        iv = fit["intervals"]["tokens_per_param"]
        cells.append(f"Approach {key[-1]} {fit['tokens_per_param'][-1]:.0f} [{iv['lo'][-1]:.0f}, {iv['hi'][-1]:.0f}]"
                     f" bytes ≈ {fit['tokens_per_param'][-1] / bytes_per_token:.0f} "
                     f"[{iv['lo'][-1] / bytes_per_token:.0f}, {iv['hi'][-1] / bytes_per_token:.0f}] tokens")
    lows = [fits[k]["intervals"]["tokens_per_param"]["lo"][-1] / bytes_per_token for k in APPROACH_NAMES]
    highs = [fits[k]["intervals"]["tokens_per_param"]["hi"][-1] / bytes_per_token for k in APPROACH_NAMES]
    excludes = [f"Approach {k[-1]}" for k, lo in zip(APPROACH_NAMES, lows) if lo > 20]
    return (f"**Bytes per parameter, not tokens.** This sweep counts bytes; Chinchilla's ~20 counts BPE tokens, and "
            f"the trio's 4,096-token BPE packs {bytes_per_token:.2f} bytes of this prose into a token. The point "
            f"estimates span {min(tpp):.0f}–{max(tpp):.0f} bytes per parameter "
            f"(≈ {min(tpp) / bytes_per_token:.0f}–{max(tpp) / bytes_per_token:.0f} token-equivalents); at "
            f"{fmt_flops(top)}, with 95% intervals: " + "; ".join(cells) + ". "
            + (f"In tokens, {', '.join(excludes)} exclude{'s' if len(excludes) == 1 else ''} 20; the others do "
               "not. " if excludes else "No approach's interval excludes 20 tokens per parameter. ")
            + f"*What the data can tell:* the point estimates, {min(tpp) / bytes_per_token:.0f} tokens per parameter "
            f"and up, {'all lie above' if min(tpp) / bytes_per_token > 20 else 'do not all lie above'} Chinchilla's "
            f"20, and the intervals at {fmt_flops(top)} together run from {min(lows):.0f} to {max(highs):.0f} "
            "tokens: these data lean toward more data per parameter at these sizes without ruling 20 out. "
            "*What they cannot:* whether "
            "small models win because they take more steps: every run here used the same batch (steps = tokens / "
            "(batch × context), the same for all), so steps and tokens rise together and no comparison in this sweep can tell them apart.")


def honest_markdown(fits: dict) -> str:
    """Why a 2-core miniature differs from the paper, with this sweep's own numbers."""
    lo, hi = fits["budgets"][0], fits["budgets"][-1]
    return (f"**Why this miniature differs from the paper.** *Range:* Chinchilla's runs span 70M–16B parameters "
            f"and about 6e18–3e21 FLOPs; ours span {fmt_count(fits['n_range'][0])}–{fmt_count(fits['n_range'][1])} "
            f"parameters and {fmt_flops(lo)}–{fmt_flops(hi)} FLOPs, {len(fits['budgets'])} budgets, "
            "one seed per run, "
            "so each exponent rests on a few noisy points and its interval is wide. *Steps:* at these budgets a "
            "bigger model gets only a few hundred optimizer steps; whether that, rather than the tokens, is why "
            "small models win here is untested (see bytes per parameter above). *Embeddings:* N counts every "
            "parameter, as the paper did (Kaplan et al. 2020 left embeddings out; Pearce & Song 2024 showed that "
            "choice alone moves small-scale exponents); here the byte and position tables are a large share of N. "
            "*Data:* no byte is repeated (the generator writes fresh prose), but it is simple templated English about "
            "24 animals, far easier than the paper's MassiveText. *Tokens:* bytes, not the trio's 4,096-token BPE: "
            "with it the embedding table was most of every model we could afford, and the smallest model tried won "
            "at every budget (see docs/tabs.md). Read these exponents as this world's, measured honestly, not as a "
            "check of the paper's.")


def run_markdown(meta_path: Path = METADATA_JSON) -> str:
    """Where the numbers come from: the command, the machine, how long it took."""
    meta = json.loads(Path(meta_path).read_text())
    p = meta["preset"]
    return (f"Measured by `python -m llm_demo.training sweep --threads 1` (seed {meta['seed']}): "
            f"{len(meta['runs'])} GPT-2-shaped models (widths {min(s[0] for s in p['ladder'])}–"
            f"{max(s[0] for s in p['ladder'])}, 1–{max(s[1] for s in p['ladder'])} layers, context {p['context']}, "
            f"{p['batch_size']} sequences per step), each trained once on fresh bytes of the trio's generated prose, "
            f"scored on the same {meta['data']['heldout_tokens']:,} held-out bytes. "
            f"{meta['wall_seconds_runs'] / 60:.0f} minutes of training in all on "
            f"{count(meta['machine']['torch_threads'], 'thread')} of a shared {meta['machine']['cpu_count']}-core machine "
            f"(torch {meta['versions']['torch']}); every run's config and time are in `assets/scaling/metadata.json`.")


def isoflop_measured_figure(runs: np.ndarray, fits: dict) -> go.Figure:
    """Measured final loss against N at each budget, with Approach 2's parabola and its minimum."""
    traces = []
    two = fits["approach2"]
    for i, (c, (p0, p1, p2), n_opt) in enumerate(zip(two["budgets"], two["parabolas"], two["n_opt"])):
        rows = runs[runs[:, 0] == c]
        color = COLORS[i % len(COLORS)]
        x = np.log(np.logspace(np.log10(rows[:, 1].min()) - 0.1, np.log10(rows[:, 1].max()) + 0.1, 60))
        traces += [
            _scatter(rows[:, 1], rows[:, 3], f"C = {fmt_flops(c)}", mode="markers", legendgroup=str(c),
                     marker=dict(size=9, color=color),
                     hovertemplate="N = %{x:.3s}<br>loss = %{y:.4f}<extra>C = " + fmt_flops(c) + "</extra>"),
            _scatter(np.exp(x), p0 + p1 * x + p2 * x ** 2, legendgroup=str(c), showlegend=False,
                     line=dict(color=color, dash="dot"), hoverinfo="skip"),
            _scatter([n_opt], [p0 + p1 * np.log(n_opt) + p2 * np.log(n_opt) ** 2], legendgroup=str(c),
                     mode="markers", showlegend=False, marker=dict(symbol="star", size=15, color=color,
                                                                    line=dict(color="black", width=1)),
                     hovertemplate=f"parabola minimum: N = {fmt_count(n_opt)}<extra>C = {fmt_flops(c)}</extra>")]
    return go.Figure(traces, _layout("Measured IsoFLOP curves (dots: runs; stars: parabola minima)",
                                     "parameters N", "held-out loss (nats per byte)", y_log=False))


def optimum_figure(fits: dict) -> go.Figure:
    """N_opt(C): the three approaches' optima and fitted lines, Approach 2's 95% band, Chinchilla's Approach 2."""
    budgets = np.array(fits["budgets"])
    c = np.logspace(np.log10(budgets.min()) - 0.3, np.log10(budgets.max()) + 0.3, 30)
    traces = []
    for key, color in zip(APPROACH_NAMES, COLORS):
        fit = fits[key]
        line = fit["k_n"] * c ** fit["a"] if key != "approach3" else fit["G"] * (c / 6) ** fit["a"]
        traces += [_scatter(c, line, f"Approach {APPROACH_NAMES[key]} (a = {fit['a']:.2f})", legendgroup=key,
                            line=dict(color=color)),
                   _scatter(fit["budgets"], fit["n_opt"], legendgroup=key, mode="markers", showlegend=False,
                            marker=dict(color=color, size=9))]
    two = fits["approach2"]
    iv = two["intervals"]["a"]
    pivot = np.exp(np.mean(np.log(budgets)))  # the band pivots where the data sit
    n_pivot = two["k_n"] * pivot ** two["a"]
    lo, hi = (n_pivot * (c / pivot) ** iv[k] for k in ("lo", "hi"))
    traces += [_scatter(np.r_[c, c[::-1]], np.r_[np.minimum(lo, hi), np.maximum(lo, hi)[::-1]],
                        "Approach 2: 95% interval of a", fill="toself", line=dict(width=0),
                        fillcolor="rgba(44,160,44,0.15)", hoverinfo="skip")]
    chin = scaling.LAWS["chinchilla-2"]
    traces.append(_scatter(c, chin.k * c ** chin.b, f"Chinchilla Approach 2 (a = {chin.b:.2f}), extrapolated down",
                           line=dict(color="black", dash="dash")))
    return go.Figure(traces, _layout("Compute-optimal N measured here vs Chinchilla", "compute C (FLOPs)",
                                     "parameters N", legend=dict(orientation="h", y=-0.25, font=dict(size=10))))


def measured_section(bytes_per_token: float) -> dict:
    """Everything the section shows: {fits_md, run_md, honest_md, isoflop, optimum} (FileNotFoundError: no sweep).
    bytes_per_token: the trio's BPE on the sweep's prose (training.sweep.bytes_per_bpe_token, measured by the caller:
    the core does not import the training pipeline)."""
    fits = load_fits()
    return dict(fits_md=fits_markdown(fits), run_md=run_markdown(),
                honest_md=per_param_markdown(fits, bytes_per_token) + "\n\n" + honest_markdown(fits),
                isoflop=isoflop_measured_figure(read_sweep(), fits), optimum=optimum_figure(fits))
