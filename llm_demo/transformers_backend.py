"""The transformers backend: a torch model and its tokenizer behind the backend.Backend protocol (every model but
GGUF files on llama.cpp and models on a remote server). `models.load("tinygpt-sft")` returns one.
"""
import threading
from dataclasses import dataclass
from typing import Iterator

import torch

from llm_demo import config
from llm_demo.backend import FORWARD_LOCK, Decoder, Piece


@dataclass
class LoadedModel:
    """A transformers model in eval mode, with what the engine reads: spec, tokenizer, device, context length."""
    spec: object         # models.ModelSpec
    model: object        # transformers PreTrainedModel, eval mode
    tokenizer: object    # transformers tokenizer
    device: str
    n_bytes: int
    load_seconds: float
    backend = "transformers"   # the engine's name, for benchmarks' and logs' lines (the core never compares it)
    takes_messages = False

    @property
    def context_length(self) -> int:
        cfg = self.model.config
        return int(getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", 2048))

    @property
    def vocab_size(self) -> int:
        return int(getattr(getattr(self.model, "config", None), "vocab_size", 0) or len(self.tokenizer))

    @property
    def eos_ids(self) -> set[int]:
        """The generation config's end-of-turn ids (SmolLM2 and Qwen list several)."""
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        return {int(i) for i in (gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos]) if i is not None}

    def forward(self, **inputs):
        """self.model(**inputs) in inference mode, holding FORWARD_LOCK."""
        with FORWARD_LOCK, torch.inference_mode():
            return self.model(**inputs)

    def logits(self, ids: list[int], n_out: int) -> torch.Tensor:
        out = self.forward(input_ids=torch.tensor([ids], device=self.device))
        return out.logits[0, -n_out:].float().cpu()                    # [n_out, vocab]

    def decode(self, dec: Decoder) -> Iterator[Piece]:
        out = prefill(self, dec.all_ids, None, 0)
        while True:
            with torch.inference_mode():
                piece = dec.advance(out.logits[0, -1])                 # logits [vocab]
            yield piece
            if piece.done:
                return
            out = self.forward(input_ids=torch.tensor([[piece.token_id]], device=self.device), cache=out.cache,
                               use_cache=True)

    @property
    def batch_key(self) -> object:
        return self.model                # the dataclass is unhashable; its torch model identifies it

    def batcher(self):
        """A TorchBatch when the KV cache is the plain per-layer kind it can pad and merge (no sliding windows)."""
        from transformers.cache_utils import DynamicLayer
        probe = self.forward(input_ids=torch.zeros(1, 1, dtype=torch.long, device=self.device), use_cache=True)
        layers = getattr(probe.cache, "layers", None)
        plain = bool(layers) and all(type(layer) is DynamicLayer for layer in layers)
        if not plain:
            return None
        per_position = sum(t.numel() * t.element_size() for layer in layers for t in (layer.keys, layer.values))
        small = sum(p.numel() for p in self.model.parameters()) < config.ONE_THREAD_PARAMS
        return TorchBatch(per_position, one_thread=small)


def prefill(lm: LoadedModel, ids: torch.Tensor, cache, start: int, chunk: int = 0):
    """Forward ids[:, start:] ([1, seq]) after `cache` in chunks of config.PREFILL_CHUNK tokens (chunk > 0: only the
    next chunk), keeping the last position's logits. Alone and in a batch a prompt is cut the same way, so both
    compute the same numbers."""
    end = ids.shape[1] if chunk == 0 else min(ids.shape[1], start + chunk)
    out = None
    for a in range(start, end, config.PREFILL_CHUNK):
        b = min(end, a + config.PREFILL_CHUNK)
        out = lm.forward(input_ids=ids[:, a:b].to(lm.device), cache=cache, use_cache=True, logits_to_keep=1)
        cache = out.cache
    return out


class TorchBatch:
    """The batch's model side on transformers (batching.BatchCore): one DynamicCache whose rows are left-padded to
    one length; attention_mask [rows, length] marks real positions with 1 and padding with 0, and position_ids give
    each row its own positions, so a row computes what it would compute alone. A joining stream is prefilled in its
    own one-row cache, one chunk per step, and merged in once its first token is drawn.

    Memory: the cache holds rows x length x per_position bytes; a stream is admitted only while every row's worst
    case (prompt + max new tokens, at most the context) fits config.BATCH_KV_MB, and one that could never fit alone
    is refused with the numbers."""

    def __init__(self, per_position: int, one_thread: bool = False):
        self.per_position = per_position     # KV bytes per cached token (every layer's keys and values)
        self.one_thread, self.tuned = one_thread, None
        self.rows: list = []                 # batching.Row, in cache order
        self.members: list = []              # admitted rows, merged into the cache or still being prefilled
        self.cache = None                    # DynamicCache [rows, heads, length, head_dim] per layer
        self.mask: torch.Tensor | None = None

    def need(self, row) -> int:
        """Positions the row may come to hold."""
        d = row.dec
        return min(d.lm.context_length, d.prompt_len + d.cfg.max_new_tokens)

    def admit(self, row) -> bool:
        budget = config.BATCH_KV_MB * 2**20
        alone = self.need(row) * self.per_position
        if alone > budget:
            raise ValueError(f"This answer could hold {self.need(row):,} tokens ({alone / 2**20:.0f} MB of KV cache), "
                             f"more than this deployment's batch memory of {config.BATCH_KV_MB} MB: ask for fewer "
                             f"new tokens or send a shorter prompt.")
        width = max([self.need(r) for r in self.members] + [self.need(row)])
        if self.members and (len(self.members) + 1) * width * self.per_position > budget:
            return False                     # fits alone: waits until rows leave
        self.members.append(row)
        row.state["cache"] = None
        return True

    def chunk(self, row) -> int:
        return min(config.PREFILL_CHUNK, row.dec.all_ids.shape[1] - row.fed)

    def step(self, decode: list, prefill_rows: list):
        if self.one_thread and self.tuned != threading.get_ident():
            torch.set_num_threads(1)         # this thread's OpenMP team only (the caller's threads keep theirs)
            self.tuned = threading.get_ident()
        logits = None
        if decode:
            logits = self._decode(decode)
        firsts = []
        for row in prefill_rows:             # one forward each: a row's prompt is cut as it is cut alone
            try:
                firsts.append(self._prefill(row))
            except Exception as exc:  # noqa: BLE001 - its own prompt failed: only this stream ends
                firsts.append(exc)
        return logits, firsts

    def _decode(self, decode: list) -> torch.Tensor:
        lm = decode[0].dec.lm
        for r in decode:
            if r not in self.rows:               # prefilled last step, its first token drawn: joins the cache now
                self._merge(r)
        n = len(self.rows)
        inp = torch.tensor([[r.dec.last_token] for r in self.rows], device=lm.device)           # [n, 1]
        pos = torch.tensor([[r.dec.all_ids.shape[1] - 1] for r in self.rows], device=lm.device)
        self.mask = torch.cat([self.mask, torch.ones(n, 1, dtype=torch.long, device=lm.device)], dim=1)
        out = lm.forward(input_ids=inp, attention_mask=self.mask, position_ids=pos, cache=self.cache, use_cache=True)
        self.cache = out.cache
        for r in self.rows:
            r.fed = r.dec.all_ids.shape[1]
        order = {r: i for i, r in enumerate(self.rows)}
        return out.logits[[order[r] for r in decode], -1]                                      # [len(decode), vocab]

    def _prefill(self, row):
        d = row.dec
        out = prefill(d.lm, d.all_ids, row.state.get("cache"), row.fed, config.PREFILL_CHUNK)
        row.state["cache"] = out.cache
        row.fed = min(d.all_ids.shape[1], row.fed + config.PREFILL_CHUNK)
        if row.fed < d.all_ids.shape[1]:
            return None
        return out.logits[0, -1]

    def _merge(self, row) -> None:
        """Append a prefilled row (its own cache, length p) to the batch (length L), left-padding to max(L, p)."""
        cache = row.state.pop("cache")
        p = cache.layers[0].keys.shape[-2]
        ones = torch.ones(1, p, dtype=torch.long, device=cache.layers[0].keys.device)
        row.state["merged"] = True
        if not self.rows:
            self.rows, self.cache, self.mask = [row], cache, ones
            return
        width = max(self.mask.shape[1], p)
        for mine, new in zip(self.cache.layers, cache.layers):
            mine.keys = torch.cat([_pad_left(mine.keys, width), _pad_left(new.keys, width)], dim=0)
            mine.values = torch.cat([_pad_left(mine.values, width), _pad_left(new.values, width)], dim=0)
        self.mask = torch.cat([_pad_left(self.mask, width), _pad_left(ones, width)], dim=0)
        self.rows.append(row)

    def remove(self, rows: list) -> None:
        """Drop rows from the batch and trim the padding every remaining row has."""
        for r in rows:
            r.state.clear()
        self.members = [r for r in self.members if r not in rows]
        keep = [i for i, r in enumerate(self.rows) if r not in rows]
        if len(keep) == len(self.rows):
            return
        if not keep:                         # the cache empties; rows still being prefilled keep their own caches
            self.rows, self.cache, self.mask = [], None, None
            return
        idx = torch.tensor(keep, device=self.mask.device)
        self.mask = self.mask.index_select(0, idx)
        start = int(self.mask.any(dim=0).long().argmax())          # first column some row still uses
        self.mask = self.mask[:, start:]
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, idx)[:, :, start:]
            layer.values = layer.values.index_select(0, idx)[:, :, start:]
        self.rows = [self.rows[i] for i in keep]

    def reset(self) -> None:
        for r in self.members:
            r.state.clear()
        self.rows, self.members, self.cache, self.mask = [], [], None, None


def _pad_left(t: torch.Tensor, width: int) -> torch.Tensor:
    """Zero-pad the sequence dimension (keys/values: dim 2 of 4; mask: dim 1 of 2) on the left up to width."""
    dim = 2 if t.dim() == 4 else 1
    missing = width - t.shape[dim]
    if missing == 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([torch.zeros(shape, dtype=t.dtype, device=t.device), t], dim=dim)
