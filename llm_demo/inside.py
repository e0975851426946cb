"""Inside the model: one inspection pass over a text (attention weights and the logit lens), the causality check
and the embedding views. No Gradio: the Inside tab, its benchmark and the tests call these functions.

    from llm_demo import inside
    weights, tokens = inside.attention("tinygpt-base", "Tess the green rabbit")   # [layers, heads, T, T]
    top_ids, top_probs, tokens = inside.logit_lens("tinygpt-base", "Tess the green rabbit")  # [layers, T]
"""
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from llm_demo import engine, models

MAX_TOKENS = 64          # the tab draws at most this many tokens (T×T heatmaps stay readable)
DEFAULT_TEXT = "One foggy morning, Tess the green rabbit walked to the Old Mill and sang a little song."
DEFAULT_MODEL = "tinygpt-base"
_INSPECTIONS: OrderedDict = OrderedDict()  # (model name, text) -> Inspection, least recently used evicted first
_INSPECTIONS_MAX = 8
_lock = threading.Lock()


def _torch_model(name: str) -> models.LoadedModel:
    """Every model this tab inspects comes from here: a transformers model (we need its weights and activations)."""
    return models.load(name, backend="transformers")


def weights_note(name: str) -> str:
    """For a GGUF model: this tab's numbers (the transformers copy) next to the weights the Chat tab answers from."""
    served = models.weights_note(name)
    if not served:
        return ""
    dtype = str(_torch_model(name).model.dtype).removeprefix("torch.")
    return (f"This tab computes with transformers, on the shipped GGUF dequantised to float32 (run in {dtype}). "
            f"{served}")


@dataclass(frozen=True)
class Inspection:
    """What one eager forward pass over a text shows. L layers, H query heads, T tokens."""
    ids: tuple[int, ...]
    tokens: tuple[str, ...]      # each id decoded on its own, so " rabbit" keeps its space
    note: str                    # "" or the sentence saying the text was cut
    attn: np.ndarray             # [L, H, T, T] float32, row = query position, column = key position
    top_ids: np.ndarray          # [L, T] int64: the logit lens' top next-token guess after each block
    top_probs: np.ndarray        # [L, T] float32: its probability
    forward_ms: float

    @property
    def n_layers(self) -> int:
        return self.attn.shape[0]

    @property
    def n_heads(self) -> int:
        return self.attn.shape[1]


def encode(lm, text: str) -> tuple[list[int], list[str], str]:
    """(ids, token strings, note) for a text, cut at MAX_TOKENS tokens with a note saying so."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("The text is empty: type a sentence to look inside the model.")
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    note = ""
    if len(ids) > MAX_TOKENS:
        note = f"The text is {len(ids)} tokens; only its first {MAX_TOKENS} are drawn."
        ids = ids[:MAX_TOKENS]
    if not ids:
        raise ValueError("The text gives no tokens: type a few words.")
    return ids, [lm.tokenizer.decode([i]) for i in ids], note


def final_norm_and_head(model) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The final normalisation (GPT-2 ln_f, Llama norm) and the LM head: what the logit lens applies per block."""
    base = model.base_model
    norm = next((getattr(base, n) for n in ("ln_f", "norm", "final_layernorm", "final_layer_norm")
                 if hasattr(base, n)), None)
    head = model.get_output_embeddings()
    if norm is None or head is None:
        raise ValueError(f"{type(model).__name__} has no final norm or LM head this tab knows how to find.")
    return norm, head


def eager_forward(lm, ids: list[int]):
    """One forward pass with attention weights and every block's residual stream.

    The default kernel (SDPA) returns no weights, so eager attention is switched on for this pass only, under
    engine.FORWARD_LOCK: no generation pass can run on the shared model while it is switched, and it is put back
    even if the pass fails."""
    model = lm.model
    with engine.FORWARD_LOCK, torch.inference_mode():
        before = model.config._attn_implementation
        try:
            if before != "eager":
                model.set_attn_implementation("eager")
            return model(input_ids=torch.tensor([ids], device=lm.device), output_attentions=True,
                         output_hidden_states=True, use_cache=False)
        finally:
            if model.config._attn_implementation != before:
                model.set_attn_implementation(before)


def _lens(model, out) -> tuple[np.ndarray, np.ndarray]:
    """Top guess and its probability after every block: block l's residual stream through the final norm and the
    LM head. hidden_states[0] is the embeddings and hidden_states[l] the output of block l; the last row is the
    model's own logits (transformers already applied the final norm to the last hidden state)."""
    norm, head = final_norm_and_head(model)
    ids, probs = [], []
    for h in list(out.hidden_states[1:-1]) + [None]:
        logits = (out.logits[0] if h is None else head(norm(h[0]))).float()           # [T, vocab]
        top, idx = logits.max(dim=-1)
        # p(top) = exp(top - logsumexp): no [T, vocab] softmax kept per layer (30 layers × 49k vocab add up)
        ids.append(idx)
        probs.append(torch.exp(top - torch.logsumexp(logits, dim=-1)))
    return torch.stack(ids).cpu().numpy(), torch.stack(probs).cpu().numpy()


def inspect(model_name: str, text: str) -> Inspection:
    """The inspection of a text by a model, cached: changing the layer or head afterwards costs no forward pass."""
    key = (model_name, text)
    with _lock:
        if key in _INSPECTIONS:
            _INSPECTIONS.move_to_end(key)
            return _INSPECTIONS[key]
    lm = _torch_model(model_name)
    ids, tokens, note = encode(lm, text)
    t0 = time.perf_counter()
    out = eager_forward(lm, ids)
    ms = (time.perf_counter() - t0) * 1000
    if not out.attentions or out.attentions[0] is None:
        raise ValueError(f"{lm.spec.label} returned no attention weights, so there is nothing to draw.")
    with torch.inference_mode():
        attn = torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()    # [L, H, T, T]
        top_ids, top_probs = _lens(lm.model, out)
    result = Inspection(tuple(ids), tuple(tokens), note, attn, top_ids, top_probs, ms)
    with _lock:
        _INSPECTIONS[key] = result
        while len(_INSPECTIONS) > _INSPECTIONS_MAX:
            _INSPECTIONS.popitem(last=False)
    return result


def clear_cache() -> None:
    with _lock:
        _INSPECTIONS.clear()


def attention(model_name: str, text: str) -> tuple[np.ndarray, list[str]]:
    """(weights, tokens): the attention weights [layers, heads, T, T] (rows sum to 1, upper triangle 0)."""
    ins = inspect(model_name, text)
    return ins.attn.copy(), list(ins.tokens)


def logit_lens(model_name: str, text: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(top_ids, top_probs, tokens): [layers, T] each, one row per block; the last row is the model's output."""
    ins = inspect(model_name, text)
    return ins.top_ids.copy(), ins.top_probs.copy(), list(ins.tokens)


def check_layer_head(ins: Inspection, layer, head) -> tuple[int, int]:
    """1-based layer, head (0 = the mean over heads), or one sentence saying what is out of range."""
    def whole(x, what):
        try:
            v = float(x)
        except (TypeError, ValueError):
            raise ValueError(f"The {what} must be a whole number, got {x!r}.") from None
        if v != int(v):
            raise ValueError(f"The {what} must be a whole number, got {x!r}.")
        return int(v)
    layer, head = whole(layer, "layer"), whole(head, "head")
    if not 1 <= layer <= ins.n_layers:
        raise ValueError(f"Layer {layer} does not exist: this model has layers 1 to {ins.n_layers}.")
    if not 0 <= head <= ins.n_heads:
        raise ValueError(f"Head {head} does not exist: this model has heads 1 to {ins.n_heads} (0 = their mean).")
    return layer, head


def head_matrix(ins: Inspection, layer: int, head: int) -> np.ndarray:
    """The [T, T] attention of one head (head 0: the mean over heads) in a 1-based layer."""
    layer, head = check_layer_head(ins, layer, head)
    a = ins.attn[layer - 1]
    return a.mean(axis=0) if head == 0 else a[head - 1]


def head_patterns(attn_layer: np.ndarray) -> list[dict]:
    """Per head of one layer [H, T, T]: mean attention to the previous token and to the first token (a "sink"),
    over the query positions that have one (position 0 can only attend to itself)."""
    T = attn_layer.shape[-1]
    out = []
    for a in attn_layer:
        prev = float(np.mean([a[t, t - 1] for t in range(1, T)])) if T > 1 else float("nan")
        first = float(a[1:, 0].mean()) if T > 1 else float("nan")
        out.append({"previous": prev, "first": first})
    return out


# ---------------------------------------------------------------- causality

ALTERNATIVES = ("cake", "river", "moon")


def change_last_word(text: str, new_word: str = "") -> str:
    """The text with its last word replaced (trailing punctuation kept): by new_word, or by a stock word."""
    m = re.search(r"(\w+)(\W*)$", text.strip())
    if not m:
        raise ValueError("The text has no word at its end to change.")
    new_word = (new_word or "").strip()
    if not new_word:
        new_word = next(w for w in ALTERNATIVES if w != m.group(1).lower())
    if new_word == m.group(1):
        raise ValueError(f"The new word is the same as the last word ({new_word!r}): type a different one.")
    return text.strip()[:m.start()] + new_word + m.group(2)


@dataclass(frozen=True)
class Causality:
    before: Inspection
    after: Inspection
    shared: int                  # tokens both texts share at the start (the rows that must not change)
    max_attn_diff: float         # over every layer and head, rows 0..shared-1
    max_lens_prob_diff: float    # logit-lens probabilities at those positions
    same_lens_guesses: bool


def causality(model_name: str, text: str, new_word: str = "") -> Causality:
    """Change the last word and compare: rows of tokens before the change must be the same in every layer."""
    before = inspect(model_name, text)
    after = inspect(model_name, change_last_word(text, new_word))
    if before.note or after.note:
        raise ValueError(f"The causality check needs a text of at most {MAX_TOKENS} tokens, so that its last "
                         "word is drawn: shorten the text.")
    k = 0
    while k < min(len(before.ids), len(after.ids)) and before.ids[k] == after.ids[k]:
        k += 1
    if k == 0:
        raise ValueError("The two texts share no tokens at the start: type a text of several words.")
    if before.n_layers != after.n_layers:
        raise ValueError("The model changed between the two passes: try again.")
    d_attn = float(np.abs(before.attn[:, :, :k, :k] - after.attn[:, :, :k, :k]).max())
    d_prob = float(np.abs(before.top_probs[:, :k] - after.top_probs[:, :k]).max())
    same = bool((before.top_ids[:, :k] == after.top_ids[:, :k]).all())
    return Causality(before, after, k, d_attn, d_prob, same)


# ---------------------------------------------------------------- embeddings

def position_similarity(model_name: str) -> tuple[np.ndarray | None, str]:
    """Cosine similarity [P, P] of the learned position embeddings, or (None, why not) for models without them."""
    model = _torch_model(model_name).model
    wpe = getattr(model.base_model, "wpe", None)
    if wpe is None:
        rope = getattr(model.config, "rope_parameters", None) or {}
        theta = rope.get("rope_theta", getattr(model.config, "rope_theta", None))
        return None, ("This model has no learned position embeddings: it rotates each query and key by an angle "
                      "that grows with the position (RoPE" + (f", base θ = {theta:g}" if theta else "") +
                      "), inside every attention layer. Only the order *difference* between two tokens reaches "
                      "the attention scores.")
    with torch.inference_mode():
        w = torch.nn.functional.normalize(wpe.weight.float(), dim=-1)
        return (w @ w.T).cpu().numpy(), ""


def _one_token(lm, token) -> int:
    """A token id from an id or from text that is exactly one token (with or without its leading space)."""
    vocab = lm.model.get_input_embeddings().weight.shape[0]
    if isinstance(token, (int, np.integer)) and not isinstance(token, bool) or (
            isinstance(token, str) and token.strip().isdigit() and token.strip() == token):
        tid = int(token)
        if not 0 <= tid < vocab:
            raise ValueError(f"Token id {tid} does not exist: this vocabulary has ids 0 to {vocab - 1}.")
        return tid
    if not isinstance(token, str) or not token.strip():
        raise ValueError("Choose a token (or type a word) to find its neighbours.")
    for form in (token, " " + token.strip(), token.strip()):
        ids = lm.tokenizer(form, add_special_tokens=False)["input_ids"]
        if len(ids) == 1:
            return ids[0]
    pieces = " | ".join(lm.tokenizer.decode([i]) for i in ids)
    raise ValueError(f"{token.strip()[:40]!r} is {len(ids)} tokens for this model ({pieces[:120]}): pick one.")


def neighbours(model_name: str, token, k: int = 10) -> tuple[str, list[tuple[str, int, float]]]:
    """(the token, [(neighbour, id, cosine)]): the k nearest tokens in the token-embedding matrix."""
    lm = _torch_model(model_name)
    tid = _one_token(lm, token)
    with torch.inference_mode():
        w = torch.nn.functional.normalize(lm.model.get_input_embeddings().weight.float(), dim=-1)
        sims = w @ w[tid]
        sims[tid] = -2.0                                       # not its own neighbour
        top = torch.topk(sims, int(k))
    return lm.tokenizer.decode([tid]), [(lm.tokenizer.decode([int(i)]), int(i), float(s))
                                        for s, i in zip(top.values, top.indices)]
