"""The streaming generation engine and the scorer, shared by every tab, benchmark and test.

stream() is a plain generator over a KV-cached decoding loop that runs in the caller's thread: when the caller
stops iterating (Stop button, closed tab), generation stops at once and no thread is left behind.
"""
from dataclasses import dataclass, field
from typing import Iterator

import torch

from llm_demo.backend import (FORWARD_LOCK, Backend, Decoder, Piece, advance_all, encode_prompt,  # noqa: F401
                              prompt_limit, step_seed, stop_token_ids, too_long_sentence, vocab_size)
from llm_demo.sampling import SamplingConfig


def forward(lm: Backend, **inputs):
    """lm.model(**inputs) in inference mode, holding FORWARD_LOCK (a backend with a torch model)."""
    return lm.forward(**inputs)


@dataclass
class Score:
    """Log-likelihood of a response given a prompt: sum and per token (natural log)."""
    total: float
    tokens: list[str] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return self.total / max(1, len(self.logprobs))


def stream(lm: Backend, prompt: str, cfg: SamplingConfig, *, inspect: int = 0,
           ignore_eos: bool = False, prefix_ids=()) -> Iterator[Piece]:
    """Yield Pieces as tokens are produced. inspect=N attaches the sampler's view of the top-N candidates.
    prefix_ids: answer tokens taken as already generated; generation continues after them (see Decoder).

    Each backend enters inference mode per step, never across a yield: the consumer may resume us on another thread.
    """
    dec = Decoder(lm, prompt, cfg, inspect, ignore_eos, prefix_ids)
    if dec.finished is not None:
        yield dec.finished
        return
    yield from lm.decode(dec)                                  # the backend computes the logits, Decoder samples


def collect(pieces: Iterator[Piece]) -> tuple[str, str]:
    """A whole answer from a stream of pieces: (text, finish_reason)."""
    text, reason = "", ""
    for piece in pieces:
        text += piece.text
        reason = piece.finish_reason or reason
    return text, reason


def generate(lm: Backend, prompt: str, cfg: SamplingConfig, **kw) -> tuple[str, str]:
    """The whole answer at once: (text, finish_reason)."""
    return collect(stream(lm, prompt, cfg, **kw))


def score(lm: Backend, prompt: str, response: str, *, append_eos: bool = False) -> Score:
    """log p(response | prompt) under lm, token by token (the Compare tab's cross-scoring and DPO reward)."""
    if not isinstance(response, str) or not response:
        raise ValueError("There is no answer to score yet.")
    p_ids = encode_prompt(lm, prompt)
    r_ids = lm.tokenizer(response, add_special_tokens=False)["input_ids"]
    if not r_ids:                              # ids[-0:] below would score the whole prompt instead
        raise ValueError("The answer has no tokens to score.")
    if append_eos and lm.tokenizer.eos_token_id is not None:
        r_ids = r_ids + [lm.tokenizer.eos_token_id]
    ids = (p_ids + r_ids)[-lm.context_length:]
    n = min(len(r_ids), len(ids) - 1)
    logits = lm.logits(ids, n + 1)                             # [n+1, vocab]: the last n+1 positions only
    logp = torch.log_softmax(logits[:-1].float(), dim=-1)      # [n, vocab]: each position predicts the next id
    target = torch.tensor(ids[len(ids) - n:])
    per_tok = logp.gather(1, target[:, None])[:, 0]
    return Score(float(per_tok.sum()), [lm.tokenizer.decode([t]) for t in ids[-n:]], per_tok.tolist())
