"""Byte-level BPE trained on our pretraining corpus with `tokenizers`, saved as an HF tokenizer with a chat template.

Run alone: `.venv/bin/python -m llm_demo.training tokenizer --out runs/tinygpt` (needs the data stage).
"""
from collections.abc import Iterator
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from llm_demo.training.chat_format import (CHAT_TEMPLATE, END, END_OF_TEXT, PAD, ROLES,  # noqa: F401 - re-exported
                                           SPECIAL_TOKENS, stop_token_ids)



def train_bpe(texts: Iterator[str], vocab_size: int):
    """Train a byte-level BPE and wrap it as a transformers fast tokenizer (AutoTokenizer can reload it)."""
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=True)
    tok.train_from_iterator(texts, trainer=trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=END, pad_token=PAD, bos_token=END_OF_TEXT,
                                 model_max_length=None, chat_template=CHAT_TEMPLATE)
    hf.add_special_tokens({"additional_special_tokens": [f"<|{r}|>" for r in ROLES]})
    return hf


def save(tokenizer, path: Path, context: int) -> None:
    tokenizer.model_max_length = context
    tokenizer.save_pretrained(path)


def run(out: Path, preset, seed: int, force: bool = False) -> dict | None:
    """The tokenizer stage: BPE on the pretraining prose plus the user prompts of the SFT chats."""
    from llm_demo.training.common import require, should_skip
    from llm_demo.training.data import read_jsonl

    path = out / "tokenizer"
    if should_skip(path, force, (path / "tokenizer.json").exists()):
        return None
    require(out / "data", "data", out)
    texts = [r["text"] for r in read_jsonl(out / "data" / "pretrain_train.jsonl")]
    texts += [r["prompt"][0]["content"] for r in read_jsonl(out / "data" / "sft_train.jsonl")]
    tokenizer = train_bpe(iter(texts), preset.vocab_size)
    save(tokenizer, path, preset.context)
    print(f"tokenizer: {len(tokenizer)} tokens -> {path}")
    return {"vocab": len(tokenizer)}
