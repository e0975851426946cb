"""Links at the UI level, without a browser: the tabs' inputs by link key, filled and read back, their cheap
views redrawn, and the link checks agreeing with the inputs' own ranges."""
from urllib.parse import parse_qsl

import gradio as gr
import pytest

from llm_demo import links
from llm_demo.ui import links_ui


@pytest.fixture(scope="module")
def ui():
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    from llm_demo.ui.chat_tab import build_chat_tab
    from llm_demo.ui.compare_tab import build_compare_tab
    from llm_demo.ui.inside_tab import build_inside_tab
    from llm_demo.ui.scaling_tab import build_scaling_tab
    from llm_demo.ui.tokenizer_tab import build_tokenizer_tab
    with gr.Blocks():
        with gr.Tabs() as tabs:
            with gr.Tab("t", id="tokenizer"):
                targets = {"tokenizer": build_tokenizer_tab()}
            with gr.Tab("c", id="chat"):
                targets["chat"] = build_chat_tab()
            with gr.Tab("p", id="compare"):
                targets["compare"] = build_compare_tab()
            with gr.Tab("s", id="scaling"):
                targets["scaling"] = build_scaling_tab()
            with gr.Tab("i", id="inside"):
                targets["inside"] = build_inside_tab()
        note, projector = gr.Markdown(), gr.Checkbox()
    yield targets, tabs, note, projector
    mp.undo()


def defaults(targets) -> dict:
    """Every view input at its initial value, as a fresh page sends them."""
    return {c: c.value for comps in targets.values() for _, ins, _ in comps.get("views", []) for c in ins}


def apply(ui, query: str, current=None) -> dict:
    targets, tabs, note, projector = ui
    return links_ui.apply(links.parse(parse_qsl(query[1:])), targets, {**defaults(targets), **(current or {})}, tabs, note, projector)


def test_every_tab_names_its_documented_keys(ui):
    targets = ui[0]
    for tab, comps in targets.items():
        missing = set(links.FIELDS[tab]) - set(comps)
        assert not missing, f"the {tab} tab returns no input for link keys {missing}"


@pytest.mark.parametrize("tab, key", [("chat", "temperature"), ("chat", "top_k"), ("chat", "top_p"),
                                      ("scaling", "k")])
def test_link_ranges_are_the_inputs_own(ui, tab, key):
    slider = ui[0][tab][key]
    check = links.FIELDS[tab][key]
    for edge in (slider.minimum, slider.maximum):
        check(str(edge))                       # the slider's own ends are accepted ...
    for outside in (slider.minimum - slider.step, slider.maximum + slider.step):
        with pytest.raises(ValueError):        # ... one step past them is not
            check(str(outside))


@pytest.mark.parametrize("query", ["?tab=tokenizer&tokenizer=o200k_base&text=hi%20there",
                                   "?tab=chat&model=tinygpt-sft&temperature=0.2&top_k=3&top_p=0.5&seed=9&prompt=yo",
                                   "?tab=compare&family=tinygpt&prompt=Hello",
                                   "?tab=scaling&n=7B&tied=0&k=5", "?tab=scaling&gpus=16&hours=10&gpu=L4"])
def test_fill_then_read_gives_the_link_back(ui, query):
    targets = ui[0]
    link = links.parse(parse_qsl(query[1:]))
    comps = targets[link.tab]
    current = links_ui.fill(link.tab, link.values, comps)
    back = links_ui.read(link.tab, comps, current)
    assert {k: back[k] for k in link.values} == link.values, f"{query}: read back {back}"
    assert links.parse(parse_qsl(links.build(link.tab, back)[1:])).values == back, "build/parse lost a value"


def test_a_scaling_link_sets_the_mode_and_redraws_the_plan(ui):
    targets, tabs, note, _ = ui
    from llm_demo.ui.scaling_tab import MODE_GPU
    out = apply(ui, "?tab=scaling&gpus=64&hours=100&gpu=A100")
    comps = targets["scaling"]
    assert out[comps["mode"]] == MODE_GPU and out[comps["gpus"]] == 64, "mode and fleet not filled"
    texts = [v for v in out.values() if isinstance(v, str)]
    assert any("64× A100" in t for t in texts), f"the plan was not redrawn for the fleet: {texts[:3]}"
    assert out[comps["hours"]]["visible"] is True and out[comps["budget"]]["visible"] is False, \
        "the GPU mode's inputs are not the visible ones"


def test_a_tokenizer_link_clears_a_typed_hub_id_and_redraws_the_tokens(ui):
    comps = ui[0]["tokenizer"]
    out = apply(ui, "?tab=tokenizer&tokenizer=cl100k_base&text=Hello%20world",
                {comps["hub_id"]: "openai-community/gpt2"})
    assert not out[comps["hub_id"]], "a hub id typed earlier would override the link's tokenizer"
    views = [v for v in out.values() if isinstance(v, str) and 'data-count="tokens"' in v]
    assert views and "<b>2</b>" in views[0].replace(" ", ""), "the token view is not redrawn with 2 tokens"


def test_a_view_that_refuses_its_inputs_says_so_in_the_note(ui):
    targets, _, note, _ = ui
    # (MFU is a link key since issue 27, so a link sets it: an input links leave out refuses instead)
    tokens = next(c for c in targets["scaling"]["views"][0][1] if str(getattr(c, "label", "")).startswith("Lifetime"))
    out = apply(ui, "?tab=scaling&budget=1e21", {tokens: "lots"})
    assert out[note]["visible"] and "lots" in out[note]["value"], out[note]


def test_a_link_never_generates_text(ui):
    """A chat or compare link fills inputs and nothing else: no answer, no columns."""
    for query, tab in (("?tab=chat&prompt=hi", "chat"), ("?tab=compare&prompt=hi", "compare")):
        out = apply(ui, query)
        filled = set(links_ui._inputs(ui[0][tab]).values())
        others = [c for c in out if c not in filled and c not in ui[1:]]
        assert not others, f"a {tab} link changed {others}"


def test_a_documented_tab_the_app_lacks_is_named_not_selected(ui):
    targets, tabs, note, projector = ui
    without = {k: v for k, v in targets.items() if k != "inside"}
    out = links_ui.apply(links.parse([("tab", "inside"), ("model", "tinygpt-base")]), without, {}, tabs, note,
                         projector)
    assert tabs not in out and "tab='inside'" in out[note]["value"], out


def test_an_inside_link_fills_the_model_and_text_and_draws(ui):
    targets, tabs, note, _ = ui
    out = apply(ui, "?tab=inside&model=tinygpt-base&text=Tess%20the%20green%20rabbit")
    inside = targets["inside"]
    assert out[tabs].selected == "inside", out[tabs]
    assert out[inside["model"]] == "tinygpt-base" and out[inside["text"]] == "Tess the green rabbit", out
    drawn = [c for _, _, outs in inside["views"] for c in outs if c in out and c not in (inside["model"],)]
    assert any(isinstance(out[c], dict) is False and out[c] is not None for c in drawn), \
        "the inside link drew no view"
