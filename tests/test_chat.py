"""Chat tab handlers without a browser: streaming, stop, regenerate, sweep, and bad input."""
import copy
import time

import gradio as gr
import pytest

from llm_demo import chat, models
from llm_demo.sampling import SamplingConfig
from llm_demo.ui import chat_tab

KNOBS = dict(temperature=0.9, top_k=50, top_p=0.95, rep=1.0, max_new=12, seed=1)


def run(gen):
    """Every update as it was when yielded (the handler reuses one chatbot list, as Gradio allows)."""
    return [dict(o, chatbot=copy.deepcopy(o["chatbot"])) if "chatbot" in o else o for o in gen]


def test_streaming_yields_growing_text_and_reports_stats(tiny_chat):
    outs = run(chat_tab.respond("Hello cat", [], tiny_chat, "", *KNOBS.values(), ""))
    texts = [o["chatbot"][-1]["content"] for o in outs[1:]]
    assert texts[-1], texts
    assert len(outs) >= 3, "expected several streamed updates"
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:])), "streamed text must only grow"
    final = outs[-1]
    assert outs[0]["msg"] == "", "the message box is cleared at once, when the message is sent"
    assert outs[0]["chatbot"] == [{"role": "user", "content": "Hello cat"}], "the message shows at once"
    assert final["chatbot"][0] == {"role": "user", "content": "Hello cat"}
    assert "tokens/s" in final["stats"] and "time to first token" in final["stats"], final["stats"]
    assert outs[0]["live"].done, "a finished answer must be marked done (Stop then changes nothing)"
    assert final["last_model"] == tiny_chat, "the model that answered is remembered for the switch notice"
    assert final["steps"], "sampler steps missing"


def test_empty_message_sends_nothing_and_keeps_history(tiny_chat):
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    outs = run(chat_tab.respond("   ", history, tiny_chat, "", *KNOBS.values(), ""))
    assert len(outs) == 1, f"an empty message must not start a generation: {len(outs)} updates"
    assert outs[0]["chatbot"] == history and "Type a message" in outs[0]["stats"], outs[0]
    assert set(outs[0]) == {"msg", "chatbot", "stats"}, f"only the box, chat and status may change: {set(outs[0])}"


def test_stop_keeps_the_partial_answer_marked_as_stopped(tiny_chat):
    gen = chat_tab.respond("Hello cat", [], tiny_chat, "", *KNOBS.values(), "")
    updates = [next(gen) for _ in range(4)]
    live, partial = updates[0]["live"], updates[-1]
    stopped = chat_tab.mark_stopped(live)         # Stop runs while the event is being cancelled
    gen.close()                                   # what Gradio does when Stop cancels the event
    assert stopped["chatbot"][-1]["content"].endswith(chat.STOPPED_MARK), stopped["chatbot"][-1]
    assert "stopped by: Stop" in stopped["stats"], stopped["stats"]
    assert chat.clean_history(stopped["chatbot"])[-1]["content"] == partial["chatbot"][-1]["content"], \
        "marker leaked into the prompt"
    assert len(stopped["steps"]) == len(partial["steps"]) == 3, "the sampler view must match the stopped answer"


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
    updates = []
    with pytest.raises(gr.Error, match="not available offline"):
        for update in gen:
            updates.append(update)
    assert updates[-1] == {"msg": "next", "chatbot": history}, f"message and conversation not restored: {updates[-1]}"
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
    assert cleared["plot"] is None and cleared["live"] is None
    assert cleared["step"]["value"] == 1, "Clear must put the token slider back to its start"


def test_stop_when_nothing_is_streaming_changes_nothing(tiny_chat):
    assert chat_tab.mark_stopped(None) == {}, "a Stop before any answer must not mark or report anything"
    outs = run(chat_tab.respond("Hello cat", [], tiny_chat, "", *KNOBS.values(), ""))
    assert chat_tab.mark_stopped(outs[0]["live"]) == {}, "a Stop after the answer finished must change nothing"


# ---------------------------------------------------------------- regressions (issue 17)

@pytest.mark.parametrize("empty", ["", chat.STOPPED_MARK, chat.EMPTY_ANSWER, chat.EMPTY_ANSWER + chat.STOPPED_MARK])
def test_a_message_after_an_empty_answer_is_shown_and_the_model_sees_alternating_turns(tiny_chat, empty):
    """An immediate end of turn or a Stop before any text leaves an empty answer: the next message must stay."""
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": empty}]
    final = run(chat_tab.respond("next", history, tiny_chat, "", *KNOBS.values(), ""))[-1]
    assert final["chatbot"][:3] == [*history, {"role": "user", "content": "next"}], final["chatbot"]
    roles = [m["role"] for m in chat.clean_history(final["chatbot"][:3])]
    assert roles == ["user", "assistant", "user"], f"the model must never get two user turns in a row: {roles}"


def test_max_new_tokens_beyond_the_context_says_so_and_answers(tiny_chat):
    """The tiny model reads 128 positions: 512 (or 125) new tokens are not refused with a negative budget."""
    for max_new in (512, 125):
        final = run(chat_tab.respond("Hello cat", [], tiny_chat, "", *dict(KNOBS, max_new=max_new).values(), ""))[-1]
        assert "reads 128 tokens in all" in final["stats"] and "context is full" in final["stats"], final["stats"]
        assert final["chatbot"][-1]["role"] == "assistant"


def test_a_message_longer_than_the_context_names_the_limit(tiny_chat):
    with pytest.raises(gr.Error) as err:
        run(chat_tab.respond("cat " * 300, [], tiny_chat, "", *KNOBS.values(), ""))
    assert "reads at most 128 tokens" in err.value.message and "at most 127" in err.value.message, err.value.message
    assert "-" not in err.value.message.split("tokens")[0], err.value.message


def test_fitting_a_long_history_builds_few_prompts(tiny_chat, monkeypatch):
    """Bisection over where the kept turns start: a 2,000-message history is fitted with ~log2(n) prompts."""
    builds = []
    real = models.build_prompt
    monkeypatch.setattr(models, "build_prompt", lambda *a, **k: builds.append(1) or real(*a, **k))
    history = [{"role": r, "content": f"message {i}"} for i in range(1000) for r in ("user", "assistant")]
    history.append({"role": "user", "content": "last"})
    lm = models.load(tiny_chat)
    prompt, kept, dropped = chat.fit_history(lm, history, "", 32)
    assert kept[-1]["content"] == "last" and kept[0]["role"] == "user" and dropped == len(history) - len(kept)
    assert len(builds) <= 30, f"{len(builds)} prompts built to fit 2,001 messages: not near-linear"
    size = lambda msgs: len(lm.tokenizer(real(lm.spec, lm.tokenizer, msgs))["input_ids"])
    assert size(kept) <= 128 - 32, "the kept turns must leave room for the answer"
    assert size(history[dropped - 2:]) > 128 - 32, "one more old turn would have fitted: too much was dropped"


def test_time_to_first_token_includes_fitting_the_history(tiny_chat, monkeypatch):
    real = chat.fit_history
    monkeypatch.setattr(chat, "fit_history", lambda *a: (time.sleep(0.3), real(*a))[1])
    reply = next(chat.stream_reply(tiny_chat, [{"role": "user", "content": "Hello"}], "", SamplingConfig(seed=1)))
    assert reply.ttft_s >= 0.3, f"time to first token {reply.ttft_s:.3f} s leaves out fitting the history"


def test_the_sampler_steps_shown_never_grow_after_they_were_sent(tiny_chat):
    """Stop cancels the event after some update: the steps that update sent must match its text, not grow."""
    gen = chat_tab.respond("Hello cat", [], tiny_chat, "", *KNOBS.values(), "")
    sent = [next(gen) for _ in range(3)][-1]
    n = len(sent["steps"])
    next(gen), next(gen)
    assert len(sent["steps"]) == n == 2, f"the steps already sent grew from 2 to {len(sent['steps'])}"
    gen.close()


def test_stop_right_after_send_marks_the_answer_and_says_stopped(tiny_chat):
    gen = chat_tab.respond("Hello cat", [], tiny_chat, "", *KNOBS.values(), "")
    first = next(gen)                             # the answer's place, before any token
    stopped = chat_tab.mark_stopped(first["live"])
    gen.close()
    assert stopped["chatbot"][-1]["content"] == chat.EMPTY_ANSWER + chat.STOPPED_MARK, stopped["chatbot"]
    assert "stopped by: Stop" in stopped["stats"], stopped
    assert stopped["chatbot"][0] == {"role": "user", "content": "Hello cat"} and stopped["steps"] == []


def test_regenerate_draws_with_the_next_seed_and_shows_it(tiny_chat):
    first = run(chat_tab.respond("Hello cat", [], tiny_chat, "", *KNOBS.values(), ""))[-1]["chatbot"]
    outs = run(chat_tab.regenerate(first, tiny_chat, "", *KNOBS.values(), tiny_chat))
    assert outs[0]["seed"] == KNOBS["seed"] + 1 and f"seed {KNOBS['seed'] + 1}" in outs[-1]["stats"], outs[0]
    assert outs[-1]["chatbot"][-1] != first[-1], "a new seed must draw a different answer from the random model"
    greedy = run(chat_tab.regenerate(first, tiny_chat, "", *dict(KNOBS, temperature=0).values(), tiny_chat))
    assert greedy[0]["seed"] == KNOBS["seed"] and "greedy" in greedy[-1]["stats"], greedy[-1]["stats"]


def test_newline_tokens_get_a_visible_label():
    labels = chat.prob_buckets([{"token": "\n", "prob": 0.95}, {"token": "", "prob": 0.2}, {"token": "a\tb", "prob": 0.01}])
    assert [t for t, _ in labels] == ["↵", "∅", "a⇥b"], labels


def test_one_chat_request_checks_its_sampling_settings_once(tiny_chat, monkeypatch):
    checks = []
    real = SamplingConfig.__post_init__
    monkeypatch.setattr(SamplingConfig, "__post_init__", lambda self: (checks.append(self), real(self))[1])
    outs = run(chat_tab.respond("Hello cat", [], tiny_chat, "", *KNOBS.values(), ""))
    assert outs[-1]["steps"], "the request must have answered"
    assert len(checks) == 1, f"one request, one check at its boundary; checked {len(checks)} times"
    with pytest.raises(ValueError, match="Top-p"):
        SamplingConfig(top_p=0)       # a config that exists is valid: the layers below never check it again
