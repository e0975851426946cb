"""Plotly figures, the plan table and the well-known models for the Scaling tab; the math is in scaling.py.

No Gradio here: each builder takes numbers and returns a plotly Figure (or a DataFrame), so tests and the
benchmark can call them directly.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import get_colorscale

from llm_demo import ROOT, count, scaling
from llm_demo import TINYGPT_DIR as TRIO_DIR

TINYGPT_DIR = TRIO_DIR / "base"        # the trio's pretrained model: its N and tokens seen

# (family, size, parameters, training tokens, source). Nominal sizes unless the source lists exact ones. Each
# source names where the number is printed: a paper's table, or the model card where the paper gives no table.
KNOWN_MODELS = [
    ("GPT-3", "175B", 175e9, 300e9, "Brown et al. 2020, Language Models are Few-Shot Learners, Table D.1"),
    ("Gopher", "280B", 280e9, 300e9, "Hoffmann et al. 2022, Table 1 (Rae et al. 2021's Table 1 gives only its "
     "architecture)"),
    ("Chinchilla", "70B", 70e9, 1.4e12, "Hoffmann et al. 2022, Table 1"),
    ("LLaMA", "7B", 6.7e9, 1.0e12, "Touvron et al. 2023a, LLaMA, Table 2"),
    ("LLaMA", "13B", 13.0e9, 1.0e12, "Touvron et al. 2023a, Table 2"),
    ("LLaMA", "33B", 32.5e9, 1.4e12, "Touvron et al. 2023a, Table 2"),
    ("LLaMA", "65B", 65.2e9, 1.4e12, "Touvron et al. 2023a, Table 2"),
    ("Llama 2", "7B", 7e9, 2e12, "Touvron et al. 2023b, Llama 2, Table 1"),
    ("Llama 2", "13B", 13e9, 2e12, "Touvron et al. 2023b, Table 1"),
    ("Llama 2", "70B", 70e9, 2e12, "Touvron et al. 2023b, Table 1"),
    ("Llama 3", "8B", 8e9, 15e12, "Meta 2024, Meta-Llama-3-8B model card, Training Data table: 15T+ tokens"),
    ("Llama 3", "70B", 70e9, 15e12, "Meta 2024, Meta-Llama-3-70B model card, Training Data table: 15T+ tokens"),
    ("SmolLM2", "135M", 135e6, 2e12, "HuggingFaceTB/SmolLM2-135M model card, Model Summary: 2 trillion tokens"),
    ("SmolLM2", "360M", 360e6, 4e12, "HuggingFaceTB/SmolLM2-360M model card, Model Summary: 4 trillion tokens"),
    ("SmolLM2", "1.7B", 1.7e9, 11e12, "Allal et al. 2025, SmolLM2: When Smol Goes Big, abstract: ~11 trillion "
     "tokens (and the SmolLM2-1.7B model card)"),
    ("OLMo 2", "7B", 7e9, 4e12, "allenai/OLMo-2-1124-7B model card, size table: 4 trillion training tokens"),
    ("OLMo 2", "13B", 13e9, 5e12, "allenai/OLMo-2-1124-13B model card, size table: 5 trillion training tokens"),
]

LAW_COLORS = {"chinchilla-1": "#1f77b4", "chinchilla-2": "#17becf", "chinchilla-3": "#d62728",
              "epoch-2024": "#9467bd", "tokens-20": "#7f7f7f", "kaplan-2020": "#ff7f0e", "tinygpt-measured": "#2ca02c"}
# A light hand-made look instead of a plotly template: templates cost ~7 ms per figure, this costs nothing.
_AXIS = dict(gridcolor="#e5e5e5", zeroline=False, showline=True, linecolor="#999", exponentformat="power")
_LOG = dict(type="log", dtick=1)  # one tick per decade, no 2-and-5 minor labels


def _layout(title: str, x_title: str, y_title: str, x_log=True, y_log=True, **extra) -> dict:
    return dict(dict(title=dict(text=title, x=0.02, font=dict(size=15)), height=420, plot_bgcolor="white",
                     margin=dict(l=60, r=20, t=45, b=50), legend=dict(font=dict(size=11)), hovermode="closest",
                     xaxis=dict(_AXIS, title=dict(text=x_title), **_LOG if x_log else {}),
                     yaxis=dict(_AXIS, title=dict(text=y_title), **_LOG if y_log else {})), **extra)


# plotly checks every property of a figure as it builds it: two thirds of a planner update (measured: 45 ms of
# ~50 per update; 16 -> 5 ms for the IsoFLOP and contour figures). The figures here are written as plotly stores
# them (axis titles as dicts, colour scales as lists), so skipping the check changes nothing; test_scaling_plots builds each one both ways
# and compares their JSON, so a misspelt property still fails there.
VALIDATE = False


def figure(traces: list, layout: dict) -> go.Figure:
    return go.Figure(traces, layout, _validate=VALIDATE)


# ---------------------------------------------------------------- number formatting
fmt_flops = scaling.sci  # 3.5e23, not 3.5e+23


def fmt_count(x: float) -> str:
    """1.23e9 -> '1.23B' (parameters and tokens)."""
    if x >= 1e15:
        return fmt_flops(x)
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= size:
            return f"{x / size:.3g}{unit}"
    return f"{x:.3g}"


def fmt_hours(h: float) -> str:
    if h < 1:
        return f"{h * 60:.3g} min"
    if h < 48:
        return f"{h:.3g} h"
    if h < 24 * 730:
        return f"{h / 24:.3g} days"
    return f"{fmt_flops(h / 24 / 365)} years"


def fmt_money(x: float | None) -> str:
    if x is None:
        return "—"
    return f"${x:,.0f}" if x < 1e6 else f"${x / 1e6:.3g}M" if x < 1e9 else f"${x / 1e9:.3g}B" if x < 1e12 \
        else f"${fmt_flops(x)}"


# ---------------------------------------------------------------- the plan table
# One short word per header: at 820 px the table has ~700 px for nine columns (the tab's label spells them out).
PLAN_COLUMN_WIDTHS = ["15%", "9%", "9%", "7%", "8%", "8%", "9%", "10%", "25%"]


def plan_table(rows) -> pd.DataFrame:
    return pd.DataFrame([{
        "law": r.law,
        "N": fmt_count(r.n_params),
        "D": fmt_count(r.n_tokens),
        "D/N": f"{r.n_tokens / r.n_params:.1f}",
        "C": fmt_flops(r.compute),
        "loss": "—" if r.loss is None else f"{r.loss:.3f}",
        "time": fmt_hours(r.hours),
        "cost": fmt_money(r.cost),
        "source": scaling.LAWS[r.law].citation + (f" ({scaling.LAWS[r.law].note})" if scaling.LAWS[r.law].note else ""),
    } for r in rows])


def budget_markdown(rows, hardware: scaling.Hardware, law_name: str, refused: list[str] = ()) -> str:
    """What the budget means in GPUs and time, and what rounding Chinchilla's constants would do to it;
    `refused`: sentences of the laws left out of the table (scaling.refusals)."""
    mine = next(r for r in rows if r.law == law_name)
    c = mine.compute
    gpus = f"{hardware.n_gpus}× {hardware.gpu} ({hardware.peak_tflops:g} TFLOP/s peak) at {hardware.mfu:.0%} MFU"
    per_law = "" if all(r.compute == c for r in rows) else f" ({law_name}; each law needs its own budget for this N)"
    cost = f", {fmt_money(mine.cost)}" if mine.cost is not None else ""
    lines = [f"**Budget: {fmt_flops(c)} FLOPs**{per_law} = {fmt_hours(mine.hours)} on {gpus}, "
             f"{count(round(mine.hours * hardware.n_gpus), 'GPU-hour')}{cost}."]
    n_u, d_u = scaling.CHINCHILLA_3.optimum(c)
    rounded = scaling.CHINCHILLA_3_ROUNDED
    n_r, d_r = rounded.optimum(c)
    lines.append(
        f"**Rounded vs unrounded (chinchilla-3).** With the constants as printed in the paper (E = {rounded.E:g}, "
        f"A = {rounded.A:g}, B = {rounded.B:g}, α = {rounded.alpha:g}, β = {rounded.beta:g}) the optimum here "
        f"would be N = {fmt_count(n_r)}, D = {fmt_count(d_r)}; "
        f"with the unrounded ones from the paper's source it is N = {fmt_count(n_u)}, D = {fmt_count(d_u)} "
        f"(N {n_r / n_u - 1:+.0%}, D {d_r / d_u - 1:+.0%}). The optimum raises C to the power β/(α+β), and "
        f"rounding moves that exponent from {scaling.CHINCHILLA_3.b:.4f} to {rounded.b:.4f}: "
        "a small change in an exponent becomes a large one at 10^20 and beyond. The planner uses the unrounded set.")
    if not 1e18 <= c <= 5e22:  # 6·N·D at the fitted runs' extremes
        lines.append("*Extrapolation:* Chinchilla's laws were fitted on 400+ runs of 70M–16B parameters on "
                     "5–500B tokens (Hoffmann et al. 2022, abstract); this budget lies outside that range.")
    lines += [f"*Not in the table:* {why}" for why in refused]
    return "\n\n".join(lines)


def _ratio(x: float) -> str:
    """Tokens per parameter: a plain number while it reads as one, else scientific (not 60457660100961080)."""
    return f"{x:,.0f}" if x < 1e5 else f"{x:.2e}"


def inference_markdown(law_name: str, ip: scaling.InferencePlan) -> str:
    chin = ip.total(ip.n_chinchilla, ip.d_chinchilla)
    if ip.n_opt == ip.n_chinchilla:
        return (f"With {fmt_count(ip.inference_tokens)} inference tokens the Chinchilla-optimal model "
                f"(N = {fmt_count(ip.n_chinchilla)}) is already the cheapest over its life ({fmt_flops(chin)} FLOPs).")
    return (f"Target loss {ip.loss:.3f} ({law_name}), {fmt_count(ip.inference_tokens)} tokens served over the "
            f"model's life.\n\n"
            f"| | N | training tokens | tokens / param | lifetime FLOPs |\n|---|---|---|---|---|\n"
            f"| Chinchilla-optimal | {fmt_count(ip.n_chinchilla)} | {fmt_count(ip.d_chinchilla)} | "
            f"{_ratio(ip.d_chinchilla / ip.n_chinchilla)} | {fmt_flops(chin)} |\n"
            f"| inference-aware | {fmt_count(ip.n_opt)} | {fmt_count(ip.d_opt)} | {_ratio(ip.d_opt / ip.n_opt)} | "
            f"{fmt_flops(ip.total(ip.n_opt, ip.d_opt))} |\n\n"
            f"**A {ip.n_chinchilla / ip.n_opt:.1f}× smaller model trained {ip.d_opt / ip.d_chinchilla:.1f}× longer "
            f"reaches the same loss and saves {ip.saved_fraction:.0%} of the lifetime compute.**")


def params_markdown(vocab_size, d_model, n_layers, n_heads, context_length, tied: bool) -> tuple[str, int]:
    """The architecture calculator's answer: a part-by-part table, FLOPs per token, and the total N."""
    parts = scaling.param_breakdown(vocab_size, d_model, n_layers, context_length, tied, n_heads=n_heads)
    total = sum(parts.values())
    flops = scaling.flops_per_token(vocab_size, d_model, n_layers, context_length, tied)
    rows = "\n".join(f"| {name} | {count:,} |" for name, count in parts.items())
    text = (f"| part | parameters |\n|---|---:|\n{rows}\n| **total** | **{total:,}** ({fmt_count(total)}) |\n\n"
            f"Training FLOPs per token: **{fmt_flops(flops['6N'])}** by the planner's 6·N; "
            f"{fmt_flops(flops['kaplan'])} counting attention scores and logits as Kaplan et al. 2020 (Table 1) do.")
    return text, total


# ---------------------------------------------------------------- planner figures
def _budgets_around(c: float) -> list[float]:
    """Five budgets a decade apart, centred on the user's."""
    return [c * 10.0 ** k for k in (-2, -1, 0, 1, 2)]


def _scatter(x, y, name: str = "", mode: str = "lines", **kw) -> dict:
    """A trace as a plain dict: one go.Figure(data=[...]) over dicts builds ~3x faster than add_trace()."""
    return dict(type="scatter", x=x, y=y, name=name, mode=mode, **kw)


def isoflop_figure(law_name: str, c: float) -> go.Figure:
    law = scaling.get_law(law_name, parametric=True)
    traces = []
    for budget in _budgets_around(c):
        n_opt, d_opt = law.optimum(budget)
        n = n_opt * np.logspace(-1.5, 1.5, 61)
        mine = budget == c
        traces.append(_scatter(n, law.loss(n, budget / (6 * n)), f"C = {fmt_flops(budget)}",
                               line=dict(width=4 if mine else 2), legendgroup=str(budget)))
        traces.append(_scatter([n_opt], [law.loss(n_opt, d_opt)], mode="markers", showlegend=False,
                               marker=dict(symbol="star", size=14 if mine else 10, color="black"),
                               legendgroup=str(budget), hovertemplate=f"optimum: N = {fmt_count(n_opt)}, "
                               f"D = {fmt_count(d_opt)}<extra>C = {fmt_flops(budget)}</extra>"))
    return figure(traces, _layout(f"IsoFLOP curves ({law_name})", "parameters N", "predicted loss", y_log=False))


def contour_figure(law_name: str, c: float) -> go.Figure:
    """Loss over (N, D) on log axes: the compute-optimal frontier and lines of equal compute."""
    law = scaling.get_law(law_name, parametric=True)
    n_c, d_c = law.optimum(c)
    n = n_c * np.logspace(-2.5, 2.5, 70)
    d = d_c * np.logspace(-2.5, 2.5, 70)
    loss = law.loss(n[None, :], d[:, None])  # shape (len(d), len(n)): rows are y, columns x
    frontier_n, frontier_d = law.optimum(np.logspace(np.log10(c) - 4, np.log10(c) + 4, 41))
    traces = [
        dict(type="contour", x=n, y=d, z=loss, colorscale=get_colorscale("Viridis"), reversescale=True, ncontours=25,
             colorbar=dict(title=dict(text="loss"), len=0.9), contours=dict(showlabels=True),
             hovertemplate="N = %{x:.3s}<br>D = %{y:.3s}<br>loss = %{z:.3f}<extra></extra>"),
        _scatter(frontier_n, frontier_d, "compute-optimal frontier", line=dict(color="white", width=3)),
        *(_scatter(n, budget / (6 * n), "equal compute (6ND = C)", showlegend=budget == c,
                   line=dict(color="black", dash="dot", width=1),
                   hovertemplate=f"C = {fmt_flops(budget)}<extra></extra>")
          for budget in _budgets_around(c)),
        _scatter([n_c], [d_c], "your optimum", mode="markers",
                 marker=dict(symbol="star", size=16, color="red", line=dict(color="white", width=1))),
    ]
    layout = _layout(f"Predicted loss over (N, D) ({law_name})", "parameters N", "tokens D",
                     legend=dict(orientation="h", y=-0.2))
    layout["xaxis"]["range"], layout["yaxis"]["range"] = np.log10([n[0], n[-1]]), np.log10([d[0], d[-1]])
    return figure(traces, layout)


def laws_figure(rows) -> go.Figure:
    """N_opt(C) and D_opt(C) for every law, side by side, with the paper's Table 3 and the user's plan."""
    lo = min(r.compute for r in rows) / 1e3
    hi = max(r.compute for r in rows) * 1e3
    budgets = np.logspace(np.log10(min(lo, 1e18)), np.log10(max(hi, 3e28)), 50)  # Table 3 reaches 1.3e28
    right = dict(xaxis="x2", yaxis="y2", showlegend=False)
    traces = []
    for name, law in scaling.LAWS.items():
        if isinstance(law, scaling.MeasuredLaw):  # drawn only where it answers
            budgets_law = np.logspace(np.log10(law.c_lo / law.reach), np.log10(law.c_hi * law.reach), 9)
        else:
            budgets_law = budgets
        n, d = law.optimum(budgets_law)
        style = dict(legendgroup=name, line=dict(color=LAW_COLORS[name]))
        traces += [_scatter(budgets_law, n, name, **style), _scatter(budgets_law, d, name, **style, **right)]
    table = scaling.CHINCHILLA_TABLE_3
    cross = dict(mode="markers", marker=dict(color="black", symbol="x", size=7), legendgroup="t3")
    traces += [_scatter([t[1] for t in table], [t[0] for t in table], "Chinchilla Table 3", **cross),
               _scatter([t[1] for t in table], [t[2] for t in table], **cross, **right)]
    star = dict(mode="markers", legendgroup="plan", marker=dict(symbol="star", size=12, color="red"),
                text=[r.law for r in rows])
    traces += [_scatter([r.compute for r in rows], [r.n_params for r in rows], "your plan", **star),
               _scatter([r.compute for r in rows], [r.n_tokens for r in rows], **star, **right)]
    layout = _layout("Compute-optimal N (left) and D (right) vs budget", "compute C (FLOPs)", "parameters N",
                     legend=dict(orientation="h", y=-0.25, font=dict(size=10)),
                     xaxis2=dict(_AXIS, **_LOG, title=dict(text="compute C (FLOPs)"), domain=[0.56, 1], anchor="y2"),
                     yaxis2=dict(_AXIS, **_LOG, title=dict(text="tokens D"), anchor="x2"))
    layout["xaxis"].update(domain=[0, 0.44], dtick=3)  # ten decades of C: label every third
    layout["xaxis2"]["dtick"] = 3
    return figure(traces, layout)


def models_figure(plan_point: tuple[str, float, float], tinygpt: "ModelPoint") -> go.Figure:
    """Well-known models on the (N, D) plane against Chinchilla's 20 tokens per parameter."""
    label, n, d = plan_point
    shown = tinygpt.n_params is not None and tinygpt.tokens is not None
    xs = [m[2] for m in KNOWN_MODELS] + [n] + ([tinygpt.n_params] if shown else [])
    n_line = np.array([min(xs) / 3, max(xs) * 3])
    traces = [_scatter(n_line, 20 * n_line, "D = 20·N", line=dict(color="gray", dash="dash"))]
    for family in dict.fromkeys(m[0] for m in KNOWN_MODELS):
        models = [m for m in KNOWN_MODELS if m[0] == family]
        traces.append(_scatter(
            [m[2] for m in models], [m[3] for m in models], family, mode="markers",
            text=[f"{m[0]} {m[1]}" for m in models], marker=dict(size=10, line=dict(color="white", width=1)),
            customdata=[[f"{m[3] / m[2]:.0f}", m[4]] for m in models],
            hovertemplate="%{text}: N = %{x:.3s}, D = %{y:.3s}, %{customdata[0]} tokens/param<br>"
                          "%{customdata[1]}<extra></extra>"))
    traces.append(_scatter([n], [d], label, mode="markers", marker=dict(symbol="star", size=16, color="red")))
    layout = _layout("Well-known models vs the 20:1 line", "parameters N", "training tokens D",
                     legend=dict(font=dict(size=10)))
    if shown:
        traces.append(_scatter([tinygpt.n_params], [tinygpt.tokens], "our tinygpt", mode="markers+text",
                               text=["tinygpt"], textposition="top center", hovertext=tinygpt.note,
                               marker=dict(symbol="diamond", size=12, color="green")))
    else:
        layout["annotations"] = [dict(text=f"tinygpt not shown: {tinygpt.note}", xref="paper", yref="paper", x=0.01,
                                      y=0.99, showarrow=False, align="left", font=dict(size=11, color="#a00"))]
    return figure(traces, layout)


def inference_figure(law_name: str, ip: scaling.InferencePlan) -> go.Figure:
    """Lifetime FLOPs (train + serve) of every model size that reaches the same loss, relative to Chinchilla's."""
    law = scaling.get_law(law_name, parametric=True)
    n_min = (law.A / (ip.loss - law.E)) ** (1 / law.alpha)
    n = np.logspace(np.log10(max(n_min * 1.01, ip.n_opt / 30)), np.log10(ip.n_chinchilla * 5), 80)
    d = law.tokens_for_loss(n, ip.loss)
    unit = ip.total(ip.n_chinchilla, ip.d_chinchilla)
    traces = [_scatter(n, 6 * n * d / unit, "training 6·N·D"),
              _scatter(n, 2 * n * ip.inference_tokens / unit, "inference 2·N·D_inf"),
              _scatter(n, ip.total(n, d) / unit, "total", line=dict(width=4, color="black"))]
    for label, nn, dd, color in (("Chinchilla-optimal", ip.n_chinchilla, ip.d_chinchilla, "#d62728"),
                                 ("inference-aware", ip.n_opt, ip.d_opt, "#2ca02c")):
        traces.append(_scatter([nn], [ip.total(nn, dd) / unit], label, mode="markers",
                               marker=dict(symbol="star", size=15, color=color)))
    layout = _layout(f"Same loss ({ip.loss:.3f}), different lifetime cost", "parameters N",
                     "lifetime FLOPs (Chinchilla-optimal = 1)", y_log=False)
    layout["yaxis"]["range"] = [0, 2.5]
    return figure(traces, layout)


def emergence_figure(k: int) -> go.Figure:
    n = np.logspace(7, 12, 120)
    p = scaling.per_token_accuracy(n)
    traces = [_scatter(n, p, "per-token accuracy (continuous metric)", line=dict(width=3, color="#1f77b4")),
              _scatter(n, p ** k, f"exact match of a {k}-token answer ≈ p^{k}", line=dict(width=3, color="#d62728"))]
    layout = _layout("One smooth skill, two metrics", "parameters N", "score", y_log=False)
    layout["yaxis"]["range"] = [0, 1.02]
    return figure(traces, layout)


# ---------------------------------------------------------------- our own tinygpt, read from its files
@dataclass(frozen=True)
class ModelPoint:
    n_params: float | None
    tokens: float | None
    note: str  # why a value is missing, or where it came from


def read_model_point(model_dir=TINYGPT_DIR) -> ModelPoint:
    """(N, tokens seen) of a shipped checkpoint: N counted from config.json as the planner counts it, tokens seen
    from the summary.json that training writes beside it. Anything missing stays None with a note: the plot
    never shows a made-up number."""
    model_dir = Path(model_dir)
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        return ModelPoint(None, None, f"{_short(model_dir)} has no config.json yet")
    cfg = json.loads(config_path.read_text())
    n = scaling.count_params(cfg["vocab_size"], cfg["n_embd"], cfg["n_layer"], cfg["n_positions"],
                             cfg.get("tie_word_embeddings", True), d_ff=cfg.get("n_inner"))
    summary_path = model_dir / "summary.json"
    if not summary_path.is_file():
        return ModelPoint(n, None, f"{_short(model_dir)} has no summary.json (training writes it)")
    tokens = json.loads(summary_path.read_text()).get("tokens_seen")
    if not isinstance(tokens, (int, float)) or isinstance(tokens, bool) or tokens <= 0:
        return ModelPoint(n, None, f"{_short(summary_path)} has no positive 'tokens_seen' (found {tokens!r})")
    return ModelPoint(n, float(tokens), "N from config.json, tokens from summary.json")


def _short(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
