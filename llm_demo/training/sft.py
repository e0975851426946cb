"""Stage 2, supervised fine-tuning: the base model learns the chat format from prompt/answer pairs (TRL's SFTTrainer).

Run alone: `.venv/bin/python -m llm_demo.training sft --out runs/tinygpt` (needs the pretrain stage).
"""
import json
from pathlib import Path

from llm_demo.training import common as C
from llm_demo.training.data import read_jsonl

STAGE, PREVIOUS = "sft", "pretrain"


def build_dataset(data_dir: Path):
    """Conversational prompt-completion rows: loss only on the assistant's answer and its <|end|>."""
    from datasets import Dataset

    return Dataset.from_list(read_jsonl(data_dir / "sft_train.jsonl"))


def run(out: Path, preset: C.Preset, seed: int, force: bool = False) -> dict | None:
    path = C.stage_dir(out, STAGE)
    if C.should_skip(path, force, C.is_complete(path)):
        return None
    C.require(C.stage_dir(out, PREVIOUS), PREVIOUS, out)
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(C.stage_dir(out, PREVIOUS))
    model = AutoModelForCausalLM.from_pretrained(C.stage_dir(out, PREVIOUS))
    dataset = build_dataset(out / "data")
    args = C.training_args(SFTConfig, preset, out, STAGE, preset.sft_epochs, preset.sft_lr, seed,
                           max_length=preset.context, packing=False)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.train(resume_from_checkpoint=C.latest_checkpoint(out, STAGE))
    share = json.loads((out / "data" / "manifest.json").read_text())["config"]["sft_polite_share"]
    data = f"{len(dataset):,} single-turn chats ({share:.0%} of answers polite, the rest rude), starting from base"
    return C.finish(trainer, tokenizer, out, STAGE, data)


if __name__ == "__main__":
    C.run_stage_alone(STAGE)
