"""The RLHF curves as a Plotly figure: the KL-penalised run (shipped as tinygpt-rlhf) next to the KL-off run
(rlhf-hack, curves only), read from the curves.csv files the rlhf and hack stages wrote."""
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from llm_demo import TINYGPT_DIR
from llm_demo.compare_explainer import read_curves

RUNS = (("rlhf", "KL penalty on (shipped)", "#1f77b4"), ("rlhf-hack", "KL off (hack run)", "#d62728"))
PANELS = (("reward_model_score", "reward-model score (the proxy)"), ("kl_to_sft", "KL to SFT (nats / answer)"),
          ("task_accuracy", "task accuracy (a judge it never saw)"))


def hacking_figure(trio_dir: Path = TINYGPT_DIR) -> go.Figure | None:
    """Three panels against RLOO steps, one line per run; format compliance dotted in the judge's panel."""
    curves = {folder: read_curves(trio_dir / folder) for folder, _, _ in RUNS}
    if not any(curves.values()):
        return None
    fig = make_subplots(rows=1, cols=3, subplot_titles=[t for _, t in PANELS])
    for folder, name, colour in RUNS:
        rows = curves[folder]
        steps = [r["step"] for r in rows]
        for col, (key, _) in enumerate(PANELS, start=1):
            fig.add_scatter(x=steps, y=[r[key] for r in rows], name=name, legendgroup=folder, showlegend=col == 1,
                            line=dict(color=colour), row=1, col=col)
        fig.add_scatter(x=steps, y=[r["format_compliance"] for r in rows], name=f"{name}: format compliance",
                        legendgroup=folder, line=dict(color=colour, dash="dot"), row=1, col=3)
    fig.update_xaxes(title_text="RLOO step")
    fig.update_yaxes(range=[-0.05, 1.05], row=1, col=3)
    fig.update_layout(height=340, margin=dict(l=40, r=10, t=40, b=40), legend=dict(orientation="h", y=-0.3),
                      title="RLHF on held-out prompts: with and without the KL penalty")
    return fig
