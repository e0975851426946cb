"""Generation one token at a time with the KV cache, against the seed's generate_text, which recomputes the whole
sequence at every step. Greedy on both sides, so both must produce the same tokens. No Gradio.

    steps, seed = kv_steps("tinygpt-base", "One foggy morning,", n_new=16)
"""
import time
from dataclasses import dataclass

import torch

from llm_demo import engine, minigpt
from llm_demo.inside import MAX_TOKENS, _torch_model

MAX_NEW = 32


@dataclass(frozen=True)
class Step:
    n: int                    # 0 = the prompt (prefill), then one forward pass per new token
    token_id: int             # the token this step produced (greedy)
    token: str
    context: int              # tokens the cache holds after the step
    cache_shape: tuple        # (layers, 2 = keys/values, KV heads, tokens, head size)
    cache_bytes: int
    ms: float                 # this step with the cache: one forward pass over the new token(s) + argmax


@dataclass(frozen=True)
class SeedRun:
    ms: list[float]           # per step of the seed's loop: its forward over the whole sequence + its sampling
    token_ids: list[int]      # what it generated
    same_tokens: bool         # equal to the cached loop's tokens


def cache_shape_and_bytes(cache) -> tuple[tuple, int]:
    """(layers, 2, heads, tokens, head size) and bytes of a transformers Cache (keys and values of every layer)."""
    layers = cache.layers
    k = layers[0].keys                                        # [batch 1, kv heads, tokens, head size]
    n_bytes = sum(t.numel() * t.element_size() for layer in layers for t in (layer.keys, layer.values))
    return (len(layers), 2, k.shape[1], k.shape[2], k.shape[3]), n_bytes


def _check(lm, text, n_new) -> tuple[list[int], int]:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("The prompt is empty: type a few words to continue.")
    if isinstance(n_new, bool) or not isinstance(n_new, (int, float)) or n_new != int(n_new):
        raise ValueError(f"The number of new tokens must be a whole number, got {n_new!r}.")
    n_new = int(n_new)
    if not 1 <= n_new <= MAX_NEW:
        raise ValueError(f"Generate between 1 and {MAX_NEW} tokens step by step (asked for {n_new}).")
    ids = lm.tokenizer.encode(text)                           # as the seed's generate_text encodes its prompt
    if len(ids) > MAX_TOKENS:
        raise ValueError(f"The prompt is {len(ids)} tokens; step-by-step generation takes at most {MAX_TOKENS}.")
    if len(ids) + n_new > lm.context_length:
        raise ValueError(f"{len(ids)} prompt tokens + {n_new} new ones exceed this model's context of "
                         f"{lm.context_length}.")
    return ids, n_new


def cached_steps(lm, ids: list[int], n_new: int) -> list[Step]:
    """Greedy decoding with the KV cache: the prompt in one pass (prefill), then one pass per new token that
    feeds only that token; keys and values of earlier tokens come from the cache."""
    stop = engine.stop_token_ids(lm)
    steps, inp, cache = [], torch.tensor([ids], device=lm.device), None
    for n in range(n_new):
        t0 = time.perf_counter()
        with engine.FORWARD_LOCK, torch.inference_mode():
            out = lm.model(input_ids=inp, cache=cache, use_cache=True)
            tok = int(out.logits[0, -1].argmax())
        ms = (time.perf_counter() - t0) * 1000
        cache = out.cache
        shape, n_bytes = cache_shape_and_bytes(cache)
        steps.append(Step(n, tok, lm.tokenizer.decode([tok]), shape[3], shape, n_bytes, ms))
        if tok in stop:
            break
        inp = torch.tensor([[tok]], device=lm.device)
    return steps


class _TimedModel:
    """Wraps a transformers model for the seed's generate_text: each call is timed, holds FORWARD_LOCK, and
    remembers its input and the argmax of its last position."""

    def __init__(self, model):
        self.model, self.starts, self.inputs, self.argmax = model, [], [], []

    def __call__(self, input_ids):
        self.starts.append(time.perf_counter())
        self.inputs.append(input_ids[0].tolist())
        with engine.FORWARD_LOCK:
            out = self.model(input_ids)
        self.argmax.append(int(out.logits[0, -1].argmax()))
        return out


def seed_steps(lm, ids: list[int], n_new: int, cached: list[Step]) -> SeedRun:
    """The seed's generate_text, as written, with top_k=1 (greedy: its temperature=0 would divide by zero).
    A step's time runs from one of its forward calls to the next, so its sampling code is counted too."""
    timed = _TimedModel(lm.model)
    torch.manual_seed(0)                      # top_k=1 leaves one candidate, so the draw is certain anyway
    minigpt.generate_text(timed, lm.tokenizer, lm.tokenizer.decode(ids), max_tokens=n_new, temperature=1.0,
                          top_k=1)
    marks = timed.starts + [time.perf_counter()]
    if not timed.inputs or timed.inputs[0] != list(ids):
        raise ValueError("The seed's loop encoded the prompt differently, so the two runs would not compare.")
    new = timed.inputs[-1][len(ids):] + timed.argmax[-1:]     # its last token is the argmax it drew last
    ours = [s.token_id for s in cached]
    n = min(len(new), len(ours))
    return SeedRun([(b - a) * 1000 for a, b in zip(marks, marks[1:])], new, new[:n] == ours[:n])


def kv_steps(model_name: str, text: str, n_new: int = 16) -> tuple[list[Step], SeedRun]:
    """Our cached greedy steps and the seed's recompute-everything loop on the same prompt."""
    lm = _torch_model(model_name)
    ids, n_new = _check(lm, text, n_new)
    cached = cached_steps(lm, ids, n_new)
    return cached, seed_steps(lm, ids, n_new, cached)
