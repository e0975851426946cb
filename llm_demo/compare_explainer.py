"""The Compare tab's explainer ("The pipeline explained"): one panel per training stage, the pretraining cost note,
our trio's facts, and its measured eval and training curves as Plotly figures (read from assets/models/tinygpt/,
written by `python -m llm_demo.training all`)."""
import csv
import json
from pathlib import Path

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


def read_log(stage_dir: Path) -> list[dict]:
    path = stage_dir / "training_log.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if r.get("loss")]


