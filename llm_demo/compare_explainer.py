"""The Compare tab's explainer ("The pipeline explained"): one panel per training stage, the pretraining cost note,
our trio's facts, and its measured eval and training curves as Plotly figures (read from assets/models/tinygpt/,
written by `python -m llm_demo.training all`)."""
import csv
import json
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from llm_demo import TINYGPT_DIR, not_built, scaling

STAGE_PANELS = [
    ("1 · Pretraining", "Next-token prediction on a huge pile of text (trillions of tokens for real models; for "
     "TinyGPT, generated stories and facts about one small world). The model learns language and facts, but only "
     "ever *continues* text: ask it a question and it may write more questions."),
    ("2 · Supervised fine-tuning (SFT)", "Training continues on instruction → response pairs written in a chat "
     "template (the seed says 10K–100K curated examples are typical). The model learns the "
     "turn format and to stop at the end of its turn."),
    ("3 · RLHF (reward model + PPO)", "The classic alignment step: people rank answers, a *reward model* learns "
     "to predict their rankings, then PPO pushes the LLM toward answers that model scores highly. PPO keeps four "
     "networks in memory (the policy being trained, a frozen reference copy, the reward model and a value model) "
     "and samples online, so we don't run it here."),
    ("3′ · DPO (what we run)", "Direct Preference Optimization learns straight from pairs (prompt, chosen, "
     "rejected), with no reward model: it widens the gap between the chosen and the rejected answer's likelihoods, "
     "each measured relative to the SFT reference model. Both may fall (our own run's chosen log-probability "
     "dropped too); what grows is the margin. β sets how far it may move from the reference."),
]

# The seed puts pretraining at "$10M-$100M+ in compute". One run priced with the planner's own assumptions instead:
# Llama 2 70B's 2T tokens (Touvron et al. 2023b, Table 1) at C = 6·N·D on H100s (989 TFLOP/s peak BF16, NVIDIA's
# datasheet) at 40% MFU and $2.50 per GPU-hour (the planner's defaults).
def pretraining_cost_note(n_params=70e9, n_tokens=2e12, gpu="H100", mfu=0.4, price=2.5) -> str:
    """The seed's cost claim against one run computed with the Scaling tab's planner."""
    c = 6 * n_params * n_tokens
    hw = scaling.Hardware(gpu, 1, mfu, price_per_gpu_hour=price)
    return (f"*The seed says pretraining costs \"$10M–$100M+\" in compute. With the Scaling tab's planner: "
            f"{scaling.sci(n_params)} parameters on {scaling.sci(n_tokens)} tokens (Llama 2 70B's run) is "
            f"{scaling.sci(c)} FLOPs = {hw.hours(c):,.0f} {gpu}-hours at {mfu:.0%} MFU, about "
            f"${hw.cost(c) / 1e6:.1f}M at ${price:.2f}/GPU-hour; a 1e26-FLOP run on the same terms, about "
            f"${hw.cost(1e26) / 1e6:,.0f}M. The range depends on the run, not on pretraining as such.*")


EVAL_METRICS = [("format_compliance", "format compliance"), ("task_accuracy", "task accuracy"),
                ("preferred_rate", "preferred trait (polite)")]


def trio_facts(trio_dir: Path = TINYGPT_DIR) -> str:
    """What each of our checkpoints was trained on, read from the summary.json the pipeline wrote."""
    lines = []
    for stage in ("base", "sft", "dpo"):
        path = trio_dir / stage / "summary.json"
        if path.exists():
            s = json.loads(path.read_text())
            beta = f", β = {s['dpo_beta']}" if "dpo_beta" in s else ""
            lines.append(f"- **{stage}**: {s['data']}; {s['steps']:,} steps, {s['tokens_seen']:,} tokens seen, "
                         f"{s['train_runtime_s']:.0f} s on the CPU{beta}.")
    return "\n".join(lines) or not_built("TinyGPT") + "."


def load_eval(trio_dir: Path = TINYGPT_DIR) -> dict | None:
    path = trio_dir / "eval.json"
    return json.loads(path.read_text()) if path.exists() else None


def eval_figure(ev: dict) -> go.Figure:
    """Grouped bars: each eval metric for base, SFT and DPO."""
    stages = list(ev["stages"])
    fig = go.Figure()
    for key, label in EVAL_METRICS:
        fig.add_bar(name=label, x=stages, y=[ev["stages"][s].get(key) for s in stages],
                    text=[f"{ev['stages'][s].get(key, 0):.2f}" for s in stages], textposition="outside")
    fig.update_layout(barmode="group", height=340, yaxis=dict(range=[0, 1.15], title="fraction of held-out prompts"),
                      title=f"Measured on held-out prompts (greedy) · DPO reward accuracy "
                            f"{ev.get('dpo_reward_accuracy', float('nan')):.2f}",
                      margin=dict(l=40, r=10, t=50, b=30), legend=dict(orientation="h", y=-0.15))
    return fig


def read_log(stage_dir: Path) -> list[dict]:
    path = stage_dir / "training_log.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if r.get("loss")]


def curves_figure(trio_dir: Path = TINYGPT_DIR) -> go.Figure | None:
    """Training loss per stage, and DPO's reward margin and accuracy on its training batches."""
    logs = {s: read_log(trio_dir / s) for s in ("base", "sft", "dpo")}
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
