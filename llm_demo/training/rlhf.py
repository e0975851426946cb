"""Stage 5, RLHF: the SFT model samples answers, the reward model scores them, and the policy climbs that score with a
KL penalty to the SFT model (reward - beta * KL). Algorithm: RLOO (Ahmadian et al. 2024), TRL's `RLOOTrainer`.

Why not PPO: TRL 1.16.0 (pinned) ships no PPO trainer at all (no `trl.experimental.ppo`; PPOTrainer was dropped), so
this is the issue's named fallback. RLOO is REINFORCE with a leave-one-out baseline over k answers per prompt: it
holds three networks (policy, frozen SFT reference, reward model) where PPO holds four (plus a value model).
Run alone: `.venv/bin/python -m llm_demo.training rlhf --out runs/tinygpt` (needs sft and reward; `ppo` is an alias).
"""
import json
import shutil
import sys
from pathlib import Path

from llm_demo.training import common as C
from llm_demo.training import rlhf_curves as RC
from llm_demo.training.data import read_jsonl
from llm_demo.training.reward import read_pairs

STAGE, PREVIOUS = "rlhf", "sft"
ALGORITHM = "RLOO"  # the name the app shows for this stage's training (never "PPO": see the docstring)


def prompts_dataset(data_dir: Path):
    """The DPO pairs' prompts (unique, in file order) as conversational prompt rows: RL needs prompts, not answers."""
    from datasets import Dataset

    prompts = list(dict.fromkeys(p["prompt"] for p in read_pairs(data_dir / "dpo_train.jsonl")))
    return Dataset.from_list([{"prompt": [{"role": "user", "content": p}]} for p in prompts])


def curve_prompts(data_dir: Path, n: int) -> list[dict]:
    """Held-out eval prompts that carry a task check (the judge the reward model never saw), first n."""
    return [r for r in read_jsonl(data_dir / "eval_prompts.jsonl") if r["check"]][:n]


def train(out: Path, preset: C.Preset, seed: int, stage: str, beta: float, lr: float, steps: int):
    """One RLOO run from out/sft against out/reward; returns (trainer, tokenizer, curves callback)."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, set_seed
    from trl import RLOOConfig, RLOOTrainer

    for need in (PREVIOUS, "reward"):
        C.require(C.stage_dir(out, need), need, out)
    set_seed(seed)
    sft_dir, rm_dir = C.stage_dir(out, PREVIOUS), C.stage_dir(out, "reward")
    tokenizer = AutoTokenizer.from_pretrained(sft_dir)
    policy = AutoModelForCausalLM.from_pretrained(sft_dir)
    sft = AutoModelForCausalLM.from_pretrained(sft_dir).eval()  # the curves' KL reference (TRL loads its own)
    rm = AutoModelForSequenceClassification.from_pretrained(rm_dir).eval()
    curves = RC.make_callback(sft, rm, tokenizer, curve_prompts(out / "data", preset.curve_prompts),
                              preset.curve_every, preset.eval_new_tokens, preset.rlhf_new_tokens, seed)
    args = C.training_args(RLOOConfig, preset, out, stage, 1.0, lr, seed, max_steps=steps, beta=beta,
                           num_generations=preset.rlhf_generations, max_completion_length=preset.rlhf_new_tokens,
                           temperature=1.0, top_k=0, top_p=1.0)
    trainer = RLOOTrainer(model=policy, reward_funcs=rm, args=args, train_dataset=prompts_dataset(out / "data"),
                          processing_class=tokenizer, reward_processing_classes=tokenizer, callbacks=[curves])
    try:
        trainer.train(resume_from_checkpoint=C.latest_checkpoint(out, stage))
    except RC.NonFinite as exc:
        shutil.rmtree(out / "checkpoints" / stage, ignore_errors=True)
        raise SystemExit(f"error: the {stage} run diverged ({exc}); nothing was saved: lower --rlhf-lr") from None
    return trainer, tokenizer, curves


def run(out: Path, preset: C.Preset, seed: int, force: bool = False) -> dict | None:
    path = C.stage_dir(out, STAGE)
    if C.should_skip(path, force, C.is_complete(path)):
        return None
    C.require(C.stage_dir(out, PREVIOUS), PREVIOUS, out)
    C.require(C.stage_dir(out, "reward"), "reward", out)
    trainer, tokenizer, curves = train(out, preset, seed, STAGE, preset.rlhf_beta, preset.rlhf_lr, preset.rlhf_steps)
    path.mkdir(parents=True, exist_ok=True)
    RC.write_csv(curves.points, path / "curves.csv")  # before finish(): summary.json is what marks the stage done
    data = (f"{ALGORITHM} on {preset.rlhf_steps * preset.batch_size // preset.rlhf_generations:,} prompts of the "
            f"DPO pairs ({preset.rlhf_generations} sampled answers each), scored by the reward model, from sft")
    extra = {"algorithm": ALGORITHM, "kl_beta": preset.rlhf_beta, "reward_model": "reward", "reference_model": "sft",
             # the route trains the reward model (stage reward) and the policy; RLOO holds policy, reference and reward model
             "networks_trained": 2, "networks_in_memory": 3, "curve_first": curves.points[0],
             "curve_last": curves.points[-1]}
    return C.finish(trainer, tokenizer, out, STAGE, data, extra)


if __name__ == "__main__":
    from llm_demo.training.__main__ import main
    sys.exit(main([STAGE, *sys.argv[1:]]))
