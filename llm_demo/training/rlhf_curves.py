"""The RLHF runs' curves: every few RLOO steps, the policy is judged on held-out prompts by the reward model (the
proxy it optimises), by its KL to the SFT model, and by checks the reward model never saw (evaluate.py's format and
task-accuracy judges). Written as curves.csv next to each run; the Lesson and the Compare explainer plot them.
"""
import csv
import math
from pathlib import Path

from llm_demo import reward as R
from llm_demo.training import evaluate as E

FIELDS = ("step", "reward_model_score", "kl_to_sft", "task_accuracy", "format_compliance", "preferred_rate",
          "mean_answer_tokens")


class NonFinite(RuntimeError):
    """The run's reward or KL became NaN or infinite: training stops and nothing is saved."""


def judge(policy, sft, rm, tokenizer, prompts: list[dict], greedy_tokens: int, sample_tokens: int,
          seed: int) -> tuple[dict, list[dict]]:
    """One point of the curves (means over the prompts) and the greedy samples it judged. The global RNG is forked,
    so judging does not change what training samples next (a run is the same with or without its curves)."""
    import torch

    was_training = policy.training
    policy.eval()
    rows = []
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for r in prompts:
            gen = E.generate_answer(policy, tokenizer, r["prompt"], greedy_tokens)
            ids = R.chat_ids(tokenizer, r["prompt"], gen["answer"])[:rm.config.n_positions]
            rows.append({**E.score(r, gen), "new_tokens": gen["new_tokens"],
                         "reward_model_score": rm(torch.tensor([ids])).logits[0, 0].item(),
                         "kl_to_sft": E.sampled_kl(policy, sft, tokenizer, r["prompt"], sample_tokens)})
    policy.train(was_training)
    n = len(rows)
    point = {**E.rates(rows), "reward_model_score": sum(r["reward_model_score"] for r in rows) / n,
             "kl_to_sft": sum(r["kl_to_sft"] for r in rows) / n,
             "mean_answer_tokens": sum(r["new_tokens"] for r in rows) / n}
    if not all(math.isfinite(point[k]) for k in ("reward_model_score", "kl_to_sft")):
        raise NonFinite(f"the held-out reward-model score or KL became {point['reward_model_score']}/"
                        f"{point['kl_to_sft']}")
    return {k: round(v, 4) for k, v in point.items()}, rows


def make_callback(sft, rm, tokenizer, prompts: list[dict], every: int, greedy_tokens: int, sample_tokens: int,
                  seed: int):
    """A TrainerCallback that judges the policy at step 0, every `every` steps and at the last step, and stops the
    run at the first NaN in the trainer's own logged reward or KL."""
    from transformers import TrainerCallback

    class Curves(TrainerCallback):
        points: list[dict] = []
        last_rows: list[dict] = []

        def _judge(self, state, model):
            if self.points and self.points[-1]["step"] == state.global_step:
                return
            point, self.last_rows = judge(model, sft, rm, tokenizer, prompts, greedy_tokens, sample_tokens, seed)
            self.points.append({"step": state.global_step, **point})
            print(f"curve step {state.global_step}: {point}", flush=True)

        def on_train_begin(self, args, state, control, model=None, **kw):
            self._judge(state, model)

        def on_step_end(self, args, state, control, model=None, **kw):
            if state.global_step % every == 0 or state.global_step >= state.max_steps:
                self._judge(state, model)

        def on_log(self, args, state, control, logs=None, **kw):
            bad = {k: v for k, v in (logs or {}).items() if k in ("reward", "kl", "loss") and not math.isfinite(v)}
            if bad:
                raise NonFinite(f"at step {state.global_step} the trainer logged {bad}")

    cb = Curves()
    cb.points, cb.last_rows = [], []
    return cb


def write_csv(points: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({k: p[k] for k in FIELDS} for p in points)


def read_csv(path: Path) -> list[dict]:
    """The curves as rows of floats (step as int)."""
    with open(path, newline="") as f:
        return [{k: (int(v) if k == "step" else float(v)) for k, v in row.items()} for row in csv.DictReader(f)]
