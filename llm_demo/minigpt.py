"""The seed's own MiniGPT, GPTBlock and generate_text, run on our TinyGPT weights (issue 12 asks to run its code).

`GPTBlock`, `MiniGPT` and `generate_text` below are the seed text's code, kept as written (only indented and
commented); everything after them is ours: the documented name mapping that loads a transformers GPT-2
checkpoint into a MiniGPT, and the check that both give the same logits. Where the seed's code does not fit
the trio as written, `DIFFERENCES` says what and why, and the Inside tab shows it.
"""
import threading
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from llm_demo import engine
from llm_demo.inside import _torch_model, encode


# ---------------------------------------------------------------- the seed's code (kept as written)

class GPTBlock(nn.Module):
    """A single GPT transformer block."""
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, num_heads,
                                          dropout=dropout, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, d_ff),
            nn.GELU(),  # GPT uses GELU instead of ReLU
            nn.Linear(d_ff, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x, mask=None):
        # Pre-norm architecture (GPT-2 style)
        normed = self.ln1(x)
        attn_out, _ = self.attn(normed, normed, normed, attn_mask=mask)
        x = x + attn_out  # residual connection
        normed = self.ln2(x)
        x = x + self.ffn(normed)  # residual connection
        return x


class MiniGPT(nn.Module):
    """Minimal GPT model for understanding the architecture."""
    def __init__(self, vocab_size, d_model, num_heads, num_layers, max_seq_len):
        super().__init__()
        self.token_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_seq_len, d_model)  # learned positions
        self.blocks = nn.ModuleList([
            GPTBlock(d_model, num_heads, d_model * 4) for _ in range(num_layers)
        ])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)

    def forward(self, idx):
        B, T = idx.shape
        # Create causal mask (lower triangular)
        mask = torch.triu(torch.ones(T, T), diagonal=1).bool()
        mask = mask.to(idx.device)
        # Token + positional embeddings
        positions = torch.arange(T, device=idx.device)
        x = self.token_emb(idx) + self.pos_emb(positions)
        # Pass through transformer blocks
        for block in self.blocks:
            x = block(x, mask)
        x = self.ln_f(x)
        logits = self.head(x)  # (B, T, vocab_size)
        return logits


def generate_text(model, tokenizer, prompt, max_tokens=50,
                  temperature=1.0, top_p=0.9, top_k=50):
    """
    Generate text with various decoding strategies.
    temperature: Controls randomness (0 = greedy, 1 = standard, >1 = creative)
    top_p: Nucleus sampling (only consider tokens summing to this probability)
    top_k: Only consider the top-k most likely tokens
    """
    input_ids = tokenizer.encode(prompt, return_tensors="pt")
    for _ in range(max_tokens):
        with torch.no_grad():
            logits = model(input_ids).logits[:, -1, :]  # last token logits
        # Apply temperature scaling
        logits = logits / temperature
        # Top-K filtering
        if top_k > 0:
            indices_to_remove = logits < torch.topk(logits, top_k)[0][:, -1:]
            logits[indices_to_remove] = float('-inf')
        # Top-P (nucleus) filtering
        sorted_logits, sorted_indices = torch.sort(logits, descending=True)
        cumulative_probs = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
        sorted_mask = cumulative_probs - F.softmax(sorted_logits, dim=-1) >= top_p
        sorted_logits[sorted_mask] = float('-inf')
        logits = sorted_logits.scatter(1, sorted_indices, sorted_logits)
        # Sample from the filtered distribution
        probs = F.softmax(logits, dim=-1)
        next_token = torch.multinomial(probs, num_samples=1)
        input_ids = torch.cat([input_ids, next_token], dim=-1)
        # Stop at end-of-sequence token
        if next_token.item() == tokenizer.eos_token_id:
            break
    return tokenizer.decode(input_ids[0])


# ---------------------------------------------------------------- ours: loading GPT-2 weights into MiniGPT

# (transformers GPT2LMHeadModel name, MiniGPT name, how). "T" = transpose: GPT-2 keeps its linear layers as
# Conv1D modules whose weight is [in, out]; nn.Linear and nn.MultiheadAttention's in_proj keep [out, in].
# c_attn packs the query, key and value projections as one [d, 3d] matrix, in the same q|k|v order as
# nn.MultiheadAttention's in_proj_weight [3d, d]. {i} is the block number.
MAPPING = [
    ("transformer.wte.weight", "token_emb.weight", "copy"),
    ("transformer.wpe.weight", "pos_emb.weight", "copy"),
    ("transformer.h.{i}.ln_1.weight", "blocks.{i}.ln1.weight", "copy"),
    ("transformer.h.{i}.ln_1.bias", "blocks.{i}.ln1.bias", "copy"),
    ("transformer.h.{i}.attn.c_attn.weight", "blocks.{i}.attn.in_proj_weight", "T"),
    ("transformer.h.{i}.attn.c_attn.bias", "blocks.{i}.attn.in_proj_bias", "copy"),
    ("transformer.h.{i}.attn.c_proj.weight", "blocks.{i}.attn.out_proj.weight", "T"),
    ("transformer.h.{i}.attn.c_proj.bias", "blocks.{i}.attn.out_proj.bias", "copy"),
    ("transformer.h.{i}.ln_2.weight", "blocks.{i}.ln2.weight", "copy"),
    ("transformer.h.{i}.ln_2.bias", "blocks.{i}.ln2.bias", "copy"),
    ("transformer.h.{i}.mlp.c_fc.weight", "blocks.{i}.ffn.0.weight", "T"),
    ("transformer.h.{i}.mlp.c_fc.bias", "blocks.{i}.ffn.0.bias", "copy"),
    ("transformer.h.{i}.mlp.c_proj.weight", "blocks.{i}.ffn.2.weight", "T"),
    ("transformer.h.{i}.mlp.c_proj.bias", "blocks.{i}.ffn.2.bias", "copy"),
    ("transformer.ln_f.weight", "ln_f.weight", "copy"),
    ("transformer.ln_f.bias", "ln_f.bias", "copy"),
    ("lm_head.weight", "head.weight", "tied: the same tensor as token_emb.weight"),
]

# Where the seed's code and the trio differ, and what we do about it (the tab shows this list).
DIFFERENCES = [
    ("Tied output head", "GPT-2 and our trio reuse the token-embedding matrix as the output layer "
     "(`tie_word_embeddings`); the seed's `head` is its own `nn.Linear`. We point `head.weight` at "
     "`token_emb.weight`, so the MiniGPT has exactly the trio's parameter count (untied it would carry "
     "another vocabulary × d_model matrix)."),
    ("Bias terms", "The seed's blocks have biases in attention (`in_proj_bias`, `out_proj.bias`), the "
     "feed-forward layers and the LayerNorms, and none in `head`: the same places as GPT-2, so every bias "
     "maps one to one."),
    ("Weight layout", "GPT-2's `Conv1D` stores weights as [in, out]; `nn.Linear` and "
     "`nn.MultiheadAttention` store [out, in]: those weights are transposed when loaded (MAPPING, 'T')."),
    ("GELU", "The seed's `nn.GELU()` is the exact GELU. Original GPT-2 uses the tanh approximation "
     "(`gelu_new`); our trio was trained with `activation_function='gelu'`, the exact one, so they agree."),
    ("Dropout", "`GPTBlock` defaults to dropout 0.1 (the trio trained with 0); the MiniGPT runs in evaluation "
     "mode (`mg.eval()`), where dropout does nothing."),
    ("Feed-forward width", "MiniGPT fixes d_ff = 4·d_model; the loader checks that the checkpoint has the "
     "same width (GPT-2's `n_inner` may differ) and refuses it otherwise."),
    ("`.logits`", "The seed's `generate_text` reads `model(input_ids).logits`, which a transformers model "
     "returns, but the seed's own `MiniGPT` returns the logits tensor itself: the two pieces do not run "
     "together as written. We run `generate_text` on the transformers model."),
    ("Context length", "MiniGPT has no check for sequences longer than `max_seq_len`: `pos_emb` fails with "
     "an index error. Our callers cut the text first."),
]


def mapped_state_dict(hf_state: dict, n_layers: int) -> dict:
    """MiniGPT's state dict from a GPT2LMHeadModel's, following MAPPING (every name must be found)."""
    out = {}
    for hf_name, mg_name, how in MAPPING:
        for i in (range(n_layers) if "{i}" in hf_name else [None]):
            src, dst = hf_name.format(i=i), mg_name.format(i=i)
            if how.startswith("tied"):
                continue                                    # MiniGPT ties head to token_emb itself, below
            if src not in hf_state:
                raise ValueError(f"The checkpoint has no {src!r}: it is not a GPT-2 layout MiniGPT can load.")
            w = hf_state[src]
            out[dst] = (w.t() if how == "T" else w).detach().clone()
    return out


def from_gpt2(hf_model) -> MiniGPT:
    """The seed's MiniGPT holding a transformers GPT2LMHeadModel's weights, in eval mode."""
    cfg = hf_model.config
    if cfg.model_type != "gpt2":
        raise ValueError(f"The seed's MiniGPT is a GPT-2 layout; this model is a {cfg.model_type!r} model "
                         "(RoPE, RMSNorm, SwiGLU...), so its weights have nowhere to go.")
    d_ff = cfg.n_inner or 4 * cfg.n_embd                      # GPT2Config: n_inner None means 4·d_model
    if d_ff != 4 * cfg.n_embd:
        raise ValueError(f"MiniGPT's feed-forward width is 4·d_model = {4 * cfg.n_embd}; this model's is {d_ff}.")
    if cfg.activation_function != "gelu":
        raise ValueError(f"MiniGPT uses the exact GELU; this model uses {cfg.activation_function!r}.")
    mg = MiniGPT(cfg.vocab_size, cfg.n_embd, cfg.n_head, cfg.n_layer, cfg.n_positions)
    state = mapped_state_dict(hf_model.state_dict(), cfg.n_layer)
    if getattr(cfg, "tie_word_embeddings", True):
        mg.head.weight = mg.token_emb.weight                   # one tensor, as in GPT-2
    else:
        state["head.weight"] = hf_model.state_dict()["lm_head.weight"].detach().clone()
    missing, unexpected = mg.load_state_dict(state, strict=False)
    missing = [k for k in missing if not (k == "head.weight" and mg.head.weight is mg.token_emb.weight)]
    if missing or unexpected:
        raise ValueError(f"Name mapping incomplete: missing {missing}, unexpected {unexpected}.")
    return mg.to(next(hf_model.parameters()).dtype).eval()


# ---------------------------------------------------------------- ours: the check the Inside tab runs

@dataclass(frozen=True)
class Check:
    """The seed's MiniGPT against the transformers model on the same token ids."""
    n_tokens: int
    max_abs_diff: float          # over every position and every vocabulary logit
    max_abs_logit: float         # the logits' own scale, to read the difference against
    same_argmax: bool            # the same next-token guess at every position
    params_minigpt: int          # sum(p.numel() for p in minigpt.parameters())
    params_transformers: int
    ms_minigpt: float
    ms_transformers: float


_built: dict = {}                # model name -> (the transformers model it was built from, MiniGPT)
_built_lock = threading.Lock()


def minigpt_for(model_name: str) -> MiniGPT:
    """The seed's MiniGPT with a loaded GPT-2 model's weights (built once per loaded model)."""
    hf = _torch_model(model_name).model
    with _built_lock:
        if model_name not in _built or _built[model_name][0] is not hf:
            _built[model_name] = (hf, from_gpt2(hf))
        return _built[model_name][1]


def check(model_name: str, text: str) -> Check:
    lm = _torch_model(model_name)
    mg = minigpt_for(model_name)
    ids, _, _ = encode(lm, text)
    idx = torch.tensor([ids], device=lm.device)
    with engine.FORWARD_LOCK, torch.inference_mode():
        t0 = time.perf_counter()
        ours = mg(idx)
        t1 = time.perf_counter()
        ref = lm.model(input_ids=idx, use_cache=False).logits
        t2 = time.perf_counter()
    return Check(len(ids), float((ours - ref).abs().max()), float(ref.abs().max()),
                 bool((ours.argmax(-1) == ref.argmax(-1)).all()), sum(p.numel() for p in mg.parameters()),
                 sum(p.numel() for p in lm.model.parameters()), (t1 - t0) * 1000, (t2 - t1) * 1000)
