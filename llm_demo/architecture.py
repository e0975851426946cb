"""A model's architecture read from its config and its parameters (never typed in): sizes, parameter count per
part, and what a modern decoder (SmolLM2) changes relative to the seed's GPT-2 design (our TinyGPT).
No Gradio; the Inside tab draws these.
"""
import threading
from dataclasses import dataclass

import torch

from llm_demo import models
from llm_demo.inside import _torch_model

SEED_DESIGN_MODEL = "tinygpt-base"            # the seed's GPT-2 design, as our trio implements it
MODERN_MODEL = models.DEFAULT_CHAT_MODEL      # a 2024 decoder that ships offline

# Parameter names -> the part of the diagram they belong to; the first rule that matches wins (norms before
# attention: Llama's "post_attention_layernorm" is a norm).
PART_RULES = [
    ("token embedding", ("wte.", "embed_tokens.", "word_embeddings.")),
    ("position embedding", ("wpe.", "embed_positions.")),
    ("output head (untied)", ("lm_head.",)),
    ("norms", ("ln_1.", "ln_2.", "ln_f.", "layernorm.", "norm.", "_norm.")),
    ("attention", (".attn.", ".self_attn.", ".attention.")),
    ("feed-forward", (".mlp.", ".feed_forward.")),
]


@dataclass(frozen=True)
class Architecture:
    label: str
    model_type: str
    vocab: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    n_layers: int
    d_ff: int
    d_ff_source: str                  # which config field (or the weights) gave d_ff
    context: int
    positions: str                    # "learned" | "RoPE"
    rope_theta: float | None
    norm: str                         # "LayerNorm" | "RMSNorm"
    norm_eps: float
    activation: str                   # config's activation name ("gelu", "silu", ...)
    gated_ffn: bool                   # three FFN matrices (gate, up, down): SwiGLU when the activation is SiLU
    tied: bool
    biases: bool
    parts: tuple[tuple[str, int], ...]
    total: int                        # sum(p.numel() for p in model.parameters())
    # Where each block normalises, read from its parameter names (norm_placement()): "pre" (GPT-2, Llama: norm the
    # sublayer's input, x + f(norm(x))), "output" (OLMo-2: norm the sublayer's output, x + norm(f(x))), "both".
    norm_placement: str = "pre"
    bias_layers: tuple[str, ...] = ()  # the linear layers of block 0 that have a bias (Qwen2.5: q/k/v only)
    dtype: str = "float32"             # the weights' dtype as loaded (transformers keeps its KV cache in it)

    @property
    def ffn_name(self) -> str:
        if self.gated_ffn:
            return "SwiGLU" if self.activation in ("silu", "swish") else f"gated {self.activation}"
        return self.activation.upper() if self.activation.startswith("gelu") else self.activation

    @property
    def kv_cache_bytes_per_token(self) -> int:
        """Keys and values of every layer for one token, in the loaded model's dtype (transformers' cache: what the
        Inside tab runs; issue 23: bf16 on CPUs with native bf16, fp32 elsewhere). llama.cpp's cache is f16."""
        return self.n_layers * 2 * self.n_kv_heads * self.head_dim * self.dtype_bytes

    @property
    def dtype_bytes(self) -> int:
        import torch
        return getattr(torch, self.dtype).itemsize


def parameter_parts(model) -> tuple[tuple[tuple[str, int], ...], int]:
    """((part, count), ...) over named_parameters() (a tied matrix counted once, as model.parameters() does),
    and the total, which equals sum(p.numel() for p in model.parameters())."""
    counts: dict[str, int] = {}
    for name, p in model.named_parameters():
        part = next((part for part, keys in PART_RULES if any(k in f".{name}" for k in keys)), "other")
        counts[part] = counts.get(part, 0) + p.numel()
    order = [p for p, _ in PART_RULES] + ["other"]
    parts = tuple((p, counts[p]) for p in order if p in counts)
    return parts, sum(c for _, c in parts)


def norm_placement(names: list[str]) -> str:
    """"pre", "output" or "both" from block 0's parameter names. Llama's "post_attention_layernorm" is the norm
    *before* its MLP (pre-norm); a "post_feedforward_layernorm" normalises the MLP's output (OLMo-2, Gemma 2)."""
    block0 = [n for n in names if any(f".{k}.0." in f".{n}" for k in ("h", "layers", "blocks"))]
    pre = any(k in n for n in block0 for k in ("input_layernorm", "ln_1", "pre_feedforward_layernorm"))
    post = any("post_feedforward_layernorm" in n for n in block0)
    return "both" if pre and post else "output" if post else "pre"


def bias_layers(names: list[str]) -> tuple[str, ...]:
    """Short names of block 0's linear layers with a bias vector (norms excluded), e.g. ("q_proj", "k_proj")."""
    block0 = [n for n in names if any(f".{k}.0." in f".{n}" for k in ("h", "layers", "blocks"))]
    return tuple(n.split(".")[-2] for n in block0 if n.endswith(".bias") and "norm" not in n and ".ln_" not in f".{n}")


def describe(config, model, label: str) -> Architecture:
    """An Architecture from a transformers config and a model built from it (real weights or on the meta device)."""
    c = config
    d = c.hidden_size                       # GPT2Config maps hidden_size -> n_embd, num_attention_heads -> n_head ...
    heads = c.num_attention_heads
    kv = getattr(c, "num_key_value_heads", None) or heads
    d_ff, source = getattr(c, "intermediate_size", None), "intermediate_size"
    if not d_ff and getattr(c, "n_inner", None):
        d_ff, source = c.n_inner, "n_inner"
    if not d_ff:                            # GPT-2: n_inner unset means 4·d_model; read the width off the weights
        first_ffn = next(p for n, p in model.named_parameters() if any(k in f".{n}" for k in (".mlp.", ".ffn.")))
        d_ff, source = max(first_ffn.shape), "the weights (config's n_inner is unset: GPT-2's 4·d_model)"
    rope = getattr(c, "rope_parameters", None) or {}
    theta = rope.get("rope_theta", getattr(c, "rope_theta", None))
    learned = any(".wpe." in f".{n}" or "embed_positions" in n for n, _ in model.named_parameters())
    rms = hasattr(c, "rms_norm_eps")
    names = [n for n, _ in model.named_parameters()]
    parts, total = parameter_parts(model)
    return Architecture(
        label=label, model_type=c.model_type, vocab=c.vocab_size, d_model=d, n_heads=heads, n_kv_heads=kv,
        head_dim=getattr(c, "head_dim", None) or d // heads, n_layers=c.num_hidden_layers, d_ff=int(d_ff),
        d_ff_source=source,
        context=int(getattr(c, "n_positions", None) or getattr(c, "max_position_embeddings", 0)),
        positions="learned" if learned else "RoPE", rope_theta=None if learned else theta,
        norm="RMSNorm" if rms else "LayerNorm",
        norm_eps=float(c.rms_norm_eps if rms else getattr(c, "layer_norm_epsilon", getattr(c, "layer_norm_eps", 0))),
        activation=str(getattr(c, "activation_function", None) or getattr(c, "hidden_act", "?")),
        gated_ffn=any("gate_proj" in n for n in names), tied=bool(getattr(c, "tie_word_embeddings", False)),
        biases=any(n.endswith(".bias") and "norm" not in n and ".ln_" not in f".{n}" for n in names),
        parts=parts, total=total, norm_placement=norm_placement(names), bias_layers=bias_layers(names),
        dtype=str(next(model.parameters()).dtype).removeprefix("torch."))


def architecture(model_name: str) -> Architecture:
    """The architecture of a loaded model."""
    lm = _torch_model(model_name)
    return describe(lm.model.config, lm.model, lm.spec.label)


_config_only: dict[str, Architecture] = {}
_config_lock = threading.Lock()


def architecture_from_config(model_name: str) -> Architecture:
    """Like architecture(), without loading weights when the model is not loaded yet: its config, and the model
    built from it on PyTorch's meta device (shapes, no memory) in the dtype models.load would give it. Reading
    SmolLM2's config parses its GGUF header (seconds, once per process)."""
    if model_name in models.CACHE.loaded_names():
        return architecture(model_name)
    with _config_lock:
        if model_name not in _config_only:
            from transformers import AutoConfig, AutoModelForCausalLM
            spec = models.get_spec(model_name)
            ok, reason = models.availability(model_name)
            if not ok:
                raise ValueError(reason)
            if spec.source == "gguf":
                path = models.gguf_path(spec)
                cfg = AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name, trust_remote_code=False)
            else:
                cfg = AutoConfig.from_pretrained(spec.location, trust_remote_code=False)
            # in the dtype the transformers copy will load in (the KV row's bytes depend on it), not the config's
            with torch.device("meta"):
                meta = AutoModelForCausalLM.from_config(cfg, dtype=models.pick_device(spec)[1])
            _config_only[model_name] = describe(cfg, meta, spec.label)
        return _config_only[model_name]


NORM_PLACEMENT = {"pre": "before each sublayer: x + f(norm(x))", "output": "after each sublayer: x + norm(f(x))",
                  "both": "before and after each sublayer: x + norm(f(norm(x)))"}


def modern_changes(seed: Architecture, modern: Architecture) -> list[dict]:
    """Rows comparing the seed's design (GPT-2 style) with a modern decoder, every value read from the configs."""
    def pos(a):
        return (f"learned table of {a.context:,} positions" if a.positions == "learned"
                else f"RoPE (θ = {a.rope_theta:g}), context {a.context:,}" if a.rope_theta else "RoPE")

    def ffn(a):
        mats = 3 if a.gated_ffn else 2
        return f"{a.ffn_name}: {a.d_model} → {a.d_ff} → {a.d_model} ({mats} matrices, {a.d_ff / a.d_model:.2f}·d)"

    def biases(a):
        return ", ".join(dict.fromkeys(a.bias_layers)) if a.biases and a.bias_layers else "yes" if a.biases else "none"

    def heads(a):
        if a.n_kv_heads == a.n_heads:
            return f"{a.n_heads} heads, each with its own keys and values"
        return f"{a.n_heads} query heads share {a.n_kv_heads} key/value heads ({a.n_heads // a.n_kv_heads} each)"
    return [
        {"part": "positions", "seed": pos(seed), "modern": pos(modern),
         "why": "RoPE rotates queries and keys by position inside attention, so scores depend on how far apart "
                "two tokens are and there is no position table. The model still degrades past the context it was "
                f"trained for ({modern.context:,} tokens here, the config's max_position_embeddings) unless the "
                "rotation is rescaled (position interpolation, Chen et al. 2023; YaRN, Peng et al. 2023)."},
        {"part": "normalisation", "seed": f"{seed.norm} (ε = {seed.norm_eps:g})",
         "modern": f"{modern.norm} (ε = {modern.norm_eps:g})",
         "why": "RMSNorm divides by the root mean square and scales; it drops LayerNorm's mean subtraction "
                "and shift: fewer operations, same stability in practice."},
        {"part": "feed-forward", "seed": ffn(seed), "modern": ffn(modern),
         "why": "SwiGLU multiplies a SiLU-activated projection by a second, linear one (a learned gate); the "
                "width shrinks to about 8/3·d so the three matrices cost what two 4·d ones did."},
        {"part": "attention heads", "seed": heads(seed), "modern": heads(modern),
         "why": "Grouped-query attention: fewer key/value heads make the KV cache "
                f"{modern.n_heads // max(1, modern.n_kv_heads)}× smaller "
                f"({modern.kv_cache_bytes_per_token:,} bytes per token here, in the {modern.dtype} the Inside tab's "
                f"transformers copy holds; llama.cpp, which answers in Chat, keeps its cache in f16: "
                f"{modern.kv_cache_bytes_per_token // modern.dtype_bytes * 2:,}) at little cost in quality."},
        {"part": "biases", "seed": biases(seed), "modern": biases(modern),
         "why": "Llama-style decoders (SmolLM2, OLMo-2) drop the bias vectors of their linear layers; not every "
                "modern decoder does: Qwen2.5 keeps biases on its query, key and value projections (Qwen2 "
                "technical report, Yang et al. 2024)."},
        {"part": "norm placement", "seed": NORM_PLACEMENT[seed.norm_placement],
         "modern": NORM_PLACEMENT[modern.norm_placement],
         "why": "Pre-norm (GPT-2 onward) normalises what enters each sublayer; OLMo-2 instead normalises each "
                "sublayer's output before adding it to the residual stream (OLMo 2 report, Team OLMo 2024), "
                "for training stability."},
        {"part": "output head", "seed": "tied to the token embedding" if seed.tied else "its own matrix",
         "modern": "tied to the token embedding" if modern.tied else "its own matrix",
         "why": "Small models tie it: the vocabulary × d matrix is a large share of their parameters."},
    ]
