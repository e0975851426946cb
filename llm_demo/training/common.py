"""What the three stage scripts share: the size presets, the output-dir layout, guards, and saving a checkpoint.

Not run on its own: `.venv/bin/python -m llm_demo.training --help` shows every preset field as a flag.

Layout of `--out DIR`: data/, tokenizer/, base/, sft/, dpo/ (each a from_pretrained-able model folder with its
logs and model card), eval.json, and checkpoints/<stage>/ while a stage runs (removed when it finishes).
"""
import csv
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from llm_demo import TINYGPT_DIR
from llm_demo.pairs import DPO_BETA

STAGES = ("data", "tokenizer", "pretrain", "sft", "reward", "rlhf", "hack", "dpo", "eval")
# stage name -> folder of a model that writes answers (the family's stages, in pipeline order)
MODEL_STAGES = {"pretrain": "base", "sft": "sft", "rlhf": "rlhf", "dpo": "dpo"}
# Folders promote also ships: the reward model (a scorer, not a chat model) and the KL-off run's curves (no weights).
AUX_FOLDERS = {"reward": "reward", "hack": "rlhf-hack"}
SHIPPED = TINYGPT_DIR                  # where `promote` puts a finished run


@dataclass
class Preset:
    """The one size dial: everything that changes between a 20-second test run and the shipped trio."""
    corpus_mb: float = field(default=5.2, metadata={"help": "pretraining prose, megabytes"})
    sft_n: int = field(default=6000, metadata={"help": "SFT conversations"})
    dpo_n: int = field(default=2400, metadata={"help": "DPO pairs"})
    dpo_heldout_n: int = field(default=200, metadata={"help": "held-out DPO pairs"})
    vocab_size: int = field(default=4096, metadata={"help": "BPE vocabulary, special tokens included"})
    n_layer: int = field(default=4, metadata={"help": "transformer blocks"})
    n_embd: int = field(default=192, metadata={"help": "model width"})
    n_head: int = field(default=6, metadata={"help": "attention heads (n_embd / n_head = 32 dims each)"})
    context: int = field(default=256, metadata={"help": "positions the model has (learned position table)"})
    batch_size: int = field(default=8, metadata={"help": "sequences per optimizer step, every stage"})
    pretrain_epochs: float = field(default=1.0, metadata={"help": "passes over the pretraining corpus"})
    pretrain_lr: float = field(default=2e-3, metadata={"help": "peak learning rate, pretraining"})
    sft_epochs: float = field(default=1.0, metadata={"help": "passes over the SFT chats"})
    sft_lr: float = field(default=5e-4, metadata={"help": "peak learning rate, SFT"})
    dpo_epochs: float = field(default=1.0, metadata={"help": "passes over the DPO pairs"})
    dpo_lr: float = field(default=3e-5, metadata={"help": "peak learning rate, DPO"})
    dpo_beta: float = field(default=DPO_BETA, metadata={"help": "DPO beta (KL strength toward the SFT reference)"})
    # RPO (Pang et al. 2024, "Iterative Reasoning Preference Optimization", eq. 1): adding the chosen answers' NLL
    # to the DPO loss keeps their likelihood from falling while the margin grows; 0 is plain DPO. Measured here:
    # plain DPO (lr 1e-4, beta 0.1; and lr 3e-5, beta 0.5) drove log p(chosen) from -13 to about -30 and the
    # model wrote word salad (task accuracy 0.63 -> 0.15 / 0.25); with this term it stays at 0.62.
    dpo_sft_weight: float = field(default=1.0, metadata={
        "help": "weight of an NLL term on chosen answers (0: plain DPO)"})
    # ---- reward model and RLHF (RLOO: TRL 1.16 ships no PPO trainer, see rlhf.py) ----
    rm_epochs: float = field(default=0.5, metadata={"help": "passes over the preference pairs, reward model"})
    rm_lr: float = field(default=1e-4, metadata={"help": "peak learning rate, reward model"})
    rlhf_steps: int = field(default=100, metadata={"help": "RLOO optimizer steps (KL-penalised run, shipped)"})
    rlhf_lr: float = field(default=3e-5, metadata={"help": "learning rate, RLOO"})
    # beta: the KL coefficient of the penalty reward - beta * KL(policy || SFT); 0.05 is TRL's RLOOConfig default.
    rlhf_beta: float = field(default=0.05, metadata={"help": "KL penalty toward the SFT model, RLOO"})
    rlhf_generations: int = field(default=4, metadata={"help": "sampled answers per prompt (RLOO's k)"})
    rlhf_new_tokens: int = field(default=48, metadata={"help": "sampled tokens per answer at most, RLOO"})
    hack_steps: int = field(default=400, metadata={"help": "steps of the KL-off run (curves only, no weights)"})
    hack_lr: float = field(default=1e-4, metadata={"help": "learning rate of the KL-off run"})
    # Measured (issue 25): at hack_lr 3e-5 for 200 steps the KL-off run stayed as accurate as SFT on the curve prompts
    # (task accuracy 1.0 throughout, reward-model score 4.13); at 1e-4 for 400 steps its accuracy fell to 0.125.
    curve_every: int = field(default=40, metadata={"help": "RLOO steps between two points of the curves"})
    curve_prompts: int = field(default=16, metadata={"help": "held-out prompts judged at each curve point"})
    eval_prompts: int = field(default=0, metadata={"help": "held-out prompts to generate for (0: all)"})
    eval_new_tokens: int = field(default=96, metadata={"help": "greedy tokens per answer at most"})
    eval_ppl_tokens: int = field(default=30000, metadata={"help": "held-out pretraining tokens for perplexity"})


PRESETS = {
    "full": Preset(),
    # A pipeline that runs every stage in seconds; it learns little, which the tests do not ask it to.
    "micro": Preset(corpus_mb=0.03, sft_n=48, dpo_n=32, dpo_heldout_n=8, vocab_size=320, n_layer=1, n_embd=32,
                    n_head=2, context=64, batch_size=8, sft_epochs=1.0, pretrain_lr=3e-3, sft_lr=3e-3,
                    dpo_lr=1e-3, eval_prompts=4, eval_new_tokens=8, eval_ppl_tokens=256, rm_lr=1e-3,
                    rlhf_steps=4, rlhf_lr=1e-4, rlhf_new_tokens=8, hack_steps=4, hack_lr=1e-4, curve_every=2,
                    curve_prompts=3),
}


def stage_dir(out: Path, stage: str) -> Path:
    return out / MODEL_STAGES.get(stage, AUX_FOLDERS.get(stage, stage))


def is_complete(path: Path) -> bool:
    """A model folder is complete once its summary is written: finish() writes it after the weights."""
    return (path / "model.safetensors").exists() and (path / "summary.json").exists()


def run_stage_alone(stage: str) -> None:
    """`python -m llm_demo.training.<stage> ARGS` does what `python -m llm_demo.training <stage> ARGS` does: the runner
    runs as its own __main__ (runpy), so a stage module never imports the runner that imports the stages."""
    import runpy
    import sys
    sys.argv = ["llm_demo.training", stage, *sys.argv[1:]]
    runpy.run_module("llm_demo.training", run_name="__main__", alter_sys=True)


DONE_MARKERS = {"data": "manifest.json", "tokenizer": "tokenizer.json"}  # the files that mark those stages done


def require(path: Path, stage: str, out: Path) -> None:
    """Stop with the command to run when the output of an earlier stage is missing."""
    marker = DONE_MARKERS.get(stage)
    if not ((path / marker).exists() if marker else is_complete(path)):
        raise SystemExit(f"error: missing {path} (the {stage} stage's output); run "
                         f"`python -m llm_demo.training {stage} --out {out}` first, or `all`")


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise SystemExit(f"error: output dir {out} is not writable ({exc.strerror})") from None


def should_skip(path: Path, force: bool, done: bool) -> bool:
    """Finished outputs are kept (that is what makes a re-run resume); --force retrains them."""
    if done and not force:
        print(f"[skip] {path} is complete; pass --force to rebuild it")
        return True
    return False


def training_args(cls, preset: Preset, out: Path, stage: str, epochs: float, lr: float, seed: int, **extra):
    """TrainingArguments (or TRL's subclasses) with the same schedule and logging for every stage."""
    return cls(output_dir=str(out / "checkpoints" / stage), per_device_train_batch_size=preset.batch_size,
               num_train_epochs=epochs, learning_rate=lr, lr_scheduler_type="cosine", warmup_steps=0.05,
               weight_decay=0.01, logging_steps=10, logging_first_step=True, save_steps=200, save_total_limit=1,
               report_to="none", seed=seed, data_seed=seed, bf16=False, fp16=False, gradient_checkpointing=False,
               include_num_input_tokens_seen="non_padding", dataloader_num_workers=0,
               dataloader_pin_memory=False, **extra)


def latest_checkpoint(out: Path, stage: str) -> str | None:
    """The newest Trainer checkpoint of an interrupted run, to resume from."""
    found = sorted((out / "checkpoints" / stage).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    return str(found[-1]) if found else None


def finish(trainer, tokenizer, out: Path, stage: str, data: str, extra: dict | None = None) -> dict:
    """Save the trained model like any hub model, plus its logs, its summary and a model card."""
    from llm_demo.training.chat_format import stop_token_ids

    path = stage_dir(out, stage)
    if not trainer.is_world_process_zero():  # under `accelerate launch`, one process writes
        return {}
    model = trainer.model
    if model.can_generate():  # the reward model is a scorer: no generation config
        model.generation_config.eos_token_id = stop_token_ids(tokenizer)  # generate() stops at <|end|> or a doc end
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)  # model.safetensors + config.json + generation_config.json
    tokenizer.save_pretrained(path)
    logs = trainer.state.log_history
    (path / "training_log.json").write_text(json.dumps(logs, indent=1))
    keys = sorted({k for row in logs for k in row})
    with open(path / "training_log.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(logs)
    final = next((r for r in reversed(logs) if "train_runtime" in r), {})
    runtime = final.get("train_runtime", 0.0)
    tokens = int(trainer.state.num_input_tokens_seen)
    summary = {"stage": stage, "folder": path.name, "data": data, "parameters": model.num_parameters(),
               "steps": trainer.state.global_step, "tokens_seen": tokens, "train_runtime_s": round(runtime, 1),
               "tokens_per_s": round(tokens / runtime) if runtime else None,
               "final_train_loss": final.get("train_loss"), **(extra or {})}
    (path / "summary.json").write_text(json.dumps(summary, indent=1))
    write_model_card(path)
    shutil.rmtree(out / "checkpoints" / stage, ignore_errors=True)
    if (out / "checkpoints").exists() and not any((out / "checkpoints").iterdir()):
        (out / "checkpoints").rmdir()
    return summary


def write_model_card(path: Path, metrics: dict | None = None) -> None:
    """README.md of a checkpoint: what it was trained on, how big it is, how long, and how it scores."""
    s = json.loads((path / "summary.json").read_text())
    cfg = json.loads((path / "config.json").read_text())
    lines = [f"# tinygpt-{s['folder']}", "",
             f"Stage `{s['stage']}` of LLM Lab's miniature pipeline (base -> SFT -> reward model -> RLHF, and DPO), trained on",
             "a CPU by `python -m llm_demo.training` (see the repository README, section *Our tiny trio*).", "",
             "| | |", "|---|---|",
             f"| architecture | GPT-2 style decoder: {cfg['n_layer']} pre-norm blocks, width {cfg['n_embd']}, "
             f"{cfg['n_head']} heads, learned positions ({cfg['n_positions']}), GELU, tied head |",
             f"| parameters | {s['parameters']:,} |", f"| vocabulary | {cfg['vocab_size']} (byte-level BPE) |",
             f"| data | {s['data']} |", f"| steps | {s['steps']:,} |", f"| tokens seen | {s['tokens_seen']:,} |",
             f"| training time | {s['train_runtime_s']} s ({s['tokens_per_s']} tokens/s) |"]
    lines += [f"| {k} | {v} |" for k, v in s.items() if k in ("dpo_beta", "dpo_sft_weight", "reference_model", "algorithm", "kl_beta",
                                                            "reward_model", "heldout_pair_accuracy")]
    if metrics:
        lines += ["", "## Evaluation (held-out, greedy, chat template)", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in metrics.items()]
    lines += ["", "Logs: `training_log.csv` / `training_log.json` (loss and learning rate per logged step"
              + {"dpo": ", DPO's rewards/* metrics", "reward": ", pairwise accuracy and margin",
                 "rlhf": ", RLOO's reward and kl; curves.csv: the held-out judge every few steps"}.get(s["stage"], "")
              + ").", ""]
    (path / "README.md").write_text("\n".join(lines))
