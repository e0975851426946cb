"""The llama.cpp backend for GGUF models (llama-cpp-python): llama.cpp computes each next-token logits row and our
own sampler (engine.Decoder -> sampling.next_token) picks the token, so every setting behaves as on transformers.

One llama.cpp context per model holds a KV-cache slot per concurrent stream (a llama.cpp "sequence id"); the
streams of one model share each llama_decode call (LlamaBatcher), the way llama.cpp's own server batches.
`models.load("smollm2-135m-instruct")` returns a LlamaModel when llama_cpp is importable.
"""
import atexit
import logging
import os
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import torch

from llm_demo import batching, config, gguf_formats
from llm_demo.backend import FORWARD_LOCK, Decoder


def plain_kernels() -> None:
    """Load every llama.cpp model without its CPU "extra buffer types" (AMX tiles, weight repacking): on an Intel Xeon
    with AMX (Sapphire Rapids, flags amx_tile/amx_int8) llama-cpp-python 0.3.36 built with -march=native answered its
    first llama_decode on the shipped Q4_1 file with SIGSEGV when they were on, and the right text with them off
    (same process, same prompt; issue 23). The plain CPU kernels run on every x86-64. llama_cpp.Llama reads its
    model parameters from llama_model_default_params() at each load, so this covers Llama() too (ours, benchmarks',
    llama_cpp.server started through llm_demo/bench/llama_server.py). Idempotent."""
    import llama_cpp.llama_cpp as raw
    if getattr(raw.llama_model_default_params, "plain_kernels", False):
        return
    library_default = raw.llama_model_default_params

    def default_params():
        params = library_default()
        params.use_extra_bufts = False
        return params

    default_params.plain_kernels = True
    raw.llama_model_default_params = default_params


def importable() -> tuple[bool, str]:
    """(True, "") when llama_cpp imports; else why not (a host that skipped the compile, or a broken build)."""
    try:
        import llama_cpp  # noqa: F401
        plain_kernels()
    except Exception as exc:  # noqa: BLE001 - ImportError, or OSError when its shared library does not load
        return False, f"{type(exc).__name__}: {str(exc)[:200]}"
    return True, ""


_note: list[str] = []


def fallback_note() -> str:
    """"" when GGUF models run on llama.cpp; else one line saying why they run on transformers (cached)."""
    if not _note:
        ok, why = importable()
        _note.append("" if config.LLAMA_CPP and ok else
                     "llama.cpp is switched off on this server: GGUF models run on transformers, several times "
                     "slower." if not config.LLAMA_CPP else
                     "llama.cpp is not importable on this server: GGUF models run on transformers, several times "
                     "slower.")
        if _note[0]:  # the student reads the line above; the host reads how to change it in the log
            logging.getLogger("llm_demo").warning(
                "GGUF models run on transformers: %s", "LLM_DEMO_LLAMA_CPP=0 switches llama.cpp off" if not
                config.LLAMA_CPP else f"llama.cpp is not importable ({why}); `make setup` compiles it")
    return _note[0]


def built_with(feature: str) -> bool:
    """True when the installed llama.cpp was built with a feature (llama_print_system_info says "<feature> = 1")."""
    import llama_cpp
    return f"{feature} = 1".encode() in llama_cpp.llama_print_system_info()


def openmp_build() -> bool:
    """True when the installed llama.cpp runs its steps on OpenMP. requirements.txt builds it without: torch shares
    the process's libgomp, and once a second thread had run torch or llama.cpp every step ran ~3x slower (64 greedy
    tokens of the shipped file: 1.0 s -> 3.3-3.7 s on a 2-core Xeon; without OpenMP 0.9-1.1 s from whichever thread
    asks)."""
    return built_with("OPENMP")


def llamafile_build() -> bool:
    """True when the installed llama.cpp multiplies two or more tokens with llamafile's tinyBLAS: its kernels round
    differently from the one-token ones."""
    return built_with("LLAMAFILE")


OPENMP_NOTE = ("This llama.cpp was built with OpenMP, which makes each step about 3x slower once other threads have "
               "run the model or torch; `make setup` compiles it again without.")


def n_threads() -> int:
    """llama.cpp's threads: LLM_DEMO_LLAMA_THREADS, else as many as torch uses."""
    return config.LLAMA_THREADS or max(1, torch.get_num_threads() or os.cpu_count() or 1)


class LlamaModel:
    """A GGUF model on llama.cpp behind the backend.Backend protocol (spec, tokenizer, device, n_bytes, load_seconds,
    context_length, logits, decode, batcher), with no torch `.model`."""
    backend = "llama.cpp"
    device = "cpu"
    takes_messages = False

    def __init__(self, spec, path: Path, tokenizer, slots: int = config.MAX_BATCH_SIZE + 2,
                 served: "gguf_formats.Served | None" = None):
        import llama_cpp as lc
        plain_kernels()
        t0 = time.perf_counter()
        self.spec, self.tokenizer, self.path = spec, tokenizer, Path(path)
        # Llama() loads the weights; its own tiny context is never used (we make one with a slot per stream).
        self.llm = lc.Llama(model_path=str(path), n_ctx=64, n_batch=64, n_threads=n_threads(), verbose=False)
        self.n_vocab = self.llm.n_vocab()
        # The weights' format as llama.cpp read it from the file ("BF16", "Q4_1"), and why this file (load_served).
        self.weights = (lc.llama_ftype_name(lc.llama_model_ftype(self.llm._model.model)) or b"?").decode()
        self.format_note = served.note if served else f"{self.weights} weights ({self.path.name})."
        if openmp_build():
            self.format_note += " " + OPENMP_NOTE
            logging.getLogger("llm_demo").warning(OPENMP_NOTE)
        # A slot holds the longest stream the deployment allows: the prompt cap plus the new-token cap.
        self.slot_tokens = min(self.llm._model.n_ctx_train(), config.MAX_PROMPT_TOKENS + config.MAX_NEW_TOKENS_CAP + 1)
        params = lc.llama_context_default_params()
        params.n_seq_max = slots
        params.n_ctx = self.slot_tokens * slots
        # A prefill chunk, or a token per stream of the batch, must fit one llama_decode call: where a batch is cut
        # changes llama.cpp's rounding.
        params.n_batch = params.n_ubatch = max(512, config.PREFILL_CHUNK + config.MAX_BATCH_SIZE)
        params.n_threads = params.n_threads_batch = n_threads()
        params.kv_unified = False           # each stream attends over its own cells only
        # Flash attention off, as Llama() has it: its "auto" default (on, on CPUs) computes attention in fp16 and
        # gave different greedy tokens from transformers and from Llama() itself ("Hello! I's" vs "Hello there,").
        params.flash_attn_type = 0          # LLAMA_FLASH_ATTN_TYPE_DISABLED
        self._ctx = lc.llama_init_from_model(self.llm._model.model, params)
        if not self._ctx:
            raise RuntimeError("llama.cpp could not create a context (out of memory?)")
        self._mem = lc.llama_get_memory(self._ctx)
        self.slot_tokens = min(self.slot_tokens, lc.llama_n_ctx_seq(self._ctx))
        self.n_batch = lc.llama_n_batch(self._ctx)
        self._batch = lc.llama_batch_init(self.n_batch, 0, 1)
        self.n_slots, self._free = slots, list(range(slots))
        # llama.cpp multiplies two or more tokens with llamafile's tinyBLAS where it has a kernel for the weights'
        # type (F16, BF16, Q8_0, ...; llamafile/sgemm.cpp returns false for n < 2) and a single token with ggml's
        # own dot products, and the two round differently (BF16 logits differed by up to 0.11): a stream's tokens
        # would depend on whether it decoded alone or beside others. _decode therefore sends every step as one
        # micro-batch of two or more tokens. Q4_1 has no tinyBLAS kernel on x86 and is exact in a batch as it is
        # (tests/test_engine_loop_llamacpp.py checks both), so the shipped file is sent as it comes; so is every
        # format on a build without llamafile (cmake GGML_LLAMAFILE=OFF: one kernel for any number of tokens). Such a
        # build measured a lone BF16 stream 1.33x faster and a 30-stream round 1.21x slower (2-core Xeon, 2026-12-03,
        # docs/deploy.md), so requirements.txt keeps llamafile: the class round comes first.
        self.pads_lone_token = self.weights != "Q4_1" and llamafile_build()
        self._slots = threading.Condition()
        # What each slot's KV cells hold, kept after its stream ends so that a branch of that answer (or the next
        # step of a step-mode session) starts from them: the token at each position, how many leading tokens were
        # evaluated as one prompt batch, and when the slot was last used (the oldest kept slot is reused first).
        self._cells: dict[int, list[int]] = {s: [] for s in range(slots)}
        self._batched: dict[int, int] = {s: 0 for s in range(slots)}
        self._used: dict[int, float] = {s: 0.0 for s in range(slots)}
        self.reused_cells = 0               # KV cells taken over from a kept slot, over the model's lifetime
        self.n_bytes = self.path.stat().st_size
        self.load_seconds = time.perf_counter() - t0
        self.eos_ids = {int(self.llm.token_eos())}
        # Free the context before Python tears llama_cpp's module down (else its __del__ fails noisily at exit).
        # The engine loops stop first: one may be inside llama_decode on this context.
        atexit.register(lambda ref=weakref.ref(self): ref() and (batching.shutdown(), ref().close()))

    @property
    def context_length(self) -> int:
        return self.slot_tokens

    @property
    def vocab_size(self) -> int:
        return int(self.n_vocab)            # no torch model: llama.cpp reports its own

    @property
    def batch_key(self) -> object:
        return self

    def batcher(self) -> "LlamaBatch":
        return LlamaBatch()

    def decode(self, dec: Decoder):
        return decode_alone(self, dec)

    @property
    def model(self):
        raise AttributeError(f"{self.spec.label} runs on llama.cpp, which has no torch model to inspect: use "
                             f"models.load({self.spec.name!r}, backend='transformers')")

    # ------------------------------------------------------------ slots (one KV-cache sequence per stream)

    def acquire(self, timeout: float = config.GENERATION_TIMEOUT_S) -> int:
        with self._slots:
            if not self._slots.wait_for(lambda: self._free, timeout):
                raise ValueError(f"All {self.n_slots} llama.cpp slots of {self.spec.label} stayed busy for "
                                 f"{timeout:.0f} s: try again in a moment.")
            # An empty slot first, else the one kept longest: its cells are overwritten as feed() reaches them.
            seq = min(self._free, key=lambda s: (bool(self._cells[s]), self._used[s]))
            self._free.remove(seq)
            return seq

    def try_acquire(self) -> int | None:
        """A free slot now, or None (the engine loop never waits for one)."""
        with self._slots:
            if not self._free:
                return None
        return self.acquire(0)

    def mark_prompt(self, seq: int, n: int) -> None:
        """The first n cells of seq were evaluated as a prompt is (chunks of config.PREFILL_CHUNK from 0)."""
        self._batched[seq] = n

    def release(self, seq: int) -> None:
        """Give the slot back; its cells stay (see _cells) until another stream overwrites them."""
        with self._slots:
            self._used[seq] = time.monotonic()
            self._free.append(seq)
            self._slots.notify()

    def _truncate(self, seq: int, n: int) -> None:
        """Forget seq's cells from position n on. Caller holds FORWARD_LOCK."""
        import llama_cpp as lc
        if len(self._cells[seq]) > n:
            if not lc.llama_memory_seq_rm(self._mem, seq, n, -1):
                lc.llama_memory_seq_rm(self._mem, seq, -1, -1)
                n = 0
            del self._cells[seq][n:]
        if n == 0:
            self._batched[seq] = 0

    def reuse(self, seq: int, ids: list[int], batched: int) -> int:
        """Put into slot seq the longest run of KV cells that a slot already holds for ids, computed as this stream
        would compute them (the first `batched` ids as one prompt batch, the rest one token at a time); return how
        many leading ids are in place (0 = none). The last id is always left to evaluate: its logits are needed.
        Cells of a kept answer are exactly the cells its branches need, so a branch evaluates only what follows the
        branch point. Caller holds FORWARD_LOCK."""
        import llama_cpp as lc
        best, src = 0, None
        for s, cells in self._cells.items():
            if self._batched[s] != batched or cells[:batched] != ids[:batched]:
                continue
            k = batched
            limit = min(len(cells), len(ids) - 1)
            while k < limit and cells[k] == ids[k]:
                k += 1
            if k > best or (k == best and s == seq):
                best, src = k, s
        if src is None or best < batched or best >= len(ids):
            return 0
        if src != seq:                       # a copy of the whole slot (llama.cpp copies across streams whole)
            lc.llama_memory_seq_cp(self._mem, src, seq, -1, -1)
            self._cells[seq], self._batched[seq] = list(self._cells[src]), self._batched[src]
        self._truncate(seq, best)
        self.reused_cells += best
        return best

    # ------------------------------------------------------------ evaluation

    def feed(self, segments: list[tuple[int, int, list[int], int]]) -> list[list[np.ndarray]]:
        """Evaluate segments (seq, first position, token ids, n_out) in as few llama_decode calls as fit n_batch;
        return, per segment, the logits rows [vocab] after each of its last n_out tokens. Caller holds FORWARD_LOCK."""
        out = [[] for _ in segments]
        for seq, pos0, ids, _ in segments:
            if pos0 + len(ids) > self.slot_tokens:
                raise ValueError(f"This stream needs {pos0 + len(ids)} positions; a llama.cpp slot of "
                                 f"{self.spec.label} holds {self.slot_tokens} on this deployment.")
            if pos0 > len(self._cells[seq]):
                raise RuntimeError(f"slot {seq} holds {len(self._cells[seq])} cells, cannot evaluate from {pos0}")
        try:
            self._feed(segments, out)
        except BaseException:
            import llama_cpp as lc
            for seq, *_ in segments:         # what the failed call left in these slots is unknown: forget it all,
                lc.llama_memory_seq_rm(self._mem, seq, -1, -1)      # including cells _cells never recorded
                self._cells[seq], self._batched[seq] = [], 0
            raise
        for seq, pos0, ids, _ in segments:
            self._cells[seq].extend(ids)
        return out

    def _feed(self, segments, out) -> None:
        """Fill llama_decode calls of at most n_batch tokens with the segments' tokens (on the model's one thread)."""
        for seq, pos0, *_ in segments:
            self._truncate(seq, pos0)        # older cells at these positions (a kept answer) give way
        call = []                            # (seq, position, token, the segment whose logits row it is, or None)
        for k, (seq, pos0, ids, n_out) in enumerate(segments):
            for j, tok in enumerate(ids):
                if len(call) == self.n_batch:
                    self._decode(call, out)
                    call = []
                call.append((seq, pos0 + j, int(tok), k if j >= len(ids) - n_out else None))
        if call:
            self._decode(call, out)

    def _decode(self, call, out) -> None:
        """One llama_decode. llama.cpp cuts a call over several sequences into micro-batches of consecutive,
        increasing sequence ids (llama_batch_allocr::split_equal, `sequential` when the KV cache is not unified), so
        one token per sequence is sent sorted by slot, with a ballast token in every slot between them (and beside
        a lone token, see pads_lone_token): the whole step is then one micro-batch of two or more tokens, multiplied
        the same way whoever else is asking. Ballast cells are appended after a slot's own and removed at once."""
        import llama_cpp as lc
        ballast = []
        if self.pads_lone_token and self.n_slots > 1 and len({e[0] for e in call}) == len(call):
            call = sorted(call)
            used = {e[0] for e in call}
            lo, hi = call[0][0], call[-1][0]
            if lo == hi:
                lo, hi = (lo, lo + 1) if lo + 1 < self.n_slots else (lo - 1, lo)
            for g in range(lo, hi + 1):
                if g not in used:
                    if len(self._cells[g]) >= self.slot_tokens:       # a full kept slot gives up its last cell
                        self._truncate(g, self.slot_tokens - 1)
                    ballast.append((g, len(self._cells[g]), call[0][2], -1))   # -1: an output nobody reads
            call = sorted(call + ballast)
        b = self._batch
        for i, (seq, pos, tok, k) in enumerate(call):
            b.token[i], b.pos[i], b.n_seq_id[i] = tok, pos, 1
            b.logits[i] = k is not None     # every row of a step is an output, so the head is multiplied alike
            b.seq_id[i][0] = seq
        b.n_tokens = len(call)
        try:
            rc = lc.llama_decode(self._ctx, b)
        finally:
            for g, pos, *_ in ballast:
                lc.llama_memory_seq_rm(self._mem, g, pos, -1)
        if rc != 0:
            raise RuntimeError(f"llama.cpp could not evaluate the batch (llama_decode returned {rc})")
        for i, (_, _, _, k) in enumerate(call):
            if k is not None and k >= 0:
                row = lc.llama_get_logits_ith(self._ctx, i)
                out[k].append(np.ctypeslib.as_array(row, shape=(self.n_vocab,)).copy())

    def logits(self, ids: list[int], n_out: int) -> torch.Tensor:
        """Logits [n_out, vocab] after each of the last n_out tokens of ids, in a fresh slot (for engine.score)."""
        seq = self.acquire()
        try:
            with FORWARD_LOCK:
                rows = self.feed([(seq, 0, list(ids), n_out)])[0]
            return torch.from_numpy(np.stack(rows))
        finally:
            self.release(seq)

    def close(self) -> None:
        import llama_cpp as lc
        if getattr(self, "_ctx", None):
            locked = FORWARD_LOCK.acquire(timeout=10)      # never free the context under a running llama_decode
            try:
                self._close(lc)
            finally:
                if locked:
                    FORWARD_LOCK.release()

    def _close(self, lc) -> None:
        if self._ctx:
            lc.llama_batch_free(self._batch)
            lc.llama_free(self._ctx)
            self._ctx = None
            self.llm.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: the library may already be gone
            pass


def load_served(spec, src: Path, tokenizer, bf16: bool) -> LlamaModel:
    """The LlamaModel that serves a GGUF model: from the weight format gguf_formats chooses (its copy of src made at
    first start and cached), or from src itself, with the reason in the log and in format_note, when that copy
    cannot be made or loaded. bf16: whether the CPU multiplies bf16 natively (models.cpu_has_bf16)."""
    served = gguf_formats.serve(src, bf16, n_threads())
    try:
        return LlamaModel(spec, served.path, tokenizer, served=served)
    except Exception as exc:  # noqa: BLE001 - a copy llama.cpp cannot load: the shipped file still works
        if served.path == src:
            raise
        return LlamaModel(spec, src, tokenizer, served=gguf_formats.fallback(src, served.fmt, exc))


def prefill(lm: LlamaModel, seq: int, dec: Decoder):
    """The logits row after a stream's prompt and its prefix_ids (a branch, a step-mode step). The prompt goes in one
    batch; prefix tokens go one llama_decode each, as they went when they were generated: llama.cpp's kernels round
    a many-token batch differently from one-token steps, and a near tie (greedy or a draw) could then flip. Cells a
    slot kept from the answer being branched (LlamaModel.reuse) stand in for that replay, so a branch evaluates
    only the tokens after the last one it shares with a kept answer. Caller holds FORWARD_LOCK."""
    ids = dec.all_ids[0].tolist()
    done = lm.reuse(seq, ids, dec.prompt_len)
    if not done:
        for a in range(0, dec.prompt_len, config.PREFILL_CHUNK):         # as the engine loop cuts it (LlamaBatch)
            b = min(dec.prompt_len, a + config.PREFILL_CHUNK)
            got = lm.feed([(seq, a, ids[a:b], 1 if b == len(ids) else 0)])[0]
            row = got[-1] if got else None
        lm.mark_prompt(seq, dec.prompt_len)
        done = dec.prompt_len
    for pos in range(done, len(ids)):
        row = lm.feed([(seq, pos, [ids[pos]], 1)])[0][-1]
    return row


def decode_alone(lm: LlamaModel, dec: Decoder):
    """engine.stream() on llama.cpp: one stream in its own slot, one llama_decode per token, in the caller's thread."""
    seq = lm.acquire()
    try:
        with FORWARD_LOCK:
            row = prefill(lm, seq, dec)
        while True:
            with torch.inference_mode():
                piece = dec.advance(torch.from_numpy(row))
            yield piece
            if piece.done:
                return
            with FORWARD_LOCK:
                row = lm.feed([(seq, dec.all_ids.shape[1] - 1, [piece.token_id], 1)])[0][-1]
    finally:
        lm.release(seq)


class LlamaBatch:
    """The batch's model side on llama.cpp (batching.BatchCore): every decoding row's next token goes into one
    llama_decode call, each row in its own sequence slot; each joining row's next prompt chunk into a call of its own. A joining row first takes
    over the cells a kept slot holds for it (a branch, LlamaModel.reuse); its prompt then goes in chunks of
    config.PREFILL_CHUNK and its prefix tokens one per step, as prefill() evaluates them alone. Memory is fixed at
    load: n_slots slots of slot_tokens cells; a stream waits for a free slot."""

    def admit(self, row) -> bool:
        lm, d = row.dec.lm, row.dec
        seq = lm.try_acquire()
        if seq is None:
            return False
        row.state["seq"] = seq
        with FORWARD_LOCK:
            row.fed = lm.reuse(seq, d.all_ids[0].tolist(), d.prompt_len)
        return True

    def chunk(self, row) -> int:
        d = row.dec
        return min(config.PREFILL_CHUNK, d.prompt_len - row.fed) if row.fed < d.prompt_len else 1

    def step(self, decode: list, prefill_rows: list):
        """The decode rows' tokens in one llama_decode call, then each prefill row's piece in a call of its own: a
        llama_decode over several sequences splits them into equal-length micro-batches, so a prompt chunk beside
        other streams' tokens would be cut (and rounded) differently from the same prompt alone."""
        logits = None
        if decode:
            lm = decode[0].dec.lm
            segs = [(r.state["seq"], r.dec.all_ids.shape[1] - 1, [r.dec.last_token], 1) for r in decode]
            with FORWARD_LOCK:
                rows = lm.feed(segs)
            for r in decode:
                r.fed = r.dec.all_ids.shape[1]
            logits = torch.from_numpy(np.stack([got[-1] for got in rows]))
        firsts = []
        for row in prefill_rows:
            try:
                firsts.append(self._prefill(row))
            except Exception as exc:  # noqa: BLE001 - its own prompt failed: only this stream ends
                firsts.append(exc)
        return logits, firsts

    def _prefill(self, row):
        d, fed, seq = row.dec, row.fed, row.state["seq"]
        ids = d.all_ids[0].tolist()
        end = fed + self.chunk(row)
        with FORWARD_LOCK:
            got = d.lm.feed([(seq, fed, ids[fed:end], 1 if end == len(ids) else 0)])[0]
        row.fed = end
        if end == d.prompt_len and fed < d.prompt_len:
            d.lm.mark_prompt(seq, d.prompt_len)
        return torch.from_numpy(got[-1]) if end == len(ids) else None

    def remove(self, rows: list) -> None:
        for r in rows:
            seq = r.state.pop("seq", None)
            if seq is not None:
                r.dec.lm.release(seq)

    def reset(self) -> None:
        pass                                 # every row's slot is released by remove(); the cells stay as kept
