"""The trio's reward model: one scalar per (prompt, answer), the proxy that the RLHF stage optimises.

`score(prompt, answer)` judges any text with the shipped reward model (assets/models/tinygpt/reward), trained by
`python -m llm_demo.training reward` on the DPO stage's preference pairs. Loading is lazy and cached.
"""
import threading
from pathlib import Path

from llm_demo import TINYGPT_DIR

REWARD_DIR = TINYGPT_DIR / "reward"
_cache: dict = {}
_lock = threading.Lock()


def load(path: Path = REWARD_DIR):
    """(model, tokenizer) of a reward-model folder: GPT2ForSequenceClassification with one output."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = Path(path)
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"No reward model in {path}: run `python -m llm_demo.training reward` and promote it.")
    return AutoModelForSequenceClassification.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def chat_ids(tokenizer, prompt: str, answer: str) -> list[int]:
    """The token ids the reward model reads: the chat template of the user turn and the answer's assistant turn,
    exactly as RewardTrainer and RLOOTrainer build them (ending in <|end|>, the token whose state is scored)."""
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    return tokenizer.apply_chat_template(messages, return_dict=True)["input_ids"]


def score_with(model, tokenizer, prompt: str, answer: str) -> float:
    """The reward model's score of one answer; ValueError for empty text or text beyond its context."""
    import torch

    for what, text in (("prompt", prompt), ("answer", answer)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"The reward model needs a non-empty {what} to score.")
    ids = chat_ids(tokenizer, prompt, answer)
    context = model.config.n_positions
    if len(ids) > context:
        raise ValueError(f"The prompt and answer are {len(ids)} tokens with the chat template; the reward model reads "
                         f"at most {context} (its context), so it cannot score this text.")
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0, 0].item()  # one sequence, no padding: the last token is scored


def fits(model, tokenizer, pair: dict) -> bool:
    return all(len(chat_ids(tokenizer, pair["prompt"], pair[k])) <= model.config.n_positions
               for k in ("chosen", "rejected"))


def pairwise_accuracy(model, tokenizer, pairs: list[dict]) -> float:
    """Share of preference pairs whose chosen answer the reward model scores strictly above the rejected one, over
    the pairs that fit its context (RewardTrainer drops longer ones too; at the full preset every held-out pair fits)."""
    usable = [p for p in pairs if fits(model, tokenizer, p)]
    if not usable:
        raise ValueError(f"None of the {len(pairs)} preference pairs fits the reward model's context.")
    wins = sum(score_with(model, tokenizer, p["prompt"], p["chosen"]) >
               score_with(model, tokenizer, p["prompt"], p["rejected"]) for p in usable)
    return wins / len(usable)


def shipped():
    """The shipped reward model, loaded once per process."""
    with _lock:
        if "rm" not in _cache:
            _cache["rm"] = load(REWARD_DIR)
        return _cache["rm"]


def available() -> bool:
    return (REWARD_DIR / "model.safetensors").exists()


def score(prompt: str, answer: str) -> float:
    """The shipped reward model's score of `answer` to `prompt` (higher: more like the chosen answers)."""
    model, tokenizer = shipped()
    return score_with(model, tokenizer, prompt, answer)
