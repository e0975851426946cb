"""Continuous batching: one engine loop per model (a thread) advances every active stream of that model each step.

Each stream keeps its own engine.Decoder (ids, seeded generator, sampling settings, stop conditions, the sampler's
view); the model's forward pass and the sampling pass (backend.advance_all) are shared. A new stream joins at the
next step, its prompt prefilled in chunks between decode steps (at most config.PREFILL_CHUNK prompt tokens per step,
shared by the joining streams; each stream's prompt cut as it is cut alone), so running streams are never stalled by
more than one chunk; a stream whose reader left is dropped before the next step.
Readers only consume: each stream has its own queue of Pieces. Same contract as engine.stream():
`for piece in batching.stream(lm, prompt, SamplingConfig()): print(piece.text, end="")`.

The backend supplies the batch's model side (lm.batcher(): a core with admit/step/remove/reset, see BatchCore);
this module never names a backend.
"""
import atexit
import logging
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Iterator, Protocol

import torch

from llm_demo import backend, config, engine
from llm_demo.backend import Backend
from llm_demo.sampling import SamplingConfig

log = logging.getLogger("llm_demo")

RESTARTED = ("The model's engine stopped unexpectedly and was restarted; your answer was cut off here. "
             "Send it again.")
SHUTTING_DOWN = "The server is shutting down: this answer was cut off."


class EngineFault(RuntimeError):
    """A stream ended by a fault outside its own settings (the shared step failed, the loop died, shutdown)."""


@dataclass(eq=False)
class Row:
    """One stream inside an Engine. Only the engine loop touches dec, fed and state; readers touch queue."""
    dec: engine.Decoder
    ready: threading.Condition                     # shares the engine's lock
    queue: deque = field(default_factory=deque)   # produced, not yet read
    error: Exception | None = None
    closed: bool = False                           # the reader has gone
    finished: bool = False                         # the last piece (or an error) is queued
    fed: int = 0                                   # ids of dec.all_ids already in the model's cache
    decoding: bool = False                         # prefilled and its first token drawn: one token per step now
    state: dict = field(default_factory=dict)      # the core's own per-stream state (a KV slot, a prefill cache)


class BatchCore(Protocol):
    """The model's side of a batch (transformers_backend.TorchBatch, llamacpp.LlamaBatch). Called from the engine
    loop's thread only."""

    def admit(self, row: Row) -> bool:
        """Reserve what the row needs (a KV slot, cache room); False: not now, try at a later step. ValueError: the
        request can never fit (the sentence gives the numbers)."""

    def chunk(self, row: Row) -> int:
        """How many ids the row's next prefill piece evaluates (its prompt is cut as it is cut alone)."""

    def step(self, decode: list[Row], prefill: list[Row]) -> tuple[torch.Tensor | None, list]:
        """One forward step: the next token of every decode row (each has its last token not yet in the cache) and
        the next piece of each prefill row. Returns (logits [len(decode), vocab] or None, per prefill row: its
        logits [vocab] once its last id is in, else None, or the Exception that row alone failed with). Raises when
        the shared pass failed (every row of the step is then ended)."""

    def remove(self, rows: list[Row]) -> None:
        """Forget these rows' KV state (finished, failed or left)."""

    def reset(self) -> None:
        """Forget everything (after a failed step or a crash of the loop)."""


@dataclass
class BatchStats:
    steps: int = 0            # loop steps that ran the model
    row_steps: int = 0        # tokens sampled in those steps
    max_rows: int = 0         # the most streams advanced by one step
    prefill_chunks: int = 0   # prompt chunks evaluated
    restarts: int = 0         # times the loop died and was restarted

    @property
    def mean_rows(self) -> float:
        return self.row_steps / self.steps if self.steps else 0.0


class Engine:
    """The engine loop of one model: a daemon thread started on demand, stopped after IDLE_S without streams."""

    IDLE_S = 30.0

    def __init__(self, core: BatchCore, max_rows: int | None = None):
        self.core, self.max_rows = core, max_rows or config.MAX_BATCH_SIZE
        self.lock = threading.Lock()
        self.work = threading.Condition(self.lock)    # the loop waits here for streams
        self.waiting: deque[Row] = deque()            # submitted, not yet admitted
        self.active: list[Row] = []                   # admitted: being prefilled or decoding
        self.thread: threading.Thread | None = None
        self.stopping = False
        self.stats = BatchStats()

    # ------------------------------------------------------------ the readers' side

    def submit(self, dec: engine.Decoder) -> Row:
        row = Row(dec, threading.Condition(self.lock))
        with self.lock:
            if self.stopping:
                raise EngineFault(SHUTTING_DOWN)
            self.waiting.append(row)
            self._ensure_loop()
            self.work.notify()
        return row

    def next_piece(self, row: Row) -> engine.Piece:
        with self.lock:
            while not row.queue and row.error is None:
                self._ensure_loop()
                row.ready.wait(1.0)        # woken by the loop; the timeout only re-checks that the loop lives
            if row.queue:
                return row.queue.popleft()
            raise row.error

    def leave(self, row: Row) -> None:
        """The reader has stopped: the loop drops the row before its next step."""
        with self.lock:
            row.closed = True
            if row in self.waiting:
                self.waiting.remove(row)
            self.work.notify()

    @property
    def rows(self) -> list[Row]:
        """The streams in the batch now (being prefilled or decoding)."""
        with self.lock:
            return list(self.active)

    # ------------------------------------------------------------ the loop's life

    def _ensure_loop(self) -> None:
        """Under the lock: start the loop if it is not running; if it died, tell its streams and start afresh."""
        if self.thread is not None and self.thread.is_alive():
            return
        if self.thread is not None and not self.thread.clean_exit:
            self._crashed(EngineFault(RESTARTED))
        if self.stopping or not (self.waiting or self.active):
            self.thread = None
            return
        self.thread = threading.Thread(target=self._run, name="llm-demo-engine", daemon=True)
        self.thread.clean_exit = False
        self.thread.start()

    def _crashed(self, fault: Exception) -> None:
        """Under the lock: every admitted stream gets the fault's sentence; the model's state is forgotten."""
        self.stats.restarts += 1
        for row in self.active:
            self._fail(row, fault)
        self.active = []
        try:
            self.core.reset()
        except Exception:  # noqa: BLE001 - a broken core is rebuilt lazily by the next admit
            log.exception("resetting the batch after a crash failed")

    def _run(self) -> None:
        me = threading.current_thread()
        try:
            while self._step_once():
                pass
            me.clean_exit = True
        except BaseException as exc:  # noqa: BLE001 - the loop died: tell its streams, restart if work remains
            log.error("the engine loop died; restarting it", exc_info=exc)
            with self.lock:
                self._crashed(EngineFault(RESTARTED))
                me.clean_exit = True          # handled here: _ensure_loop must not report it twice
                self.thread = None
                self._ensure_loop()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the loop: streams still running get a sentence; returns once the thread has ended (or timeout)."""
        with self.lock:
            self.stopping = True
            for row in list(self.waiting):
                self._fail(row, EngineFault(SHUTTING_DOWN))
            self.waiting.clear()
            self.work.notify_all()
            thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self.lock:
            for row in self.active:
                self._fail(row, EngineFault(SHUTTING_DOWN))
            self.active = []
            try:
                self.core.reset()
            except Exception:  # noqa: BLE001 - shutting down anyway
                pass

    # ------------------------------------------------------------ one step of the loop

    def _step_once(self) -> bool:
        """Plan under the lock, compute outside it, publish under it. False: the loop should end."""
        with self.lock:
            while True:
                if self.stopping:
                    return False
                self._drop_gone()
                self._admit()
                if self.active:
                    break
                if not self.work.wait(self.IDLE_S) and not self.waiting and not self.active:
                    self.thread = None        # idle: this thread ends; the next stream starts a new one
                    return False
            decode = [r for r in self.active if r.decoding]
            prefill, budget = [], config.PREFILL_CHUNK
            for r in self.active:             # first come, first prefilled; the first one always gets its piece
                if not r.decoding and (not prefill or self.core.chunk(r) <= budget):
                    prefill.append(r)
                    budget -= self.core.chunk(r)
        produced = self._compute(decode, prefill)
        with self.lock:
            for row, got in produced.items():
                if isinstance(got, Exception):
                    self._fail(row, got)
                else:
                    row.queue.append(got)
                    row.finished = got.done
                    row.ready.notify()
        return True

    def _drop_gone(self) -> None:
        gone = [r for r in self.active if r.closed or r.finished]
        if gone:
            self.active = [r for r in self.active if not (r.closed or r.finished)]
            self.core.remove(gone)

    def _admit(self) -> None:
        """Move waiting streams into the batch while there is room (the cap, and whatever the core reserves)."""
        while self.waiting and len(self.active) < self.max_rows:
            row = self.waiting[0]
            try:
                if not self.core.admit(row):
                    return                    # no room now: it stays first in line
            except Exception as exc:  # noqa: BLE001 - refused (ValueError with the numbers) or a fault of its own
                self.waiting.popleft()
                self._fail(row, exc)
                continue
            self.waiting.popleft()
            self.active.append(row)

    def _compute(self, decode: list[Row], prefill: list[Row]) -> dict:
        """Outside the lock (only this thread touches the core and the rows' decoders): the step and its sampling."""
        try:
            logits, firsts = self.core.step(decode, prefill)
        except Exception as exc:  # noqa: BLE001 - the shared pass failed: every stream of the step says so
            log.error("a batch step failed", exc_info=exc)
            self.core.remove(decode + prefill)
            fault = exc if isinstance(exc, ValueError) else EngineFault(
                f"The model failed while computing this answer ({type(exc).__name__}: {str(exc)[:160]}).")
            return {r: fault for r in decode + prefill}
        produced: dict = {}
        rows, rows_logits = list(decode), [logits] if logits is not None else []
        self.stats.prefill_chunks += len(prefill)
        for row, first in zip(prefill, firsts):
            if isinstance(first, Exception):
                produced[row] = first
            elif first is not None:
                row.decoding = True
                rows.append(row)
                rows_logits.append(first[None])
        if rows:
            produced.update(zip(rows, _sample(rows, torch.cat(rows_logits))))
            self.stats.steps += 1
            self.stats.row_steps += len(rows)
            self.stats.max_rows = max(self.stats.max_rows, len(rows))
        failed = [r for r, got in produced.items() if isinstance(got, Exception)]
        if failed:
            self.core.remove(failed)
        return produced

    def _fail(self, row: Row, exc: Exception) -> None:
        """Under the lock: end the stream with exc (its reader raises it)."""
        row.error, row.finished = exc, True
        row.ready.notify()


def _sample(rows: list[Row], logits: torch.Tensor) -> list:
    """One sampling pass for the step (backend.advance_all). If it fails, each stream is sampled alone from the
    same state, so one stream's failure ends that stream only (its sentence) and the others get their tokens."""
    decs = [r.dec for r in rows]
    saved = [(d.all_ids, len(d.new_ids), d.shown) for d in decs]
    try:
        with torch.inference_mode():
            return backend.advance_all(decs, logits)
    except Exception:  # noqa: BLE001 - find whose it was
        pass
    out = []
    for i, (d, (ids, n_new, shown)) in enumerate(zip(decs, saved)):
        d.all_ids, d.shown = ids, shown
        del d.new_ids[n_new:]
        try:
            with torch.inference_mode():
                out.append(d.advance(logits[i]))
        except Exception as exc:  # noqa: BLE001 - this stream's own failure
            log.error("sampling one stream failed", exc_info=exc)
            out.append(exc if isinstance(exc, ValueError) else EngineFault(
                f"This answer failed while choosing its next token ({type(exc).__name__}); the others carry on."))
    return out


# ---------------------------------------------------------------- one Engine per loaded model

# lm.batch_key -> its Engine, or None when the backend's streams cannot share a pass
_engines: "weakref.WeakKeyDictionary[object, Engine | None]" = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def batcher_for(lm: Backend) -> "Engine | None":
    """The model's one engine loop, its core made by the backend on first use (None: its streams decode alone).
    The engine holds no reference to the model, so an evicted model is freed."""
    key = lm.batch_key
    with _registry_lock:
        if key not in _engines:
            core = lm.batcher()
            _engines[key] = Engine(core) if core is not None else None
        return _engines[key]


def batchable(lm: Backend) -> bool:
    """Whether the model's streams share forward passes (transformers: a plain per-layer KV cache we can pad and
    merge, no sliding windows; llama.cpp: one KV slot per stream)."""
    return batcher_for(lm) is not None


def shutdown(timeout: float = 5.0) -> None:
    """End every engine loop (at exit, or a test's teardown); a later stream starts a fresh loop."""
    with _registry_lock:
        found = [e for e in _engines.values() if e is not None]
    deadline = time.monotonic() + timeout
    for e in found:
        e.shutdown(max(0.1, deadline - time.monotonic()))
        with e.lock:
            e.stopping = False


atexit.register(shutdown)


def stream(lm: Backend, prompt: str, cfg: SamplingConfig, *, inspect: int = 0,
           ignore_eos: bool = False, prefix_ids=()) -> Iterator[engine.Piece]:
    """engine.stream(), but advanced by the model's engine loop together with its other streams (batching on)."""
    eng = batcher_for(lm) if config.BATCHING else None
    if eng is None:
        yield from engine.stream(lm, prompt, cfg, inspect=inspect, ignore_eos=ignore_eos, prefix_ids=prefix_ids)
        return
    dec = engine.Decoder(lm, prompt, cfg, inspect, ignore_eos, prefix_ids)   # bad settings: refused, never joins
    if dec.finished is not None:           # the prefix already ended the answer: nothing to compute
        yield dec.finished
        return
    row = eng.submit(dec)
    try:
        while True:
            piece = eng.next_piece(row)
            yield piece
            if piece.done:
                return
    finally:
        eng.leave(row)


def generate(lm: Backend, prompt: str, cfg: SamplingConfig, **kw) -> tuple[str, str]:
    """The whole answer at once through the batch: (text, finish_reason)."""
    return engine.collect(stream(lm, prompt, cfg, **kw))
