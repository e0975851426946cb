"""Issue 27, bugs found by hand: each test fails on the code before its fix. Handler-level where the bug is in a
handler, the built app's event table where it is in the wiring (no server, no browser)."""
import pytest

from llm_demo import chat


def triggered_by(demo, component, event: str) -> list:
    """The event functions a component's event runs."""
    return [f for f in demo.fns.values() if (component._id, event) in [(t[0], t[1]) for t in f.targets]]


def component(demo, cls: str, label: str):
    found = [b for b in demo.blocks.values() if type(b).__name__ == cls and getattr(b, "label", None) == label]
    assert len(found) == 1, f"expected one {cls} labelled {label!r}, found {len(found)}"
    return found[0]


# 9 -----------------------------------------------------------------------------------------------------------
def test_positions_with_the_same_model_returns_a_value_gradio_can_map():
    """{} reached Gradio as one positional value for three outputs ("didn't return enough output values")."""
    from llm_demo.ui.inside_tab import positions
    out = positions("tinygpt-base", "tinygpt-base")
    assert out, "an unchanged model must still return a non-empty {name: value} dict"
    assert set(out) <= {"pos_md", "pos_plot", "drawn"}, out


# 13 ----------------------------------------------------------------------------------------------------------
def test_the_architecture_calculator_recounts_when_a_box_loses_focus(demo):
    d_model = component(demo, "Number", "d_model")
    fns = [getattr(f.fn, "__name__", "") for f in triggered_by(demo, d_model, "blur")]
    assert "update_params" in fns, f"leaving d_model must recount (it ran: {fns})"


# 15 ----------------------------------------------------------------------------------------------------------
def test_lone_surrogates_reach_every_handler_replaced(monkeypatch):
    from llm_demo.ui import common
    seen = {}

    @common.friendly
    def handler(text, history):
        seen.update(text=text, history=history)
        return text
    warned = []
    monkeypatch.setattr(common.gr, "Warning", lambda msg: warned.append(msg))
    out = handler("a\ud800b", [{"role": "user", "content": "x\udfffy"}])
    assert out == "a\ufffdb" and seen["history"][0]["content"] == "x\ufffdy", seen
    assert warned and "2 lone surrogate code points" in warned[0] and "U+FFFD" in warned[0], warned
    warned.clear()
    handler("plain", [])
    assert not warned, "text without surrogates must pass without a warning"


@pytest.mark.parametrize("tab,fn,args", [
    ("tokenizer_tab", "bpe_trace", ("lo\ud800w", "gpt2", "")),
    ("tokenizer_tab", "overhead", ("user: hi\ud800\nassistant: hello", "smollm2-135m-instruct")),
])
def test_tokenizer_handlers_answer_text_with_surrogates(monkeypatch, tab, fn, args):
    import importlib
    from llm_demo.ui import common
    monkeypatch.setattr(common.gr, "Warning", lambda msg: None)
    handler = getattr(importlib.import_module(f"llm_demo.ui.{tab}"), fn)
    out = handler(*args)                      # raised (TypeError, codec error) before the fix
    assert "codec" not in str(out) and "\ufffd" in str(out) or "�" in str(out) or "FFFD" in str(out), \
        f"{fn} must show the replaced character: {str(out)[:300]}"


# 16 ----------------------------------------------------------------------------------------------------------
def test_the_chatbots_own_clear_icon_clears_what_the_clear_button_clears(demo):
    chatbot = component(demo, "Chatbot", "Conversation")
    button = next(b for b in demo.blocks.values() if type(b).__name__ == "Button" and b.value == "Clear")
    by_icon = {o._id for f in triggered_by(demo, chatbot, "clear") for o in f.outputs}
    by_button = {o._id for f in triggered_by(demo, button, "click") for o in f.outputs}
    assert by_button and by_button <= by_icon, \
        f"the 🗑 icon leaves {len(by_button - by_icon)} of the Clear button's outputs (stats, sampler, branches) as they were"


# 18 ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("temps", ["3", "0, 2.0000001", "0.5, 7"])
def test_the_temperature_sweep_refuses_what_the_slider_refuses(temps):
    with pytest.raises(ValueError, match="above 2") as err:
        chat.parse_temperatures(temps)
    assert str(err.value).endswith("."), "a refusal is a sentence"
    typed = temps.split(",")[-1].strip()
    assert f"Temperature {typed} is above" in str(err.value), f"say the value typed (not '2 is above 2'): {err.value}"
    assert chat.parse_temperatures("0, 2") == [0.0, 2.0], "the slider's ends stay allowed"


# 20 ----------------------------------------------------------------------------------------------------------
def test_one_word_one_token_one_gpu_hour_read_as_singular():
    from llm_demo import scaling, token_view
    from llm_demo import scaling_plots as plots
    from llm_demo.tokenization import text_stats
    html = token_view.render_counts(text_stats("Hi", 1))
    assert "<b>1</b> word<" in html and "<b>1</b> token<" in html and "1</b> words" not in html, html
    hw = scaling.Hardware("H100", 1, 0.4, 500, None)
    rows = scaling.plan(hw, compute_flops=str(989e12 * 0.4 * 3600))      # one GPU-hour of compute
    md = plots.budget_markdown(rows, hw, "chinchilla-3", [])
    assert "1 GPU-hour." in md and "1 GPU-hours" not in md, md[:300]


def test_two_special_tokens_are_encoded_in_plural():
    from llm_demo import tokenization
    a = tokenization.analyse("<|im_start|>hi<|im_end|>", "smollm2-135m-instruct", allow_special=True)
    note = next(n for n in a.notes if "control token" in n)
    assert " are encoded as special control tokens" in note, note


def test_range_sentences_and_ratios_read_as_numbers():
    from llm_demo import links
    from llm_demo.scaling_plots import _ratio
    sentence = links.parse([("tab", "chat"), ("seed", "-1")]).sentence()
    assert "9,223,372,036,854,775,807" in sentence and "e+18" not in sentence, sentence
    assert _ratio(60457660100961080) == "6.05e+16" and _ratio(21.4) == "21", "tokens / param must stay readable"


def test_gradio_range_refusals_log_one_line_not_a_traceback():
    import gradio as gr
    import llm_demo.ui.common  # noqa: F401  (installs the quiet range check)
    with pytest.raises(gr.Error) as err:
        gr.Slider(1, 4).preprocess(9)
    assert err.value.print_exception is False and "greater than maximum" in err.value.message, err.value


# also noticed ------------------------------------------------------------------------------------------------
def test_a_second_question_to_tinygpt_says_it_was_trained_on_single_turns():
    from llm_demo.turns import single_turn_note
    one = [{"role": "user", "content": "Hi"}]
    two = one + [{"role": "assistant", "content": "Hello"}, {"role": "user", "content": "And?"}]
    assert single_turn_note("tinygpt-sft", one) == "", "a first question needs no warning"
    assert "single questions" in single_turn_note("tinygpt-sft", two), "a second question must be warned about"
    assert single_turn_note("smollm2-135m-instruct", two) == "", "SmolLM2 was trained on conversations"


def test_a_refusal_in_n_mode_says_where_its_budget_comes_from():
    from llm_demo import scaling
    for why in scaling.refusals(n_params="124M"):
        assert why.startswith("for N = 1.24e8, ") and "would plan" in why, f"a budget from nowhere: {why}"
