"""The transformers backend: a torch model and its tokenizer behind the backend.Backend protocol (every model but
GGUF files on llama.cpp and models on a remote server). `models.load("tinygpt-sft")` returns one.
"""
from dataclasses import dataclass
from typing import Iterator

import torch

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
        # logits_to_keep=1: only the last position's logits (a full [seq, vocab] matrix costs as much as the pass)
        out = self.forward(input_ids=dec.all_ids.to(self.device), use_cache=True, logits_to_keep=1)
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
        """A batching.Batcher when the KV cache is the plain per-layer kind it can pad and merge (no sliding windows)."""
        from transformers.cache_utils import DynamicLayer

        from llm_demo import batching
        probe = self.forward(input_ids=torch.zeros(1, 1, dtype=torch.long, device=self.device), use_cache=True)
        layers = getattr(probe.cache, "layers", None)
        plain = bool(layers) and all(type(layer) is DynamicLayer for layer in layers)
        return batching.Batcher() if plain else None
