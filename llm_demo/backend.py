"""What every backend shares, and the protocol they implement: the engine, batching, chat and compare call these and
never name a backend (models.py alone knows the concrete ones: transformers_backend, llamacpp, remote).

A backend computes next-token logits; `Decoder` (one stream's ids, seed, sampling settings and stop conditions) and
`advance_all` (every stream of a batch in one sampling pass) turn each logits row into a `Piece`, so every backend
samples with the same code (sampling.sample_rows).
"""
import numbers
import threading
import time
from dataclasses import dataclass
from typing import Iterator, Protocol, runtime_checkable

import torch

from llm_demo import config
from llm_demo.sampling import SamplingConfig, StepInfo, sample_rows, step_seed  # noqa: F401 (step_seed: re-exported)


# One forward pass at a time in this process, whatever the model: on a small CPU, two passes at once only split
# the same cores between two thread teams (and can be several times slower than taking turns).
FORWARD_LOCK = threading.Lock()


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


def encode_prompt(lm: "Backend", prompt: str) -> list[int]:
    """Token ids for a prompt string built by models.build_prompt (a chat template already holds its specials)."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("The prompt is empty: type something first.")
    return lm.tokenizer(prompt, add_special_tokens=not lm.spec.chat)["input_ids"]


def prompt_limit(lm: "Backend") -> int:
    """The most prompt tokens a request may send: the model's context less one position for the answer, and the
    deployment's cap (config.MAX_PROMPT_TOKENS)."""
    return min(config.MAX_PROMPT_TOKENS, lm.context_length - 1)


def too_long_sentence(lm: "Backend", n_tokens: int, what: str = "The prompt") -> str:
    """Why a prompt of n_tokens is refused, naming the limit and what to change."""
    limit = prompt_limit(lm)
    why = (f"{lm.spec.label} reads at most {lm.context_length} tokens, prompt and answer together"
           if limit == lm.context_length - 1 else f"this deployment accepts prompts of at most {limit} tokens")
    return f"{what} is {n_tokens:,} tokens, and {why}: shorten it to at most {limit:,} tokens."


def stop_token_ids(lm: "Backend") -> set[int]:
    """End-of-sequence and end-of-turn ids, from the tokenizer and the generation config."""
    ids = {lm.tokenizer.eos_token_id} | set(lm.eos_ids)    # the backend's own (generation config, the GGUF's eos)
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


def vocab_size(lm: "Backend") -> int:
    """Rows of the model's output layer (may exceed len(tokenizer): padded vocabularies)."""
    return int(lm.vocab_size)


class Decoder:
    """One stream's state between forward passes: its ids, its sampling settings (seed included) and stop
    conditions. Each backend's decode and the batcher feed it one row of logits per token (advance, advance_all).

    prefix_ids are answer tokens taken as already generated (a branch point and its forced token, the picks of a
    step-mode session): they count towards max new tokens and the context, feed the repetition penalty, take part
    in stop strings, and the draws after them use the seeds of their positions (step_seed). If the prefix itself
    ends the answer (an end-of-turn token, a stop string, max new tokens), `finished` holds the one Piece the
    stream yields; a token after such an end is refused with a sentence.
    """

    def __init__(self, lm: "Backend", prompt: str, cfg: SamplingConfig, inspect: int = 0,
                 ignore_eos: bool = False, prefix_ids=()):
        ids = encode_prompt(lm, prompt)
        if len(ids) > prompt_limit(lm):
            raise ValueError(too_long_sentence(lm, len(ids)))
        prefix = _check_prefix(lm, prefix_ids)
        self.lm, self.cfg, self.inspect = lm, cfg, inspect
        self.stops = tuple(s for s in cfg.stop if s)
        self.eos = set() if ignore_eos else stop_token_ids(lm)
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

    @property
    def step(self) -> int:
        """The answer position of the next token (the draw's seed is (cfg.seed, step))."""
        return self.all_ids.shape[1] - self.prompt_len

    def advance(self, logits: torch.Tensor) -> Piece:
        """Sample the next token from logits [vocab] and say what to show and whether the stream is done."""
        return advance_all([self], logits[None])[0]

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


def advance_all(decs: list[Decoder], logits: torch.Tensor) -> list[Piece]:
    """Sample the next token of every stream in one batch: logits [len(decs), vocab] (any float dtype, CPU), row i
    for decs[i]; each decoder's stop conditions are applied and one Piece per decoder returned, in order."""
    if logits.dim() != 2 or logits.shape[0] != len(decs):
        raise ValueError(f"advance_all got logits of shape {tuple(logits.shape)} for {len(decs)} streams.")
    picks = sample_rows(logits.cpu(), [d.all_ids for d in decs], [d.cfg for d in decs], [d.step for d in decs],
                        [d.inspect for d in decs])
    return [d._accept(tok, info if d.inspect else None) for d, (tok, info) in zip(decs, picks)]


def _check_prefix(lm: "Backend", prefix_ids) -> list[int]:
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


@runtime_checkable
class Backend(Protocol):
    """What the engine needs from a loaded model. transformers_backend.LoadedModel, llamacpp.LlamaModel and
    remote.RemoteModel implement it; `models.load(name)` picks one."""
    spec: object                 # models.ModelSpec
    tokenizer: object            # a transformers tokenizer (None for a remote server: it tokenizes itself)
    device: str
    n_bytes: int
    load_seconds: float
    takes_messages: bool         # True: the backend takes chat messages and builds its own prompt (a remote server)

    @property
    def context_length(self) -> int:
        """Positions the model reads, prompt and answer together."""

    @property
    def vocab_size(self) -> int:
        """Rows of the output layer (may exceed len(tokenizer): padded vocabularies)."""

    @property
    def eos_ids(self) -> set[int]:
        """End-of-turn ids the backend knows beyond tokenizer.eos_token_id."""

    def logits(self, ids: list[int], n_out: int) -> torch.Tensor:
        """Next-token logits [n_out, vocab] (float32, CPU) after each of the last n_out tokens of ids."""

    def decode(self, dec: "Decoder") -> Iterator[Piece]:
        """One stream alone in the caller's thread: feed dec one next-token logits row per step until done."""

    def batcher(self):
        """A new batching.Batcher that computes next-token logits for a batch of streams of this model, or None
        when its streams cannot share a forward pass (they then decode alone)."""

    @property
    def batch_key(self) -> object:
        """What the model's one Batcher is kept under (weakly: an evicted model is freed)."""
