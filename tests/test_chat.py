"""Chat tab handlers without a browser: streaming, stop, regenerate, sweep, and bad input."""
import gradio as gr
import pytest

from llm_demo import chat, models
from llm_demo.sampling import SamplingConfig
from llm_demo.ui import chat_tab

KNOBS = dict(temperature=0.9, top_k=50, top_p=0.95, rep=1.0, max_new=12, seed=1)


@pytest.fixture
def tiny_chat(monkeypatch, tiny_dir):
    spec = models.ModelSpec("tiny-chat", "tiny", "sft", "embedded", str(tiny_dir), "tiny chat")
    monkeypatch.setattr(models, "REGISTRY", {**models.REGISTRY, "tiny-chat": spec})
    return "tiny-chat"


def run(gen):
    return list(gen)


def test_streaming_yields_growing_text_and_reports_stats(tiny_chat):
    outs = run(chat_tab.respond("Hello cat", [], tiny_chat, "", *KNOBS.values(), ""))
    texts = [o["chatbot"][-1]["content"] for o in outs]
    assert len(outs) >= 3, "expected several streamed updates"
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:])), "streamed text must only grow"
    assert all(o["busy"] for o in outs[:-1]), "busy must stay up while the answer streams"
    final = outs[-1]
    assert final["msg"] == "", "the message box is cleared once the message is sent"
    assert final["chatbot"][0] == {"role": "user", "content": "Hello cat"}
    assert "tokens/s" in final["stats"] and "time to first token" in final["stats"], final["stats"]
    assert final["busy"] is False, "busy must go down when the answer is finished"
    assert final["last_model"] == tiny_chat, "the model that answered is remembered for the switch notice"
    assert final["steps"], "sampler steps missing"


def test_empty_message_sends_nothing_and_keeps_history(tiny_chat):
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    outs = run(chat_tab.respond("   ", history, tiny_chat, "", *KNOBS.values(), ""))
    assert len(outs) == 1, f"an empty message must not start a generation: {len(outs)} updates"
    assert outs[0]["chatbot"] == history and "Type a message" in outs[0]["stats"], outs[0]
    assert "steps" not in outs[0] and "last_model" not in outs[0], "the sampler view and model must stay as they were"


def test_stop_keeps_the_partial_answer_marked_as_stopped(tiny_chat):
    gen = chat_tab.respond("Hello cat", [], tiny_chat, "", *KNOBS.values(), "")
    partial = [next(gen) for _ in range(3)][-1]
    gen.close()                                   # what Gradio does when Stop cancels the event
    stopped = chat_tab.mark_stopped(partial["chatbot"], partial["busy"])
    assert stopped["chatbot"][-1]["content"].endswith(chat.STOPPED_MARK), stopped["chatbot"][-1]
    assert stopped["busy"] is False and "Stopped" in stopped["stats"], stopped
    assert chat.clean_history(stopped["chatbot"])[-1]["content"] == partial["chatbot"][-1]["content"], \
        "marker leaked into the prompt"


def test_regenerate_replaces_the_last_answer(tiny_chat):
    first = run(chat_tab.respond("Hello cat", [], tiny_chat, "", *KNOBS.values(), ""))[-1]["chatbot"]
    knobs = dict(KNOBS, seed=2)
    again = run(chat_tab.regenerate(first, tiny_chat, "", *knobs.values(), tiny_chat))[-1]["chatbot"]
    assert len(again) == 2 and again[0] == first[0], "regenerate must keep the question and replace the answer"


def test_switching_models_keeps_history_and_says_so(tiny_chat, monkeypatch, tiny_dir):
    spec = models.ModelSpec("tiny-chat-2", "tiny", "dpo", "embedded", str(tiny_dir), "tiny chat 2")
    monkeypatch.setitem(models.REGISTRY, "tiny-chat-2", spec)
    first = run(chat_tab.respond("Hello cat", [], tiny_chat, "", *KNOBS.values(), ""))[-1]
    second = run(chat_tab.respond("And a dog?", first["chatbot"], "tiny-chat-2", "", *KNOBS.values(),
                                  first["last_model"]))[-1]
    assert second["chatbot"][:2] == first["chatbot"], "switching models lost the history"
    assert "Switched model" in second["stats"], second["stats"]
    assert second["last_model"] == "tiny-chat-2"


def test_model_that_cannot_load_keeps_the_conversation_and_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    gen = chat_tab.respond("next", history, "qwen2.5-0.5b-instruct", "", *KNOBS.values(), "")
    with pytest.raises(gr.Error, match="not available offline"):
        next(gen)
    assert history == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


@pytest.mark.parametrize("knob,value,words", [("temperature", -1, "Temperature"), ("top_p", 0, "Top-p"),
                                              ("top_k", -5, "Top-k"), ("max_new", 10**6, "Max new tokens"),
                                              ("seed", "abc", "Seed"), ("temperature", float("nan"), "finite")])
def test_invalid_settings_reach_the_user_as_the_engines_sentence(tiny_chat, knob, value, words):
    knobs = dict(KNOBS, **{knob: value})
    with pytest.raises(gr.Error, match=words):
        run(chat_tab.respond("Hello", [], tiny_chat, "", *knobs.values(), ""))


def test_history_longer_than_the_context_drops_oldest_turns(tiny_chat):
    long = "The cat sat on the mat. " * 12
    history = []
    for i in range(6):
        history += [{"role": "user", "content": f"{i} {long}"}, {"role": "assistant", "content": long}]
    final = run(chat_tab.respond("Hello", history, tiny_chat, "", *KNOBS.values(), ""))[-1]
    assert "Dropped the" in final["stats"], final["stats"]
    assert final["chatbot"][:-2] == history, "the visible history must stay whole even when the prompt drops turns"


def test_sweep_is_reproducible_and_temperatures_differ(tiny_chat):
    cfg = SamplingConfig(top_k=0, top_p=1.0, max_new_tokens=15, seed=4)
    a = list(chat.temperature_sweep(tiny_chat, "Hello cat", [0, 0.7, 1.5], cfg))[-1]
    b = list(chat.temperature_sweep(tiny_chat, "Hello cat", [0, 0.7, 1.5], cfg))[-1]
    assert a == b, "the same seed must give the same sweep"
    # Not T=0.7 vs 1.5: a random tiny model's scores are nearly flat, and with the same seed each position draws with
    # the same random numbers (engine.step_seed), so both temperatures may pick the same tokens.
    assert a[0][1] != a[2][1], "greedy (T=0) and T=1.5 gave the same text with a random model"
    html = chat_tab.sweep_html(a)
    assert "conservative" not in html and "very creative" in html and "T = 0.7" in html


def test_parse_temperatures_refuses_garbage():
    assert chat.parse_temperatures("0, 0.3,1.5") == [0, 0.3, 1.5]
    for bad, words in [("", "at least one"), ("0, hot", "not a temperature"), ("-1", "Temperature"),
                       ("1,1,1,1,1,1,1", "At most")]:
        with pytest.raises(ValueError, match=words):
            chat.parse_temperatures(bad)


def test_sampler_view_figure_marks_the_sampled_token(tiny_chat):
    final = run(chat_tab.respond("Hello cat", [], tiny_chat, "", *KNOBS.values(), ""))[-1]
    view = chat_tab.show_sampler(final["steps"])
    fig = view["plot"]
    assert len(view["tokens"]) == len(final["steps"]) and fig is not None
    assert view["step"]["value"] == len(final["steps"]), "the slider must point at the last token"
    assert any(x.startswith("▶") for x in fig.data[0].x), "the sampled token is not marked"
    assert [d.name.rsplit(" (", 1)[0] for d in fig.data] == ["raw softmax (T=1)", "after temperature", "after top-k",
                                                         "after top-p"]


def test_clear_empties_the_conversation_and_the_sampler_view():
    cleared = chat_tab.clear_chat()
    assert cleared["chatbot"] == [] and cleared["steps"] == [] and cleared["tokens"] == [], cleared
    assert cleared["plot"] is None and cleared["busy"] is False


def test_stop_when_nothing_is_streaming_changes_nothing_but_busy():
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    out = chat_tab.mark_stopped(history, False)
    assert out == {"chatbot": history, "busy": False}, f"an idle Stop must not mark or report anything: {out}"
