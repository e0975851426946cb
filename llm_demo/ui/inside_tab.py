"""Inside the model tab: the decoder-only transformer opened up, live. Thin handlers over llm_demo.inside,
architecture, minigpt, kv_cache and inside_plots (no model code here)."""
import json
from pathlib import Path

import gradio as gr
import pandas as pd

from llm_demo import architecture, config, inside, kv_cache, minigpt, models, turns
from llm_demo import inside_plots as plots
from llm_demo import inside_reports as reports
from llm_demo.ui.common import by_name, closes_refusals, friendly, ordered

# The public API's output order, by name (tests/test_ui_wiring.py checks the built app against it).
API_OUTPUTS = {"inside_update": ("note", "arch", "attention", "heads", "lens", "layer", "head", "token"),
               "inside_positions": ("pos_md", "pos_plot", "drawn"), "inside_attention": ("attention", "heads"),
               "inside_causality": ("causal_md", "causal_plot"), "inside_neighbours": ("nb_md", "nb_table"),
               "inside_minigpt": ("mg_md",), "inside_modern": ("modern",), "inside_kv": ("kv_md", "kv_plot", "kv_table")}

INTRO = """The Tokenizer tab shows what goes into a model and the Chat tab what comes out. This tab opens the model
in between: a **decoder-only transformer**, the GPT design the seed text starts with. Token ids become vectors
(embeddings); a stack of blocks, each *causal self-attention* then a *feed-forward* layer with a residual
connection around both, refines them; a final norm and the LM head turn the last vector into a score for every
token of the vocabulary. Everything below is computed live on the chosen model; every size is read from it."""

ATTENTION = """Each row is one token: how it spreads its attention over the tokens it may see. A row sums to 1.
The upper triangle is empty because a token may only look **back**: that mask is what makes the model causal and
lets it generate left to right. Look for heads that put their weight just left of the diagonal (previous-token
heads) and heads that dump it on the first token (an "attention sink": somewhere to put weight when nothing is
relevant)."""

CAUSALITY = """**Causality, tested.** Change the last word and run the model again: because no token can look
ahead, every row *before* the change must come out exactly the same, in every layer and head."""

LENS = """The **logit lens** (nostalgebraist, 2020) reads the prediction *before* the model is done: after each
block, the residual stream is sent through the final norm and the LM head as if it were the last block. The
text in a cell is the top guess for the **next** token at that position, the colour its probability. The top
row is the model's real output; lower rows show how the guess forms layer by layer."""

KV = """To generate, a model predicts one token, appends it and runs again. The seed's `generate_text` runs the
**whole** sequence through the model at every step. A **KV cache** keeps every layer's keys and values of the
tokens already seen, so each step only runs the one new token: the cache grows by one token per step (its shape
is layers × keys/values × KV heads × tokens × head size) and the step time grows only slowly (each new token still
attends over every cached one) instead of growing with a full rerun of the sequence.
Greedy decoding on both sides, so both must pick the same tokens."""


POSITIONS = """Each learned position vector compared with every other: neighbouring positions end up similar (the
band along the diagonal), which is how a model with a position table learns word order."""


def _model_choices():
    return [(label if ok else f"{label} (unavailable: {reason})", name)
            for name, label, ok, reason in models.choices()]


def _sizes(name: str) -> tuple[int, int]:
    """(layers, heads) of a shipped model from its config.json alone (GPT-2 or Llama key names), for the sliders
    before anything loads; plain JSON, so building the app does not import transformers' config machinery."""
    cfg = json.loads((Path(models.get_spec(name).location) / "config.json").read_text())
    return (cfg.get("num_hidden_layers") or cfg["n_layer"]), (cfg.get("num_attention_heads") or cfg["n_head"])


def _loading(name: str, progress) -> None:
    if turns.needs_loading(name):
        progress(0, desc=turns.loading_note(name))


def _mapping_table() -> pd.DataFrame:
    return pd.DataFrame(minigpt.MAPPING, columns=["transformers GPT-2 name", "seed's MiniGPT name", "how"])


def _differences() -> str:
    return "\n".join(f"- **{what}.** {why}" for what, why in minigpt.DIFFERENCES)


@friendly
def update(name, text, layer, head, progress=gr.Progress()):
    """The whole view for a model and a text (one eager forward pass, then figures)."""
    _loading(name, progress)
    v = plots.update_views(name, text, layer, head)
    toks = list(dict.fromkeys(t for t in v.ins.tokens if t.strip()))
    return {"note": v.note, "arch": v.arch_html, "attention": v.attention, "heads": v.heads, "lens": v.lens,
            "layer": gr.update(maximum=v.ins.n_layers, value=v.layer),
            "head": gr.update(maximum=v.ins.n_heads, value=v.head),
            "token": gr.update(choices=toks, value=toks[0] if toks else None)}


@friendly
def redraw(name, text, layer, head):
    """Another layer or head of the same inspection (cached: no forward pass)."""
    ins = inside.inspect(name, text)
    layer, head = inside.check_layer_head(ins, layer, head)
    return {"attention": plots.attention_view(ins, layer, head),
            "heads": plots.heads_figure(ins.attn[layer - 1], ins.tokens, layer)}


@friendly
def positions(name, drawn):
    """The position-embedding figure, redrawn only when the model changed (it does not depend on the text)."""
    if name == drawn:
        return {"drawn": name}   # not {}: Gradio reads an empty dict as one positional value ("needed: 3")
    fig, why = plots.positions_view(name)
    return {"pos_md": why or POSITIONS, "pos_plot": fig, "drawn": name}


@friendly
def modern_table():
    seed = architecture.architecture_from_config(architecture.SEED_DESIGN_MODEL)
    modern = architecture.architecture_from_config(architecture.MODERN_MODEL)
    return {"modern": pd.DataFrame(architecture.modern_changes(seed, modern)).rename(
        columns={"seed": seed.label, "modern": modern.label, "why": "what changes and why"})}


@friendly
def causal(name, text, word):
    c = inside.causality(name, text, word)
    return {"causal_md": reports.causality_markdown(c), "causal_plot": plots.causality_figure(c)}


@friendly
def near(name, token):
    shown, rows = inside.neighbours(name, token)
    return {"nb_md": f"Nearest to **{plots.show(shown)}** in the token-embedding matrix (cosine similarity):",
            "nb_table": reports.neighbours_table(rows)}


@friendly
def run_minigpt(name, text, progress=gr.Progress()):
    _loading(name, progress)
    return {"mg_md": reports.minigpt_markdown(minigpt.check(name, text))}


@friendly
def run_kv(name, text, n_new, progress=gr.Progress()):
    _loading(name, progress)
    steps, seed = kv_cache.kv_steps(name, text, n_new)
    return {"kv_md": reports.kv_markdown(steps, seed), "kv_plot": plots.kv_figure(steps, seed),
            "kv_table": reports.kv_table(steps, seed)}


def build_inside_tab(tab: gr.Tab | None = None) -> dict:
    """Build the tab; returns its input components by name ("model", "text") for links that preset them.
    Pass the enclosing gr.Tab to draw the default view when the tab is first opened."""
    gr.Markdown("## Inside the model")
    gr.Markdown(INTRO)
    with gr.Row():
        model = gr.Dropdown(_model_choices(), value=inside.DEFAULT_MODEL, label="Model", elem_id="ins-model", scale=1,
                            min_width=260)
        text = gr.Textbox(inside.DEFAULT_TEXT, label=f"Text (the first {inside.MAX_TOKENS} tokens are drawn; "
                          "press Enter)", elem_id="ins-text", scale=3, max_length=config.MAX_TEXT_CHARS)
        look = gr.Button("Look inside", variant="primary", elem_id="ins-go", scale=0)
    note = gr.Markdown(elem_id="ins-note")

    with gr.Accordion("1 · The architecture, read from the model", open=True):
        arch = gr.HTML(elem_id="ins-arch")
        gr.Markdown("**What a modern model changes**: the seed's GPT-2 design (our TinyGPT) next to SmolLM2-135M "
                    "(2024), each column read from that model's config.")
        modern = gr.Dataframe(wrap=True, interactive=False, elem_id="ins-modern",
                              column_widths=["12%", "24%", "24%", "40%"])
    with gr.Accordion("2 · Causal attention", open=True):
        gr.Markdown(ATTENTION)
        n_layers, n_heads = _sizes(inside.DEFAULT_MODEL)
        with gr.Row():
            layer = gr.Slider(1, n_layers, value=1, step=1, label="Layer", elem_id="ins-layer")
            head = gr.Slider(0, n_heads, value=0, step=1, label="Head (0 = the mean over heads)", elem_id="ins-head")
        attn_plot = gr.Plot(elem_id="ins-attn", show_label=False)
        heads_plot = gr.Plot(elem_id="ins-heads", show_label=False)
        gr.Markdown(CAUSALITY)
        with gr.Row():
            new_word = gr.Textbox(label="New last word (empty: a stock word)", elem_id="ins-word", scale=3)
            causal_btn = gr.Button("Change the last word", elem_id="ins-causal", scale=1)
        causal_md = gr.Markdown(elem_id="ins-causal-result")
        causal_plot = gr.Plot(show_label=False)
    with gr.Accordion("3 · Logit lens: the prediction forming, block by block", open=True):
        gr.Markdown(LENS)
        lens_plot = gr.Plot(elem_id="ins-lens", show_label=False)
    with gr.Accordion("4 · Embeddings", open=False):
        pos_md = gr.Markdown()
        pos_plot = gr.Plot(show_label=False)
        with gr.Row():
            token = gr.Dropdown([], label="A token of the text (or type a word)", allow_custom_value=True,
                                elem_id="ins-token", scale=3)
            nb_btn = gr.Button("Nearest neighbours", elem_id="ins-nb", scale=1)
        nb_md = gr.Markdown()
        nb_table = gr.Dataframe(interactive=False)
    with gr.Accordion("5 · The seed's MiniGPT, running on TinyGPT's weights", open=False):
        gr.Markdown("The seed's `MiniGPT` and `GPTBlock` classes, as written (`llm_demo/minigpt.py`), loaded with "
                    "the TinyGPT weights through the name mapping below, run on the same tokens as the transformers "
                    "model. Choose a TinyGPT model above.")
        mg_btn = gr.Button("Run the seed's MiniGPT", elem_id="ins-minigpt")
        mg_md = gr.Markdown(elem_id="ins-minigpt-result")
        with gr.Accordion("The name mapping and where the seed's code differs", open=False):
            gr.Dataframe(_mapping_table(), wrap=True, interactive=False)
            gr.Markdown(_differences())
    with gr.Accordion("6 · Generation step by step, with the KV cache", open=False):
        gr.Markdown(KV)
        with gr.Row():
            n_new = gr.Slider(1, kv_cache.MAX_NEW, value=12, step=1, label="New tokens", scale=3)
            kv_btn = gr.Button("Generate step by step", elem_id="ins-kv", scale=1)
        kv_md = gr.Markdown(elem_id="ins-kv-result")
        kv_plot = gr.Plot(show_label=False)
        kv_table = gr.Dataframe(interactive=False, elem_id="ins-kv-table")
    drawn_positions = gr.State("")                   # the model whose position embeddings are drawn

    # "minimal" progress: an error leaves the last good figures visible (the full overlay would cover them)
    run = dict(concurrency_id=config.MODEL_CONCURRENCY_ID, concurrency_limit=config.MODEL_CONCURRENCY_LIMIT,
               show_progress="minimal")
    c = dict(note=note, arch=arch, modern=modern, layer=layer, head=head, attention=attn_plot, heads=heads_plot,
             causal_md=causal_md, causal_plot=causal_plot, lens=lens_plot, pos_md=pos_md, pos_plot=pos_plot,
             drawn=drawn_positions, token=token, nb_md=nb_md, nb_table=nb_table, mg_md=mg_md, kv_md=kv_md,
             kv_plot=kv_plot, kv_table=kv_table)

    def wire(triggers, fn, inputs, api_name, **kw):   # each can refuse its input: the next accepted one closes that
        outs = ordered(c, API_OUTPUTS[api_name])
        return closes_refusals(gr.on(triggers, by_name(fn, outs), inputs, list(outs.values()), api_name=api_name,
                                     **run, **kw))

    opened = [look.click, text.submit, model.input] + ([tab.select] if tab is not None else [])
    drawn = ordered(c, API_OUTPUTS["inside_update"])
    ev = wire(opened, update, [model, text, layer, head], "inside_update", trigger_mode="always_last")
    placed = ordered(c, API_OUTPUTS["inside_positions"])
    ev.then(by_name(positions, placed), [model, drawn_positions], list(placed.values()), api_name="inside_positions",
            **run)
    ev.then(by_name(modern_table, ordered(c, API_OUTPUTS["inside_modern"])), None, [modern], api_name="inside_modern",
            **run)
    wire([layer.input, head.input], redraw, [model, text, layer, head], "inside_attention", trigger_mode="always_last")
    wire([causal_btn.click], causal, [model, text, new_word], "inside_causality")
    wire([nb_btn.click, token.input], near, [model, token], "inside_neighbours")
    wire([mg_btn.click], run_minigpt, [model, text], "inside_minigpt")
    wire([kv_btn.click], run_kv, [model, text, n_new], "inside_kv")
    # links (llm_demo/ui/links_ui.py): the inputs a ?tab=inside link fills, and the view it redraws
    return {"model": model, "text": text,
            "views": [(by_name(update, drawn), [model, text, layer, head], list(drawn.values()))]}
