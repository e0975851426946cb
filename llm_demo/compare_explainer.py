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
    ("3 · RLHF (reward model + RL)", "The classic alignment step: people rank answers, a *reward model* learns "
     "to predict their rankings, then reinforcement learning pushes the LLM toward answers that model scores "
     "highly, with a KL penalty to stay near SFT. InstructGPT used PPO, which holds four networks (policy, frozen "
     "reference, reward model, value model). We run RLOO (TRL 1.16 ships no PPO): the same loop with a "
     "leave-one-out baseline (each sampled answer against the mean of the others to the same prompt) instead of "
     "a value model, so three networks."),
    ("3′ · DPO", "Direct Preference Optimization learns straight from pairs (prompt, chosen, "
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
    for stage in ("base", "sft", "reward", "rlhf", "dpo"):
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


def read_curves(run_dir: Path) -> list[dict]:
    """A run's curves.csv (written by training/rlhf_curves.py) as rows of floats; [] when it is not shipped."""
    path = run_dir / "curves.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: (int(v) if k == "step" else float(v)) for k, v in r.items()} for r in csv.DictReader(f)]


def _summary(trio_dir: Path, folder: str) -> dict | None:
    path = trio_dir / folder / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def rlhf_numbers(trio_dir: Path = TINYGPT_DIR) -> dict | None:
    """RLHF vs DPO, measured: the reward model's held-out accuracy, each route's reward gain over SFT and KL to SFT
    (eval.json), networks trained and held, and training time (the stages' summary.json)."""
    ev, rm, rl, dpo = (load_eval(trio_dir), _summary(trio_dir, "reward"), _summary(trio_dir, "rlhf"),
                       _summary(trio_dir, "dpo"))
    if not (ev and rm and rl and dpo and "rlhf" in ev["stages"]):
        return None
    st = ev["stages"]
    return {"rm_accuracy": ev["reward_model_accuracy"], "dpo_reward_accuracy": ev["dpo_reward_accuracy"],
            "algorithm": rl["algorithm"], "kl_beta": rl["kl_beta"],
            "gain": {k: st[k]["reward_model_score"] - st["sft"]["reward_model_score"] for k in ("rlhf", "dpo")},
            "kl": {k: st[k]["kl_to_sft"] for k in ("rlhf", "dpo")},
            "score": {k: st[k]["reward_model_score"] for k in ("sft", "rlhf", "dpo")},
            "task_accuracy": {k: st[k]["task_accuracy"] for k in ("sft", "rlhf", "dpo")},
            # RLHF trains the reward model and the policy, and holds policy + reference + reward model during RL;
            # DPO trains the policy and holds it with its frozen reference.
            "networks": {"rlhf": (rl["networks_trained"], rl["networks_in_memory"]), "dpo": (1, 2)},
            "seconds": {"rlhf": rm["train_runtime_s"] + rl["train_runtime_s"], "dpo": dpo["train_runtime_s"],
                        "reward": rm["train_runtime_s"], "rl": rl["train_runtime_s"]}}


def rlhf_markdown(trio_dir: Path = TINYGPT_DIR) -> str:
    """The two routes side by side in words, and what the KL-off run did, with its last step's samples."""
    n = rlhf_numbers(trio_dir)
    if n is None:
        return "The RLHF stage is not trained yet: run `python -m llm_demo.training reward rlhf hack eval`."
    lines = [f"**RLHF ({n['algorithm']}) vs DPO, on the same preference pairs.** Reward model: held-out pairwise "
             f"accuracy {n['rm_accuracy']:.0%} (DPO's implicit reward: {n['dpo_reward_accuracy']:.0%}). "
             f"Mean reward-model score on held-out prompts: SFT {n['score']['sft']:.2f} → RLHF "
             f"{n['score']['rlhf']:.2f} (gain {n['gain']['rlhf']:+.2f}, KL to SFT {n['kl']['rlhf']:.2f} nats per "
             f"answer) and DPO {n['score']['dpo']:.2f} (gain {n['gain']['dpo']:+.2f}, KL {n['kl']['dpo']:.2f}). "
             f"Task accuracy SFT {n['task_accuracy']['sft']:.0%}, RLHF {n['task_accuracy']['rlhf']:.0%}, DPO "
             f"{n['task_accuracy']['dpo']:.0%}. Networks trained / held in memory: RLHF "
             f"{n['networks']['rlhf'][0]} / {n['networks']['rlhf'][1]} (PPO would hold 4: plus a value model), DPO "
             f"{n['networks']['dpo'][0]} / {n['networks']['dpo'][1]}. Training time on this lab's CPU: RLHF "
             f"{n['seconds']['rlhf']:.0f} s (reward model {n['seconds']['reward']:.0f} s + RL "
             f"{n['seconds']['rl']:.0f} s), DPO {n['seconds']['dpo']:.0f} s."]
    hack, on = read_curves(trio_dir / "rlhf-hack"), read_curves(trio_dir / "rlhf")
    if hack:
        a, b = hack[0], hack[-1]
        hacked = b["reward_model_score"] > a["reward_model_score"] and (
            b["task_accuracy"] < a["task_accuracy"] or b["format_compliance"] < a["format_compliance"])
        lines.append(f"**KL off, {b['step']} steps:** reward-model score {a['reward_model_score']:.2f} → "
                     f"{b['reward_model_score']:.2f}, KL to SFT {a['kl_to_sft']:.2f} → {b['kl_to_sft']:.2f}, task "
                     f"accuracy {a['task_accuracy']:.0%} → {b['task_accuracy']:.0%}, format compliance "
                     f"{a['format_compliance']:.0%} → {b['format_compliance']:.0%}: "
                     + ("the proxy rose while a judge it never saw fell: reward hacking." if hacked else
                        "the held-out judges did not fall, so this run did not hack the reward (the numbers above "
                        "are what happened)."))
        if on:
            lines.append(f"With the KL penalty (β = {n['kl_beta']}), {on[-1]['step']} steps: score "
                         f"{on[0]['reward_model_score']:.2f} → {on[-1]['reward_model_score']:.2f}, KL "
                         f"{on[-1]['kl_to_sft']:.2f}, task accuracy {on[-1]['task_accuracy']:.0%}.")
        samples = trio_dir / "rlhf-hack" / "samples.jsonl"
        if samples.exists():
            rows = [json.loads(x) for x in samples.read_text(encoding="utf-8").splitlines() if x.strip()]
            lines.append("Greedy answers of the KL-off policy at its last step:\n" + "\n".join(
                f"- *{r['prompt']}* → “{r['answer']}” (reward model {r['reward_model_score']:.2f}; "
                f"{'correct' if r['correct'] else 'wrong'})" for r in rows))
    return "\n\n".join(lines)
