"""Stage 1, pretraining: a GPT-2 style model learns the world's prose from scratch with transformers' Trainer.

Run alone: `.venv/bin/python -m llm_demo.training pretrain --out runs/tinygpt` (needs the data and tokenizer stages).
"""
from pathlib import Path

from llm_demo.training import common as C
from llm_demo.training.data import read_jsonl
from llm_demo.training.tokenizer import END_OF_TEXT

STAGE, PREVIOUS = "pretrain", "tokenizer"


def build_dataset(tokenizer, data_dir: Path, context: int):
    """Documents joined by <|endoftext|> and cut into blocks of `context` tokens: input_ids [n_blocks, context]."""
    from datasets import Dataset

    texts = [row["text"] + END_OF_TEXT for row in read_jsonl(data_dir / "pretrain_train.jsonl")]
    stream = [i for ids in tokenizer(texts, verbose=False)["input_ids"] for i in ids]
    blocks = [stream[i:i + context] for i in range(0, len(stream) - context + 1, context)]
    return Dataset.from_dict({"input_ids": blocks})


def build_model(tokenizer, preset: C.Preset):
    """GPT-2 blocks are already pre-norm (LayerNorm before attention and MLP) with learned positions and a tied
    head; we only swap GPT-2's tanh-approximated GELU for the exact one and turn dropout off (one pass, no overfit)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=preset.context, n_embd=preset.n_embd,
                        n_layer=preset.n_layer, n_head=preset.n_head, activation_function="gelu",
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    return GPT2LMHeadModel(config)


def run(out: Path, preset: C.Preset, seed: int, force: bool = False) -> dict | None:
    path = C.stage_dir(out, STAGE)
    if C.should_skip(path, force, C.is_complete(path)):
        return None
    C.require(out / PREVIOUS, PREVIOUS, out)
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling, Trainer, TrainingArguments, set_seed

    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(out / PREVIOUS)
    model = build_model(tokenizer, preset)
    dataset = build_dataset(tokenizer, out / "data", preset.context)
    args = C.training_args(TrainingArguments, preset, out, STAGE, preset.pretrain_epochs, preset.pretrain_lr, seed)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                      data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False))
    trainer.train(resume_from_checkpoint=C.latest_checkpoint(out, STAGE))
    data = f"{len(dataset):,} blocks of {preset.context} tokens of generated prose about the small world"
    return C.finish(trainer, tokenizer, out, STAGE, data)


if __name__ == "__main__":
    C.run_stage_alone(STAGE)
