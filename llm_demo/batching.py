"""Continuous batching on the CPU: concurrent streams of one model share each forward pass.

Each stream keeps its own engine.Decoder (ids, seeded torch.Generator, sampling settings, stop conditions, the
sampler's view); only the forward pass is shared. There is no background thread: a reader that needs a token
and finds the model idle runs one step for every stream in the batch, so a reader that stops iterating simply
drops out (at the next step) and nothing runs when nobody reads. Same contract as engine.stream():
`for piece in batching.stream(lm, prompt, SamplingConfig()): print(piece.text, end="")`.

Layout of the shared KV cache: rows are left-padded to one length; attention_mask [batch, length] marks real
positions with 1 and padding with 0, and position_ids give each row its own positions, so a row computes
what it would compute alone.
"""
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Iterator

import torch

from llm_demo import config, engine
from llm_demo.backend import Backend
from llm_demo.sampling import SamplingConfig


@dataclass(eq=False)
class _Row:
    """One stream inside a Batcher."""
    dec: engine.Decoder
    pieces: deque = field(default_factory=deque)   # produced, not yet read
    error: Exception | None = None
    closed: bool = False                           # the reader has gone
    finished: bool = False
    member: bool = False                           # pending, being prefilled, or in the batch


@dataclass
class BatchStats:
    steps: int = 0            # forward passes (prefills count one each)
    row_steps: int = 0        # tokens produced by those passes
    max_rows: int = 0         # the largest batch seen
    parked: int = 0           # times a row left the batch because its reader fell behind

    @property
    def mean_rows(self) -> float:
        return self.row_steps / self.steps if self.steps else 0.0


class Batcher:
    """The batch of one model. Readers call next_piece(); whoever finds no token ready and the model idle leads."""

    def __init__(self, max_rows: int = config.MAX_BATCH_SIZE, max_ahead: int = config.BATCH_MAX_AHEAD,
                 lead_ahead: int = config.BATCH_LEAD_AHEAD):
        self.max_rows, self.max_ahead, self.lead_ahead = max_rows, max_ahead, lead_ahead
        self.cond = threading.Condition()
        self.busy = False                # a leader is computing a step
        self.rows: list[_Row] = []       # in cache order
        self.pending: list[_Row] = []    # waiting for their (re)prefill
        self.cache = None                # transformers DynamicCache [rows, heads, length, head_dim] per layer
        self.mask: torch.Tensor | None = None   # [rows, length], 1 = real token, 0 = left padding
        self.stats = BatchStats()

    # ------------------------------------------------------------ the readers' side

    def next_piece(self, row: _Row) -> engine.Piece:
        led = False
        with self.cond:
            while row.error is None:
                # Done when a token is ready; a reader that just led keeps leading up to lead_ahead tokens when it
                # shares the batch, so the model is not idle while every reader is away (e.g. sending its last token
                # to a browser). Never for a first token: that would only delay it.
                if row.pieces and (not led or len(row.pieces) >= self.lead_ahead or row.finished or self.busy
                                   or len(self.rows) < 2 or row.pieces[-1].n_tokens <= 1):
                    break
                if not row.member and not row.finished:
                    row.member = True                 # new, or parked after running ahead of its reader
                    self.pending.append(row)
                if self.busy:
                    self.cond.wait()
                    continue
                led = True
                self.busy = True
                joins = self._plan()
                produced, ok = {}, False
                self.cond.release()
                try:
                    produced, ok = self._compute(joins), True
                except Exception as exc:  # noqa: BLE001 - the model failed: every stream of this step says so
                    produced = {r: exc for r in self.rows + joins}
                finally:
                    self.cond.acquire()
                    if not ok:
                        self._reset()                 # the shared cache may be half-updated: start afresh
                    self._publish(produced)
                    self.busy = False
                    self.cond.notify_all()
            if row.error is not None:
                raise row.error
            return row.pieces.popleft()

    def leave(self, row: _Row) -> None:
        """The reader has stopped: drop the row now if the model is idle, else at the leader's next publish."""
        with self.cond:
            row.closed = True
            if row in self.pending:
                self.pending.remove(row)
                row.member = False
            if not self.busy:
                self._drop(lambda r: r.closed)

    # ------------------------------------------------------------ the leader's side

    def _plan(self) -> list[_Row]:
        """Under the lock: drop gone and far-ahead rows, admit waiting rows while there is room."""
        ahead = [r for r in self.rows if len(r.pieces) >= self.max_ahead and not r.closed]
        self.stats.parked += len(ahead)
        self._drop(lambda r: r.closed or r.finished or len(r.pieces) >= self.max_ahead)
        room = self.max_rows - len(self.rows)
        joins, self.pending = self.pending[:max(room, 0)], self.pending[max(room, 0):]
        return joins

    def _compute(self, joins: list[_Row]) -> dict:
        """Outside the lock (only the leader touches the batch): one decode step for the batch, then prefills."""
        produced: dict = {}
        if self.rows:
            lm = self.rows[0].dec.lm
            n = len(self.rows)
            inp = torch.tensor([[r.dec.last_token] for r in self.rows], device=lm.device)          # [n, 1]
            pos = torch.tensor([[r.dec.all_ids.shape[1] - 1] for r in self.rows], device=lm.device)
            self.mask = torch.cat([self.mask, torch.ones(n, 1, dtype=torch.long, device=lm.device)], dim=1)
            out = lm.forward(input_ids=inp, attention_mask=self.mask, position_ids=pos, cache=self.cache,
                                 use_cache=True)
            self.cache = out.cache
            with torch.inference_mode():
                for i, r in enumerate(self.rows):
                    produced[r] = r.dec.advance(out.logits[i, -1])                                   # [vocab]
            self._count(n)
        for r in joins:
            try:
                lm = r.dec.lm
                out = lm.forward(input_ids=r.dec.all_ids.to(lm.device), use_cache=True, logits_to_keep=1)
                with torch.inference_mode():
                    produced[r] = r.dec.advance(out.logits[0, -1])
                self._count(1)
                if not produced[r].done:
                    self._merge(r, out.cache)
            except Exception as exc:  # noqa: BLE001 - one stream's failure is its own
                produced[r] = exc
        return produced

    def _publish(self, produced: dict) -> None:
        """Under the lock: hand each stream its piece (or error) and drop finished rows."""
        for r, got in produced.items():
            if isinstance(got, Exception):
                r.error, r.finished = got, True
            else:
                r.pieces.append(got)
                r.finished = got.done
            r.member = r.member and r in self.rows      # a join that ended at its first token never merged
        self._drop(lambda r: r.closed or r.finished)

    def _count(self, rows: int) -> None:
        self.stats.steps += 1
        self.stats.row_steps += rows
        self.stats.max_rows = max(self.stats.max_rows, len(self.rows))

    # ------------------------------------------------------------ the shared cache

    def _merge(self, row: _Row, cache) -> None:
        """Append a freshly prefilled row (cache length p) to the batch (length L), left-padding to max(L, p)."""
        p = cache.layers[0].keys.shape[-2]
        ones = torch.ones(1, p, dtype=torch.long, device=cache.layers[0].keys.device)
        if not self.rows:
            self.rows, self.cache, self.mask = [row], cache, ones
            return
        length = self.mask.shape[1]
        width = max(length, p)
        for mine, new in zip(self.cache.layers, cache.layers):
            mine.keys = torch.cat([_pad_left(mine.keys, width), _pad_left(new.keys, width)], dim=0)
            mine.values = torch.cat([_pad_left(mine.values, width), _pad_left(new.values, width)], dim=0)
        self.mask = torch.cat([_pad_left(self.mask, width), _pad_left(ones, width)], dim=0)
        self.rows.append(row)

    def _drop(self, gone) -> None:
        """Remove rows for which gone(row) is true from the batch and trim padding every row has."""
        keep = [i for i, r in enumerate(self.rows) if not gone(r)]
        if len(keep) == len(self.rows):
            return
        for r in self.rows:
            r.member = r.member and not gone(r)
        if not keep:
            self._reset()
            return
        idx = torch.tensor(keep, device=self.mask.device)
        self.mask = self.mask.index_select(0, idx)
        start = int(self.mask.any(dim=0).long().argmax())          # first column some row still uses
        self.mask = self.mask[:, start:]
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, idx)[:, :, start:]
            layer.values = layer.values.index_select(0, idx)[:, :, start:]
        self.rows = [self.rows[i] for i in keep]

    def _reset(self) -> None:
        for r in self.rows:
            r.member = False
        self.rows, self.cache, self.mask = [], None, None


def _pad_left(t: torch.Tensor, width: int) -> torch.Tensor:
    """Zero-pad the sequence dimension (keys/values: dim 2 of 4; mask: dim 1 of 2) on the left up to width."""
    dim = 2 if t.dim() == 4 else 1
    missing = width - t.shape[dim]
    if missing == 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([torch.zeros(shape, dtype=t.dtype, device=t.device), t], dim=dim)


# ---------------------------------------------------------------- one Batcher per loaded model

# lm.batch_key -> its Batcher, or None when the backend's streams cannot share a pass
_batchers: "weakref.WeakKeyDictionary[object, Batcher | None]" = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def batcher_for(lm: Backend) -> "Batcher | None":
    """The model's one batch, made by the backend on first use (None: its streams decode alone). The batch holds
    no reference to the model, so an evicted model is freed."""
    key = lm.batch_key
    with _registry_lock:
        if key not in _batchers:
            _batchers[key] = lm.batcher()
        return _batchers[key]


def batchable(lm: Backend) -> bool:
    """Whether the model's streams share forward passes (transformers: a plain per-layer KV cache we can pad and
    merge, no sliding windows; llama.cpp: one KV slot per stream)."""
    return batcher_for(lm) is not None


def stream(lm: Backend, prompt: str, cfg: SamplingConfig, *, inspect: int = 0,
           ignore_eos: bool = False, prefix_ids=()) -> Iterator[engine.Piece]:
    """engine.stream(), but sharing forward passes with the model's other streams (when batching is on)."""
    batch = batcher_for(lm) if config.BATCHING else None
    if batch is None:
        yield from engine.stream(lm, prompt, cfg, inspect=inspect, ignore_eos=ignore_eos, prefix_ids=prefix_ids)
        return
    row = _Row(engine.Decoder(lm, prompt, cfg, inspect, ignore_eos, prefix_ids))
    if row.dec.finished is not None:           # the prefix already ended the answer: nothing to compute
        yield row.dec.finished
        return
    try:
        while True:
            piece = batch.next_piece(row)
            yield piece
            if piece.done:
                return
    finally:
        batch.leave(row)


def generate(lm: Backend, prompt: str, cfg: SamplingConfig, **kw) -> tuple[str, str]:
    """The whole answer at once through the batch: (text, finish_reason)."""
    return engine.collect(stream(lm, prompt, cfg, **kw))
