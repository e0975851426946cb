"""The streaming generation engine and the scorer, shared by every tab, benchmark and test.

stream() is a plain generator over a KV-cached decoding loop that runs in the caller's thread: when the caller
stops iterating (Stop button, closed tab), generation stops at once and no thread is left behind.
"""
import numbers
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

import torch

from llm_demo import config
from llm_demo.models import LoadedModel
from llm_demo.sampling import SamplingConfig, StepInfo, next_token


# One forward pass at a time in this process, whatever the model: on a small CPU, two passes at once only split
# the same cores between two thread teams (and can be several times slower than taking turns).
FORWARD_LOCK = threading.Lock()


def forward(lm: LoadedModel, **inputs):
    """lm.model(**inputs) in inference mode, holding FORWARD_LOCK."""
    with FORWARD_LOCK, torch.inference_mode():
        return lm.model(**inputs)


@dataclass
class Piece:
    """What stream() yields per generated token: the new text (may be "" while a character is incomplete).
    With prefix_ids, the first piece also carries the prefix's text, so joining the pieces gives the whole answer."""
    text: str
    token_id: int | None = None  # None only when prefix_ids already ended the answer (nothing was generated)
    step: StepInfo | None = None
    done: bool = False
    finish_reason: str = ""      # "end of turn" | "stop string" | "max new tokens" | "context full" | "time limit"
    n_tokens: int = 0            # tokens generated so far


@dataclass
class Score:
    """Log-likelihood of a response given a prompt: sum and per token (natural log)."""
    total: float
    tokens: list[str] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return self.total / max(1, len(self.logprobs))


def encode_prompt(lm: LoadedModel, prompt: str) -> list[int]:
    """Token ids for a prompt string built by models.build_prompt (a chat template already holds its specials)."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("The prompt is empty: type something first.")
    return lm.tokenizer(prompt, add_special_tokens=not lm.spec.chat)["input_ids"]


def prompt_limit(lm: LoadedModel) -> int:
    """The most prompt tokens a request may send: the model's context less one position for the answer, and the
    deployment's cap (config.MAX_PROMPT_TOKENS)."""
    return min(config.MAX_PROMPT_TOKENS, lm.context_length - 1)


def too_long_sentence(lm: LoadedModel, n_tokens: int, what: str = "The prompt") -> str:
    """Why a prompt of n_tokens is refused, naming the limit and what to change."""
    limit = prompt_limit(lm)
    why = (f"{lm.spec.label} reads at most {lm.context_length} tokens, prompt and answer together"
           if limit == lm.context_length - 1 else f"this deployment accepts prompts of at most {limit} tokens")
    return f"{what} is {n_tokens:,} tokens, and {why}: shorten it to at most {limit:,} tokens."


def stop_token_ids(lm: LoadedModel) -> set[int]:
    """End-of-sequence and end-of-turn ids, from the tokenizer and the generation config."""
    ids = {lm.tokenizer.eos_token_id} | getattr(lm, "eos_ids", set())    # llama.cpp: the GGUF's own eos
    gen_eos = getattr(getattr(getattr(lm, "model", None), "generation_config", None), "eos_token_id", None)
    ids.update(gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos])
    return {int(i) for i in ids if i is not None}


def _safe_end(text: str, stops: tuple[str, ...]) -> int:
    """How much of text can be shown: never a broken UTF-8 character, never the start of a stop string."""
    end = len(text)
    if text.endswith("\ufffd"):        # the decoder's replacement char: the last character is still incomplete
        end = len(text.rstrip("\ufffd"))
    for s in stops:
        for k in range(min(len(s) - 1, end), 0, -1):
            if text[:end].endswith(s[:k]):
                end -= k
                break
    return end


def step_seed(seed: int, step: int) -> int:
    """The generator seed for answer token number `step` (0-based) of a stream seeded with `seed` (splitmix64).

    Each draw reseeds from (seed, step) instead of consuming one long random sequence, so the draw for token k+1
    does not depend on how tokens 1..k were obtained: a stream continued after k given tokens (a branch, a
    step-mode session, a prefix replayed on another engine) draws exactly as the stream that generated them.
    """
    z = (int(seed) * 0x9E3779B97F4A7C15 + (int(step) + 1) * 0xBF58476D1CE4E5B9) % 2**64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
    return (z ^ (z >> 31)) >> 1                  # torch seeds are < 2^63


def vocab_size(lm: LoadedModel) -> int:
    """Rows of the model's output layer (may exceed len(tokenizer): padded vocabularies)."""
    if getattr(lm, "backend", "") == "llama.cpp":           # no torch model: llama.cpp reports its own
        return int(lm.n_vocab)
    return int(getattr(getattr(lm.model, "config", None), "vocab_size", 0) or len(lm.tokenizer))


class Decoder:
    """One stream's state between forward passes: its ids, its own seeded torch.Generator, its sampling settings
    and stop conditions. stream() below and batching.stream() both feed it one row of logits per token.

    prefix_ids are answer tokens taken as already generated (a branch point and its forced token, the picks of a
    step-mode session): they count towards max new tokens and the context, feed the repetition penalty, take part
    in stop strings, and the draws after them use the seeds of their positions (step_seed). If the prefix itself
    ends the answer (an end-of-turn token, a stop string, max new tokens), `finished` holds the one Piece the
    stream yields; a token after such an end is refused with a sentence.
    """

    def __init__(self, lm: LoadedModel, prompt: str, cfg: SamplingConfig, inspect: int = 0,
                 ignore_eos: bool = False, prefix_ids=()):
        ids = encode_prompt(lm, prompt)
        if len(ids) > prompt_limit(lm):
            raise ValueError(too_long_sentence(lm, len(ids)))
        prefix = _check_prefix(lm, prefix_ids)
        self.lm, self.cfg, self.inspect = lm, cfg, inspect
        self.stops = tuple(s for s in cfg.stop if s)
        self.eos = set() if ignore_eos else stop_token_ids(lm)
        self.gen = torch.Generator(device="cpu")
        self.prompt_len = len(ids)
        self.all_ids = torch.tensor([ids], dtype=torch.long)   # [1, seq], on CPU for the repetition penalty
        self.new_ids: list[int] = []
        self.shown = 0
        self.deadline = time.monotonic() + config.GENERATION_TIMEOUT_S
        self.finished: Piece | None = None
        for i, tok in enumerate(prefix):
            if self.finished is not None:
                raise ValueError(f"prefix_ids[{i}] comes after the answer already ended "
                                 f"({self.finished.finish_reason}) at prefix_ids[{i - 1}].")
            piece = self._accept(tok, None, keep_shown=True)   # shown stays 0: the first piece carries the prefix
            if piece.done:
                piece.token_id = None
                self.finished = piece

    @property
    def last_token(self) -> int:
        return int(self.all_ids[0, -1])

    def advance(self, logits: torch.Tensor) -> Piece:
        """Sample the next token from logits [vocab] and say what to show and whether the stream is done."""
        self.gen.manual_seed(step_seed(self.cfg.seed, self.all_ids.shape[1] - self.prompt_len))
        tok, info = next_token(logits.float().cpu(), self.all_ids, self.cfg, self.gen, self.inspect)
        return self._accept(tok, info if self.inspect else None)

    def _accept(self, tok: int, info: StepInfo | None, keep_shown: bool = False) -> Piece:
        """Append one answer token (sampled or given) and apply the stop conditions."""
        self.all_ids = torch.cat([self.all_ids, torch.tensor([[tok]])], dim=1)
        reason = ""
        if tok in self.eos:
            reason = "end of turn"
        else:
            self.new_ids.append(tok)
        text = self.lm.tokenizer.decode(self.new_ids, skip_special_tokens=True)
        cut = min((text.find(s) for s in self.stops if s in text), default=-1)     # the earliest in the text
        if cut >= 0:
            text, reason = text[:cut], "stop string"
        elif not reason and len(self.new_ids) >= self.cfg.max_new_tokens:
            reason = "max new tokens"
        elif not reason and self.all_ids.shape[1] > self.lm.context_length:
            reason = "context full"
        elif not reason and time.monotonic() > self.deadline:
            reason = f"time limit ({config.GENERATION_TIMEOUT_S} s)"
        end = len(text) if reason else _safe_end(text, self.stops)
        piece = Piece(text[self.shown:end], tok, info, bool(reason), reason, len(self.new_ids))
        if not keep_shown:
            self.shown = max(self.shown, end)
        return piece


def _check_prefix(lm: LoadedModel, prefix_ids) -> list[int]:
    """prefix_ids as a list of ints, each a token of this model's vocabulary (else a sentence saying which)."""
    if isinstance(prefix_ids, (str, bytes)) or not hasattr(prefix_ids, "__iter__"):
        raise ValueError(f"prefix_ids must be a list of token ids, got {type(prefix_ids).__name__}.")
    out, n = [], vocab_size(lm)
    for i, t in enumerate(prefix_ids):
        if isinstance(t, bool) or not isinstance(t, numbers.Integral):
            raise ValueError(f"prefix_ids[{i}] must be a whole number, got {t!r}.")
        if not 0 <= int(t) < n:
            raise ValueError(f"prefix_ids[{i}] = {int(t)} is not a token of {lm.spec.label} (ids run from 0 to {n - 1}).")
        out.append(int(t))
    return out


def stream(lm: LoadedModel, prompt: str, cfg: SamplingConfig, *, inspect: int = 0,
           ignore_eos: bool = False, prefix_ids=()) -> Iterator[Piece]:
    """Yield Pieces as tokens are produced. inspect=N attaches the sampler's view of the top-N candidates.
    prefix_ids: answer tokens taken as already generated; generation continues after them (see Decoder).

    Inference mode is entered per step, never held across a yield: the consumer may resume us on another thread.
    """
    dec = Decoder(lm, prompt, cfg, inspect, ignore_eos, prefix_ids)
    if dec.finished is not None:
        yield dec.finished
        return
    if lm.backend == "llama.cpp":                              # llama.cpp computes the logits, Decoder samples
        from llm_demo import llamacpp
        yield from llamacpp.decode_alone(lm, dec)
        return
    # logits_to_keep=1: only the last position's logits (a full [seq, vocab] matrix costs as much as the pass)
    out = forward(lm, input_ids=dec.all_ids.to(lm.device), use_cache=True, logits_to_keep=1)
    while True:
        with torch.inference_mode():
            piece = dec.advance(out.logits[0, -1])             # logits [vocab]
        yield piece
        if piece.done:
            return
        out = forward(lm, input_ids=torch.tensor([[piece.token_id]], device=lm.device), cache=out.cache,
                      use_cache=True)


def collect(pieces: Iterator[Piece]) -> tuple[str, str]:
    """A whole answer from a stream of pieces: (text, finish_reason)."""
    text, reason = "", ""
    for piece in pieces:
        text += piece.text
        reason = piece.finish_reason or reason
    return text, reason


def generate(lm: LoadedModel, prompt: str, cfg: SamplingConfig, **kw) -> tuple[str, str]:
    """The whole answer at once: (text, finish_reason)."""
    return collect(stream(lm, prompt, cfg, **kw))


def score(lm: LoadedModel, prompt: str, response: str, *, append_eos: bool = False) -> Score:
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
    if lm.backend == "llama.cpp":
        logits = lm.logits(ids, n + 1)                         # [n+1, vocab]: the last n+1 positions only
    else:
        logits = forward(lm, input_ids=torch.tensor([ids], device=lm.device)).logits[0, -(n + 1):].float().cpu()
    logp = torch.log_softmax(logits[:-1].float(), dim=-1)      # [n, vocab]: each position predicts the next id
    target = torch.tensor(ids[len(ids) - n:])
    per_tok = logp.gather(1, target[:, None])[:, 0]
    return Score(float(per_tok.sum()), [lm.tokenizer.decode([t]) for t in ids[-n:]], per_tok.tolist())
