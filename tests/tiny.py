"""A random tiny GPT-2 with a byte-level BPE trained on a few sentences: engine tests need no downloads."""
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from llm_demo.models import LoadedModel, ModelSpec

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")
TEXT = ["The cat sat on the mat.", "A dog ran in the park with a red ball.", "Hello, world! 1 + 2 = 3.",
        "Ünïcödé tëxt, 你好, emoji 🙂 and more."] * 20


def build_tiny(folder: Path, seed: int = 0) -> Path:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TEXT, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|end|>", bos_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    import torch
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=len(fast), n_positions=128, n_embd=32, n_layer=2, n_head=2,
                     eos_token_id=fast.eos_token_id, bos_token_id=fast.bos_token_id)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    return folder


def load_tiny(folder: Path, stage: str = "sft") -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    spec = ModelSpec(f"tiny-{stage}", "tiny", stage, "embedded", str(folder), f"tiny {stage}")
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    return LoadedModel(spec, model, AutoTokenizer.from_pretrained(folder), "cpu", 0, 0.0)
