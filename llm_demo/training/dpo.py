"""Stage 3, direct preference optimization: the SFT model learns to prefer polite answers with TRL's DPOTrainer.

Run alone: `.venv/bin/python -m llm_demo.training dpo --out runs/tinygpt [--extra-pairs votes.jsonl]` (needs sft).
"""
from pathlib import Path

from llm_demo.training import common as C
from llm_demo.training.data import read_jsonl
from llm_demo.pairs import load_pairs_jsonl

STAGE, PREVIOUS = "dpo", "sft"


def build_dataset(data_dir: Path, extra_pairs: Path | None = None):
    """Conversational preference rows: the user prompt, then the chosen and the rejected assistant answer."""
    pairs = read_jsonl(data_dir / "dpo_train.jsonl") + (load_pairs_jsonl(extra_pairs) if extra_pairs else [])
    return to_dataset(pairs)


def to_dataset(pairs: list[dict]):
    from datasets import Dataset

    return Dataset.from_list([{"prompt": [{"role": "user", "content": p["prompt"]}],
                               "chosen": [{"role": "assistant", "content": p["chosen"]}],
                               "rejected": [{"role": "assistant", "content": p["rejected"]}]} for p in pairs])


def run(out: Path, preset: C.Preset, seed: int, force: bool = False, extra_pairs: Path | None = None) -> dict | None:
    path = C.stage_dir(out, STAGE)
    if C.should_skip(path, force, C.is_complete(path)):
        return None
    C.require(C.stage_dir(out, PREVIOUS), PREVIOUS, out)
    dataset = build_dataset(out / "data", extra_pairs)
    n_extra = len(dataset) - len(read_jsonl(out / "data" / "dpo_train.jsonl"))
    data = (f"{len(dataset):,} preference pairs (polite chosen, rude rejected, same facts"
            + (f"; {n_extra} from {extra_pairs.name}" if extra_pairs else "") + "), starting from sft")
    return train(C.stage_dir(out, PREVIOUS), dataset, out, STAGE, preset, seed, data)


def train(sft_dir: Path, dataset, out: Path, stage: str, preset: C.Preset, seed: int, data: str) -> dict:
    """DPO from the SFT checkpoint in sft_dir (also the frozen reference); saved as out/<stage>."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import DPOConfig, DPOTrainer

    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(sft_dir)
    model = AutoModelForCausalLM.from_pretrained(sft_dir)
    ref_model = AutoModelForCausalLM.from_pretrained(sft_dir)  # frozen: the reference is SFT
    args = C.training_args(DPOConfig, preset, out, stage, preset.dpo_epochs, preset.dpo_lr, seed,
                           max_length=preset.context, beta=preset.dpo_beta,
                           loss_type=["sigmoid", "sft"] if preset.dpo_sft_weight else ["sigmoid"],
                           loss_weights=[1.0, preset.dpo_sft_weight] if preset.dpo_sft_weight else None)
    trainer = DPOTrainer(model=model, ref_model=ref_model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.train(resume_from_checkpoint=C.latest_checkpoint(out, stage))
    return C.finish(trainer, tokenizer, out, stage, data, {"dpo_beta": preset.dpo_beta, "reference_model": "sft",
                                                                "dpo_sft_weight": preset.dpo_sft_weight})


if __name__ == "__main__":
    C.run_stage_alone(STAGE)
