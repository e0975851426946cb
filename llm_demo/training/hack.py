"""Stage 6, reward hacking measured: the RLHF run again with the KL penalty off (beta = 0) and for more steps. Only
its curves and its last step's samples are kept (no weights): does the reward model's score keep rising while the
judges it never saw (task accuracy, format) fall?

Run alone: `.venv/bin/python -m llm_demo.training hack --out runs/tinygpt` (needs sft and reward).
"""
import json
import shutil
import sys
from pathlib import Path

from llm_demo.training import common as C
from llm_demo.training import rlhf as RL
from llm_demo.training import rlhf_curves as RC

STAGE = "hack"
SAMPLES_SHOWN = 6  # greedy answers of the last step kept for the app


def run(out: Path, preset: C.Preset, seed: int, force: bool = False) -> dict | None:
    path = C.stage_dir(out, STAGE)
    if C.should_skip(path, force, (path / "summary.json").exists()):
        return None
    trainer, _, curves = RL.train(out, preset, seed, STAGE, 0.0, preset.hack_lr, preset.hack_steps)
    shutil.rmtree(out / "checkpoints" / STAGE, ignore_errors=True)  # the hacked weights are not kept
    if (out / "checkpoints").exists() and not any((out / "checkpoints").iterdir()):
        (out / "checkpoints").rmdir()
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    RC.write_csv(curves.points, path / "curves.csv")
    with open(path / "samples.jsonl", "w", encoding="utf-8") as f:
        keep = ("prompt", "answer", "check", "correct", "format_ok", "reward_model_score")
        f.writelines(json.dumps({k: r[k] for k in keep}, ensure_ascii=False) + "\n"
                     for r in curves.last_rows[:SAMPLES_SHOWN])
    final = next((r for r in reversed(trainer.state.log_history) if "train_runtime" in r), {})
    summary = {"stage": STAGE, "folder": path.name, "algorithm": RL.ALGORITHM, "kl_beta": 0.0,
               "learning_rate": preset.hack_lr, "steps": trainer.state.global_step,
               "train_runtime_s": round(final.get("train_runtime", 0.0), 1),
               "curve_first": curves.points[0], "curve_last": curves.points[-1]}
    (path / "summary.json").write_text(json.dumps(summary, indent=1))
    (path / "README.md").write_text(
        f"# tinygpt rlhf-hack (curves only, no weights)\n\nThe RLHF stage's {RL.ALGORITHM} run repeated with the KL "
        f"penalty off (beta 0), learning rate {preset.hack_lr}, {summary['steps']} steps, from the SFT model against "
        "the same reward model: `python -m llm_demo.training hack --out runs/tinygpt`.\n\n"
        "`curves.csv`: every few steps, on held-out prompts, the reward model's mean score of the greedy answers, the "
        "sampled KL to SFT (nats per answer), and the judges the reward model never saw (task accuracy, format "
        "compliance; evaluate.py). `samples.jsonl`: greedy answers at the last step.\n")
    return summary


if __name__ == "__main__":
    from llm_demo.training.__main__ import main
    sys.exit(main([STAGE, *sys.argv[1:]]))
