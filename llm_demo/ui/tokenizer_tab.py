"""Tokenizer tab: how LLMs see text. Thin handlers over llm_demo.tokenization, token_view, token_facts, bpe_trace."""
import gradio as gr
import pandas as pd

from llm_demo.models import DEFAULT_CHAT_MODEL
from llm_demo import config
from llm_demo.bpe_trace import render_trace, trace_word
from llm_demo.token_facts import (DEFAULT_CONVERSATION, PRESETS, SEED_PRESETS, budget_summary, chat_overhead,
                                  context_budget, measure_presets, parse_conversation, seed_claims)
from llm_demo.token_plots import comparison_figure
from llm_demo.token_view import render_comparison, render_view
from llm_demo.tokenization import TIKTOKEN_LABELS, analyse, compare, get_tokenizer, tokenizer_options
from llm_demo.ui.common import by_name, friendly, ordered
from llm_demo import count

INTRO = """A language model never sees letters: a **tokenizer** first cuts the text into pieces from a fixed
vocabulary and the model sees only their ids. Type below and watch real tokenizers work: GPT-2's, GPT-4's and
GPT-4o's (OpenAI's own rank files, shipped with the lab), SmolLM2's, and our TinyGPT's. Each colour is one
token id (the same id keeps its colour); `·` is a space, `→` a tab, `↵` a newline; a token that holds only part
of a character's UTF-8 bytes is written as its bytes, like `<0xE5>`."""
OPENAI = list(TIKTOKEN_LABELS)
# The public API's output order, by name (tests/test_ui_wiring.py checks the built app against it).
API_OUTPUTS = {"tokenize": ("view", "budget_md", "budget"),
               "compare_tokenizers": ("plot", "compare_view", "compare_notes"),
               "seed_claims": ("claims_md", "claims_table"), "chat_overhead": ("overhead_md", "overhead_view")}


def _choices() -> list[tuple[str, str]]:
    return [(o.label if o.available else f"{o.label} (unavailable: {o.reason})", o.name)
            for o in tokenizer_options()]


def _pick(choice: str, hub_id: str) -> str:
    """A typed id wins until the dropdown changes (which empties the id box: see from_dropdown)."""
    return (hub_id or "").strip() or choice


@friendly
def inspect_text(text, choice, hub_id, show_ids, allow_special):
    a = analyse(text, _pick(choice, hub_id), allow_special)
    return dict(view=render_view(a, show_ids), budget_md=budget_summary(a.stats, a.tokenizer),
                budget=pd.DataFrame(context_budget(a.stats)))


@friendly
def from_dropdown(text, choice, show_ids, allow_special):
    """A dropdown choice replaces a typed id: the box is emptied, so the view shows what the dropdown says."""
    return dict(inspect_text(text, choice, "", show_ids, allow_special), hub_id="")


def load_preset(preset):
    """A preset's text; the dropdown opened and closed without a choice leaves the user's own text alone."""
    return PRESETS[preset] if preset in PRESETS else gr.skip()


@friendly
def compare_tokenizers(text, names, show_ids, allow_special):
    results, notes = compare(text, names, allow_special)
    if not results:
        raise ValueError("None of the ticked tokenizers is available: " + " ".join(notes))
    return dict(plot=comparison_figure(results), compare_view=render_comparison(results, show_ids),
                compare_notes="\n\n".join(f"⚠ {n}" for n in notes))


@friendly
def measure_claims(choice, hub_id):
    name = _pick(choice, hub_id)
    names = list(dict.fromkeys(get_tokenizer(n).name for n in [*OPENAI, name]))   # r50k_base is gpt2: once
    df = pd.DataFrame(measure_presets(names))
    df["cell"] = df.apply(lambda r: f"{r['tokens']} ({r['tokens/word']}/word, {r['chars/token']} ch/tok)", axis=1)
    table = df.pivot(index="preset", columns="tokenizer", values="cell").reindex(list(PRESETS)).reset_index()
    return dict(claims_md="\n\n".join(seed_claims(name)), claims_table=table)


@friendly
def bpe_trace(word, choice, hub_id):
    return render_trace(trace_word(word, _pick(choice, hub_id)))


@friendly
def overhead(conversation, name):
    result = chat_overhead(parse_conversation(conversation), name)
    view = render_view(analyse(result.templated_text, name, allow_special=True))
    return dict(overhead_view=view, overhead_md=(f"**{count(result.plain_tokens, 'token')}** for the messages' own text; **{result.templated_tokens}** with the "
            f"chat template: the role markers, turn separators and any default system prompt cost "
            f"**{count(result.overhead, 'token')}** ({result.overhead / result.templated_tokens:.0%} of what the model reads)."))


def build_tokenizer_tab():
    gr.Markdown("## Tokenizer")
    gr.Markdown(INTRO)
    choices = _choices()
    with gr.Row():
        choice = gr.Dropdown(choices, value="gpt2", label="Tokenizer", elem_id="tok-choice", scale=2)
        hub_id = gr.Textbox(label="…or a Hugging Face tokenizer id (needs internet; press Enter)"
                            if config.ALLOW_HUB_TOKENIZERS else "Hugging Face tokenizer ids: off on this deployment",
                            placeholder="openai-community/gpt2", elem_id="tok-hub", scale=1,
                            interactive=config.ALLOW_HUB_TOKENIZERS)
    preset = gr.Dropdown(list(PRESETS), value=None, label="Presets: the seed's examples, other languages, emoji, "
                         "numbers, code", elem_id="tok-preset")
    text = gr.Textbox(value=SEED_PRESETS["Hello, world!"], lines=5, max_lines=16, label="Text", elem_id="tok-text")
    with gr.Row():
        show_ids = gr.Checkbox(False, label="show token ids", elem_id="tok-ids")
        allow_special = gr.Checkbox(False, label="treat special-token text (like <|endoftext|>) as special",
                                    elem_id="tok-special")
    try:  # the page opens on GPT-2's view of the first preset; a broken rank file must not take the app down
        first = inspect_text(text.value, "gpt2", "", False, False)
    except gr.Error as exc:
        first = dict(view=f"<p>⚠ {exc.message}</p>", budget_md="", budget=None)
    view = gr.HTML(first["view"], elem_id="tok-view")

    with gr.Accordion("Context budget: how much of a context window this text fills", open=False):
        budget_md = gr.Markdown(first["budget_md"])
        budget = gr.Dataframe(first["budget"], wrap=True, interactive=False, elem_id="tok-budget",
                              column_widths=["15%", "9%", "8%", "9%", "9%", "50%"])

    with gr.Accordion("Side by side: one text, several tokenizers", open=False):
        names = gr.CheckboxGroup(choices, value=OPENAI, label="Tokenizers")
        compare_btn = gr.Button("Compare", elem_id="tok-compare")
        plot = gr.Plot()
        compare_notes = gr.Markdown()
        compare_view = gr.HTML()

    with gr.Accordion("The seed's claims, measured on the presets", open=False):
        claims_btn = gr.Button("Measure with GPT-2, GPT-4, GPT-4o and the chosen tokenizer")
        claims_md = gr.Markdown()
        claims_table = gr.Dataframe(wrap=True, interactive=False)

    with gr.Accordion("BPE merge trace: how the merges build a word's tokens", open=False):
        gr.Markdown("BPE starts from the word's bytes and repeatedly merges the adjacent pair with the lowest "
                    "rank (the earliest-learned merge) until no learned merge applies. Each row is one real merge "
                    "from the chosen tokenizer's table; the new piece is outlined.")
        with gr.Row():
            word = gr.Textbox("tokenization", label="Word", scale=3)
            trace_btn = gr.Button("Trace", scale=1)
        trace_view = gr.HTML()

    with gr.Accordion("Chat overhead: what the chat template adds", open=False):
        chat_names = [c for c in choices if c[1] not in OPENAI]
        with gr.Row():
            conversation = gr.Textbox(DEFAULT_CONVERSATION, lines=4, label="Conversation (role: text per line)",
                                      scale=3)
            chat_tok = gr.Dropdown(chat_names, value=DEFAULT_CHAT_MODEL, label="Instruct model's tokenizer",
                                   scale=1)
        overhead_btn = gr.Button("Count")
        overhead_md = gr.Markdown()
        overhead_view = gr.HTML()

    fast = dict(concurrency_limit=None, show_progress="minimal")
    comps = dict(view=view, budget_md=budget_md, budget=budget, hub_id=hub_id, plot=plot, compare_view=compare_view,
                 compare_notes=compare_notes, claims_md=claims_md, claims_table=claims_table, overhead_md=overhead_md,
                 overhead_view=overhead_view)
    out = {name: ordered(comps, names) for name, names in API_OUTPUTS.items()}
    inspected = by_name(inspect_text, out["tokenize"])
    inspect_in = [text, choice, hub_id, show_ids, allow_special]
    gr.on([text.change, show_ids.change, allow_special.change, hub_id.submit], inspected, inspect_in,
          list(out["tokenize"].values()), api_name="tokenize", trigger_mode="always_last", **fast)
    picked = ordered(comps, ("hub_id", "view", "budget_md", "budget"))
    choice.change(by_name(from_dropdown, picked), [text, choice, show_ids, allow_special], list(picked.values()),
                  api_name=False, trigger_mode="always_last", **fast)
    preset.input(load_preset, preset, text, api_name="tokenizer_preset", **fast)
    compare_btn.click(by_name(compare_tokenizers, out["compare_tokenizers"]), [text, names, show_ids, allow_special],
                      list(out["compare_tokenizers"].values()), api_name="compare_tokenizers", concurrency_limit=None)
    claims_btn.click(by_name(measure_claims, out["seed_claims"]), [choice, hub_id], list(out["seed_claims"].values()),
                     api_name="seed_claims", concurrency_limit=None)
    gr.on([trace_btn.click, word.submit], bpe_trace, [word, choice, hub_id], trace_view, api_name="bpe_trace",
          concurrency_limit=None)
    overhead_btn.click(by_name(overhead, out["chat_overhead"]), [conversation, chat_tok],
                       list(out["chat_overhead"].values()), api_name="chat_overhead", concurrency_limit=None)
    # For links and the lesson's Show me (llm_demo/ui/links_ui.py): inputs by link key, and the view to redraw.
    return {"tokenizer": choice, "text": text, "hub_id": hub_id,
            "views": [(inspected, inspect_in, list(out["tokenize"].values()))]}
