"""The Compare tab's figures of our trio (Plotly), apart from the facts they draw (compare_explainer.py): the
evaluation's scores per stage and the three stages' training curves.
"""
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from llm_demo import TINYGPT_DIR, compare_explainer


def eval_figure(ev: dict) -> go.Figure:
    """Grouped bars: each eval metric for base, SFT and DPO."""
    stages = list(ev["stages"])
    fig = go.Figure()
    for key, label in compare_explainer.EVAL_METRICS:
        fig.add_bar(name=label, x=stages, y=[ev["stages"][s].get(key) for s in stages],
                    text=[f"{ev['stages'][s].get(key, 0):.2f}" for s in stages], textposition="outside")
    fig.update_layout(barmode="group", height=340, yaxis=dict(range=[0, 1.15], title="fraction of held-out prompts"),
                      title=f"Measured on held-out prompts (greedy) · DPO reward accuracy "
                            f"{ev.get('dpo_reward_accuracy', float('nan')):.2f}",
                      margin=dict(l=40, r=10, t=50, b=30), legend=dict(orientation="h", y=-0.15))
    return fig


def curves_figure(trio_dir: Path = TINYGPT_DIR) -> go.Figure | None:
    """Training loss per stage, and DPO's reward margin and accuracy on its training batches."""
    logs = {s: compare_explainer.read_log(trio_dir / s) for s in ("base", "sft", "dpo")}
    if not any(logs.values()):
        return None
    fig = make_subplots(rows=1, cols=3, subplot_titles=("pretraining loss", "SFT loss", "DPO loss and rewards"))
    for i, stage in enumerate(("base", "sft", "dpo"), start=1):
        rows = logs[stage]
        steps = [int(float(r["step"])) for r in rows]
        fig.add_scatter(x=steps, y=[float(r["loss"]) for r in rows], name=f"{stage} loss", row=1, col=i)
        if stage == "dpo":
            for key in ("rewards/margins", "rewards/accuracies"):
                if rows and rows[0].get(key):
                    fig.add_scatter(x=steps, y=[float(r[key]) for r in rows], name=key, row=1, col=i)
    fig.update_xaxes(title_text="step")
    fig.update_layout(height=320, margin=dict(l=40, r=10, t=40, b=40), legend=dict(orientation="h", y=-0.3))
    return fig
