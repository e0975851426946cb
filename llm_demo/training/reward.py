"""Stage 4, the reward model: the SFT backbone with a scalar head learns which answer people prefer (TRL's
RewardTrainer, Bradley-Terry loss -log sigmoid(r_chosen - r_rejected)) from the DPO stage's own preference pairs.

Run alone: `.venv/bin/python -m llm_demo.training reward --out runs/tinygpt` (needs sft).
"""
import sys
from pathlib import Path

from llm_demo import reward as R
from llm_demo.training import common as C
from llm_demo.training.dpo import to_dataset
from llm_demo.training.pairs import load_pairs_jsonl

STAGE, PREVIOUS = "reward", "sft"


def read_pairs(path: Path) -> list[dict]:
    """The pairs file, validated line by line: a bad line stops the stage with one sentence, before any training."""
    try:
        return load_pairs_jsonl(path)
    except (ValueError, OSError) as exc:
        raise SystemExit(f"error: the preference pairs are unusable: {exc}") from None


def run(out: Path, preset: C.Preset, seed: int, force: bool = False) -> dict | None:
    path = C.stage_dir(out, STAGE)
    if C.should_skip(path, force, C.is_complete(path)):
        return None
    C.require(C.stage_dir(out, PREVIOUS), PREVIOUS, out)
    pairs = read_pairs(out / "data" / "dpo_train.jsonl")
    heldout = read_pairs(out / "data" / "dpo_heldout.jsonl")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed
    from trl import RewardConfig, RewardTrainer

    set_seed(seed)
    sft_dir = C.stage_dir(out, PREVIOUS)
    tokenizer = AutoTokenizer.from_pretrained(sft_dir)
    # The SFT backbone plus a fresh linear head (n_embd -> 1) read at the last non-pad token (<|end|>).
    model = AutoModelForSequenceClassification.from_pretrained(sft_dir, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    args = C.training_args(RewardConfig, preset, out, STAGE, preset.rm_epochs, preset.rm_lr, seed,
                           max_length=preset.context)
    trainer = RewardTrainer(model=model, args=args, train_dataset=to_dataset(pairs), processing_class=tokenizer)
    trainer.train(resume_from_checkpoint=C.latest_checkpoint(out, STAGE))
    model.eval()
    acc = R.pairwise_accuracy(model, tokenizer, heldout)
    print(f"reward model: held-out pairwise accuracy {acc:.3f} on {len(heldout)} pairs")
    data = f"{len(pairs):,} preference pairs (the DPO stage's: polite chosen, rude rejected), starting from sft"
    return C.finish(trainer, tokenizer, out, STAGE, data, {"heldout_pair_accuracy": round(acc, 4),
                                                            "heldout_pairs": len(heldout)})


if __name__ == "__main__":
    from llm_demo.training.__main__ import main
    sys.exit(main([STAGE, *sys.argv[1:]]))
