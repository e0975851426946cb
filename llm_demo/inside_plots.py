"""Figures and HTML for the Inside tab, built from llm_demo.inside / architecture / kv_cache results. No Gradio.

update_views() is the whole tab update for one (model, text, layer, head): what the tab shows and what
`python -m llm_demo.bench inside` times.
"""
import html
import math
from dataclasses import dataclass

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go

from llm_demo import architecture, inside
from llm_demo import count

_FONT = dict(size=11)
# Colour scales as explicit lists: without validation, plotly.js would read a name like "Blues" as its own
# (differently ordered) scale. Light = low, dark = high.
BLUES = pc.make_colorscale(pc.sequential.Blues)
YLGNBU = pc.make_colorscale(pc.sequential.YlGnBu)
RDBU = pc.make_colorscale(pc.diverging.RdBu)


def show(tok: str) -> str:
    """A token for an axis label: spaces as ·, newlines as ↵, tabs as → (the Tokenizer tab's marks)."""
    return tok.replace(" ", "·").replace("\n", "↵").replace("\t", "→") or "∅"


def _ticks(tokens, every: int = 1) -> dict:
    return dict(tickmode="array", tickvals=list(range(0, len(tokens), every)),
                ticktext=[show(t) for t in tokens][::every], tickfont=dict(size=10))


def _fig(traces: list[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts, without plotly's per-property validation (half the build time of a heatmap
    figure here; `_validate` is plotly's own switch, pinned plotly 7.1). The browser test draws every figure."""
    return go.Figure(traces, layout, _validate=False)


def _heatmap(z, **kw) -> dict:
    return dict(type="heatmap", z=z, **kw)


def attention_figure(mat: np.ndarray, tokens, title: str) -> go.Figure:
    """T×T attention (row = the token attending, column = the token attended to). The upper triangle, where a
    token would look at later tokens, is masked: it is drawn empty, not as zeros."""
    T = len(tokens)
    z = np.where(np.tril(np.ones((T, T), dtype=bool)), mat, np.nan).astype(np.float32)
    names = [show(t) for t in tokens]
    hover = [[f"{names[i]} (#{i}) looks at {names[j]} (#{j})" for j in range(T)] for i in range(T)]
    trace = _heatmap(z, colorscale=BLUES, zmin=0, hoverongaps=False, text=hover,
                     hovertemplate="%{text}<br>weight %{z:.3f}<extra></extra>",
                     colorbar=dict(title=dict(text="weight"), thickness=12))
    size = max(360, min(720, 110 + 16 * T))
    return _fig([trace], dict(
        title=dict(text=title, x=0.02, font=dict(size=14)), height=size, plot_bgcolor="white",
        margin=dict(l=90, r=10, t=40, b=90), font=_FONT,
        # no fixed width: the plot takes its box's width (a phone's 370 px too) and square cells keep it a square
        xaxis=dict(_ticks(tokens), title="attends to (key)", tickangle=-60, showgrid=False, constrain="domain"),
        yaxis=dict(_ticks(tokens), title="token (query)", autorange="reversed", showgrid=False,
                   scaleanchor="x", constrain="domain")))


def heads_figure(layer_attn: np.ndarray, tokens, layer: int) -> go.Figure:
    """Every head of one layer as small multiples, titled with its previous-token and first-token scores."""
    H, T = layer_attn.shape[0], len(tokens)
    cols = 3 if H <= 9 else 4
    rows = math.ceil(H / cols)
    mask = np.tril(np.ones((T, T), dtype=bool))
    gap = 0.06
    w, h = (1 - gap * (cols - 1)) / cols, (1 - gap * (rows - 1)) / rows
    traces, layout, notes = [], {}, []
    for k, (a, pat) in enumerate(zip(layer_attn, inside.head_patterns(layer_attn))):
        r, c = divmod(k, cols)
        ax = "" if k == 0 else str(k + 1)
        x0, y1 = c * (w + gap), 1 - r * (h + gap)
        layout[f"xaxis{ax}"] = dict(domain=[x0, x0 + w], showticklabels=False, showgrid=False, anchor=f"y{ax}")
        layout[f"yaxis{ax}"] = dict(domain=[y1 - h, y1], showticklabels=False, showgrid=False, anchor=f"x{ax}",
                                    autorange="reversed")
        traces.append(_heatmap(np.where(mask, a, np.nan).astype(np.float32), xaxis=f"x{ax}", yaxis=f"y{ax}",
                               colorscale=BLUES, zmin=0, zmax=1, showscale=False, hoverongaps=False,
                               hovertemplate=f"head {k + 1}: row %{{y}} → column %{{x}}: %{{z:.3f}}<extra></extra>"))
        notes.append(dict(text=f"head {k + 1}<br>prev {pat['previous']:.2f} · first {pat['first']:.2f}",  # 2 lines: phones
                          x=x0 + w / 2, y=y1, xref="paper", yref="paper", yanchor="bottom", showarrow=False,
                          font=dict(size=11)))
    return _fig(traces, dict(layout, annotations=notes, height=60 + 230 * rows, plot_bgcolor="white",
                                  margin=dict(l=10, r=10, t=60, b=10), font=_FONT, title=dict(
                                      text=f"Layer {layer}, every head (prev = mean weight on the previous token, "
                                           "first = on the first token)", x=0.02, font=dict(size=14))))


def lens_figure(ins: inside.Inspection, decode) -> go.Figure:
    """Layers × positions: the logit lens' top next-token guess (text) and its probability (colour). Its
    layout.meta["phone"] holds lens_phone_figure's figure, which the page draws instead on a narrow screen
    (llm_demo/ui/phone.py)."""
    L, T = ins.top_ids.shape
    guesses = [[show(decode(int(i))) for i in row] for row in ins.top_ids]
    labels = [f"block {i + 1}" for i in range(L - 1)] + [f"block {L} = output"]
    trace = _heatmap(ins.top_probs.astype(np.float32), y=labels, text=guesses, texttemplate="%{text}",
                     textfont=dict(size=9), colorscale=YLGNBU, zmin=0, zmax=1,
                     hovertemplate="%{y}, after token #%{x}: next = %{text} (p = %{z:.2f})<extra></extra>",
                     colorbar=dict(title=dict(text="p"), thickness=12))
    return _fig([trace], dict(
        title=dict(text="Logit lens: each block's residual stream read through the final norm and the LM head",
                   x=0.02, font=dict(size=14)), height=120 + max(10, L) * 22, plot_bgcolor="white",
        margin=dict(l=120, r=10, t=40, b=90), font=_FONT,
        xaxis=dict(_ticks(ins.tokens), title="after this token, the guess for the next one", tickangle=-60),
        yaxis=dict(tickfont=dict(size=10)), meta=dict(phone=lens_phone_figure(ins, guesses))))


PHONE_LENS_BLOCKS = 5      # columns of the phone's logit lens: ~60 px each on a 390 px screen, room for a word
PHONE_LENS_CHARS = 8       # a longer guess is cut to this many characters, with "…" (the hover has it whole)


def lens_phone_figure(ins: inside.Inspection, guesses: list[list[str]]) -> dict:
    """The logit lens for a phone, as a plain figure dict: turned a quarter (a row per position, read downwards,
    the figure as tall as the text is long), at most PHONE_LENS_BLOCKS blocks (the first, the output and evenly
    between), and guesses in 11 px type. The desktop figure gives 64 positions ~8 px each at 390 px."""
    L, T = ins.top_ids.shape
    blocks = sorted({int(b) for b in np.linspace(1, L, min(L, PHONE_LENS_BLOCKS)).round()})

    def cut(g: str) -> str:
        return g if len(g) <= PHONE_LENS_CHARS else g[:PHONE_LENS_CHARS - 1] + "…"
    names = [show(t) for t in ins.tokens]
    text = [[cut(guesses[b - 1][t]) for b in blocks] for t in range(T)]
    hover = [[f"after {names[t]} (#{t}), block {b}: next = {guesses[b - 1][t]}" for b in blocks] for t in range(T)]
    trace = dict(type="heatmap", z=ins.top_probs[[b - 1 for b in blocks]].T.round(3).tolist(), text=text,
                 customdata=hover, texttemplate="%{text}", textfont=dict(size=11), colorscale=YLGNBU, zmin=0,
                 zmax=1, showscale=False, hovertemplate="%{customdata} (p = %{z:.2f})<extra></extra>")
    every = "" if len(blocks) == L else f" ({len(blocks)} of {L})"
    return dict(data=[trace], layout=dict(
        title=dict(text=f"Logit lens: a row per token, a column per block{every} (the last is the output); "
                        "darker = more probable", x=0.02, font=dict(size=14)),
        autosize=True, height=100 + 26 * T, plot_bgcolor="white", margin=dict(l=10, r=10, t=70, b=10),
        font=dict(size=12),
        xaxis=dict(tickmode="array", tickvals=list(range(len(blocks))), side="top", fixedrange=True,
                   ticktext=[f"block {b}" if b < L else f"{b} = output" for b in blocks], tickfont=dict(size=11)),
        yaxis=dict(_ticks(ins.tokens), autorange="reversed", automargin=True, fixedrange=True,
                   tickfont=dict(size=11))))


def position_figure(sim: np.ndarray) -> go.Figure:
    P = sim.shape[0]
    trace = _heatmap(sim.astype(np.float32), colorscale=RDBU, zmid=0, zmin=-1, zmax=1,
                     hovertemplate="positions %{y} and %{x}: cosine %{z:.2f}<extra></extra>",
                     colorbar=dict(title=dict(text="cos"), thickness=12))
    return _fig([trace], dict(
        title=dict(text=f"Cosine similarity of the {P} learned position embeddings", x=0.02, font=dict(size=14)),
        height=460, margin=dict(l=60, r=10, t=40, b=50), font=_FONT,      # square cells, any width (as above)
        xaxis=dict(title="position", constrain="domain"),
        yaxis=dict(title="position", autorange="reversed", scaleanchor="x", constrain="domain")))


def causality_figure(c: inside.Causality) -> go.Figure:
    """Per query row, the largest change of its attention weights over all layers and heads."""
    n = min(len(c.before.ids), len(c.after.ids))
    diff = [float(np.abs(c.before.attn[:, :, r, :r + 1] - c.after.attn[:, :, r, :r + 1]).max()) for r in range(n)]
    colors = ["#2e7d32" if r < c.shared else "#d62728" for r in range(n)]
    trace = dict(type="bar", x=list(range(n)), y=diff, marker=dict(color=colors),
                 hovertemplate="row %{x}: max change %{y:.3g}<extra></extra>")
    return _fig([trace], dict(
        title=dict(text="How much each token's attention row changed (all layers and heads)", x=0.02,
                   font=dict(size=14)), height=300, plot_bgcolor="white", margin=dict(l=60, r=10, t=40, b=90),
        font=_FONT, xaxis=dict(_ticks(c.before.tokens[:n]), tickangle=-60),
        yaxis=dict(title="max |Δ weight|", gridcolor="#e5e5e5")))


def kv_figure(steps, seed) -> go.Figure:
    ctx = [s.context for s in steps]
    traces = [dict(type="scatter", x=ctx, y=[round(s.ms, 2) for s in steps], name="with the KV cache",
                   mode="lines+markers"),
              dict(type="scatter", x=ctx[:len(seed.ms)], y=[round(m, 2) for m in seed.ms[:len(ctx)]],
                   name="the seed's generate_text (recomputes everything)", mode="lines+markers")]
    return _fig(traces, dict(
        title=dict(text="Time per generated token", x=0.02, font=dict(size=14)), height=320, plot_bgcolor="white",
        margin=dict(l=60, r=10, t=40, b=50), font=_FONT, legend=dict(orientation="h", y=-0.25),
        xaxis=dict(title="tokens in the context", gridcolor="#e5e5e5"),
        yaxis=dict(title="ms", rangemode="tozero", gridcolor="#e5e5e5")))


# ---------------------------------------------------------------- the architecture card

def _box(title: str, detail: str, cls: str = "") -> str:
    return f'<div class="ins-box {cls}"><b>{html.escape(title)}</b><br><span>{html.escape(detail)}</span></div>'


def architecture_html(a: architecture.Architecture) -> str:
    """The seed's block diagram with this model's real sizes (every number read from its config or weights)."""
    parts = dict(a.parts)
    att = (f"{count(a.n_heads, 'head')} × {a.head_dim} = {a.n_heads * a.head_dim}" +
           (f"; {a.n_kv_heads} key/value heads (grouped-query)" if a.n_kv_heads != a.n_heads else ""))
    pos = (f"learned, {a.context:,} × {a.d_model}" if a.positions == "learned"
           else f"RoPE inside attention (θ = {a.rope_theta:g}); context {a.context:,}")
    ffn = f"{a.ffn_name}: {a.d_model} → {a.d_ff:,} → {a.d_model}"
    pre, post = a.norm_placement in ("pre", "both"), a.norm_placement in ("output", "both")
    norm = _box(f"{a.norm}", f"ε = {a.norm_eps:g}", "norm")

    def sublayer(box, f):  # drawn where this model's config puts its norms (architecture.norm_placement)
        inner = f"{f}(norm(x))" if pre else f"{f}(x)"
        return ((norm if pre else "") + box + (norm if post else "")
                + _box("+ residual", f"x = x + {f'norm({inner})' if post else inner}", "res"))
    block = (sublayer(_box("causal self-attention", att + ("" if a.positions == "learned" else " · RoPE"), "attn"),
                      "attention")
             + sublayer(_box("feed-forward", ffn, "ffn"), "ffn"))
    placement = {"pre": "pre-norm", "output": "norm after each sublayer", "both": "norm before and after"}
    head = "tied: the token-embedding matrix, transposed" if a.tied else f"{a.d_model} × {a.vocab:,}"
    rows = "".join(f"<tr><td>{html.escape(p)}</td><td>{n:,}</td><td>{n / a.total:.1%}</td></tr>"
                   for p, n in a.parts)
    return f"""<div class="ins-arch">
<div class="ins-flow">
{_box("token ids", f"vocabulary {a.vocab:,}", "io")}
{_box("token embedding", f"{a.vocab:,} × {a.d_model}", "emb")}
{_box("+ position", pos, "emb") if a.positions == "learned" else ""}
<div class="ins-block"><div class="ins-times">× {count(a.n_layers, 'block')} ({placement[a.norm_placement]})</div>{block}</div>
{_box(f"final {a.norm}", f"ε = {a.norm_eps:g}", "norm")}
{_box("LM head", head, "emb")}
{_box("logits", f"{a.vocab:,} scores per position", "io")}
</div>
<table class="ins-parts"><tr><th>part</th><th>parameters</th><th>share</th></tr>{rows}
<tr><td><b>total</b> (= sum of p.numel() over model.parameters())</td><td><b>{a.total:,}</b></td><td>100%</td></tr>
<tr><td>per block: attention / feed-forward</td><td>{parts.get('attention', 0) // a.n_layers:,} /
 {parts.get('feed-forward', 0) // a.n_layers:,}</td><td></td></tr></table>
<p class="ins-src">{html.escape(a.label)} ({a.model_type}): d_model {a.d_model}, {count(a.n_layers, 'layer')}, {count(a.n_heads, 'head')}
of size {a.head_dim}, feed-forward {a.d_ff:,} (from {html.escape(a.d_ff_source)}), context {a.context:,},
vocabulary {a.vocab:,}: all read from the loaded model's config.</p></div>"""


CSS = """<style>
.ins-arch{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.ins-flow{display:flex;flex-direction:column;align-items:center;gap:6px;min-width:300px}
.ins-box{border:1px solid #999;border-radius:6px;padding:4px 10px;text-align:center;min-width:240px;font-size:13px}
.ins-box span{color:#555;font-size:12px}
.ins-box.emb{background:#e3f2fd}.ins-box.attn{background:#fff3e0}.ins-box.ffn{background:#e8f5e9}
.ins-box.norm{background:#f3e5f5}.ins-box.io{background:#f5f5f5}.ins-box.res{border-style:dashed}
.ins-block{border:2px solid #555;border-radius:10px;padding:8px;display:flex;flex-direction:column;gap:6px;
align-items:center}
.ins-times{font-weight:bold;font-size:13px}
.ins-parts td,.ins-parts th{padding:2px 10px;text-align:right}.ins-parts td:first-child{text-align:left}
.ins-src{font-size:12px;color:#555;max-width:420px}
</style>"""


# ---------------------------------------------------------------- the whole update

@dataclass
class Views:
    ins: inside.Inspection
    layer: int
    head: int
    note: str
    arch_html: str
    attention: go.Figure
    heads: go.Figure
    lens: go.Figure


def attention_view(ins: inside.Inspection, layer, head) -> go.Figure:
    layer, head = inside.check_layer_head(ins, layer, head)
    which = "mean over heads" if head == 0 else f"head {head}"
    return attention_figure(inside.head_matrix(ins, layer, head), ins.tokens, f"Layer {layer}, {which}")


def update_views(model_name: str, text: str, layer=1, head=0) -> Views:
    """Everything the tab draws for one model and text. A layer the model lacks (after switching to a smaller
    model) is replaced by its last layer, and the note says so; an impossible head likewise by the mean."""
    ins = inside.inspect(model_name, text)
    notes = [ins.note] if ins.note else []
    try:
        layer, head = inside.check_layer_head(ins, layer, head)
    except ValueError as exc:
        notes.append(f"{exc} Showing layer {ins.n_layers}, mean over heads.")
        layer, head = ins.n_layers, 0
    tok = inside._torch_model(model_name).tokenizer
    notes.append(f"{count(len(ins.ids), 'token')}; the forward pass with attention weights took {ins.forward_ms:.0f} ms.")
    notes.append(inside.weights_note(model_name))
    return Views(ins, layer, head, " ".join(n for n in notes if n), CSS + architecture_html(architecture.architecture(model_name)),
                 attention_view(ins, layer, head), heads_figure(ins.attn[layer - 1], ins.tokens, layer),
                 lens_figure(ins, lambda i: tok.decode([i])))


def positions_view(model_name: str) -> tuple[go.Figure | None, str]:
    """The position-embedding similarity figure, or None and the sentence saying why this model has none."""
    sim, note = inside.position_similarity(model_name)
    return (position_figure(sim) if sim is not None else None), note
