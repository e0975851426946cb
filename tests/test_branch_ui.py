"""The Chat tab's branch, step-mode and measured-table handlers without a browser: outputs named, stale input refused."""
import gradio as gr
import pytest

from llm_demo import branching, chat
from llm_demo.sampling import SamplingConfig
from llm_demo.ui import branch_panel as bp

KNOBS = dict(temperature=0.9, top_k=50, top_p=0.95, rep=1.0, max_new=10, seed=3)


@pytest.fixture
def answered(tiny_chat):
    """A conversation with one answer, and the sampler view's steps, as the Chat tab leaves them."""
    cfg = SamplingConfig(KNOBS["temperature"], KNOBS["top_k"], KNOBS["top_p"], 1.0, KNOBS["max_new"], KNOBS["seed"])
    reply = list(chat.stream_reply(tiny_chat, [{"role": "user", "content": "Hello cat"}], "", cfg))[-1]
    history = [{"role": "user", "content": "Hello cat"}, {"role": "assistant", "content": reply.text}]
    return history, reply.steps


def do_branch(history, steps, tree, index, candidate, model="tiny-chat", **knobs):
    return list(bp.branch(history, steps, tree, index, candidate, model, "", *dict(KNOBS, **knobs).values(),
                          "tiny-chat"))


def other(step):
    return next(i for i, t in enumerate(step["candidate_ids"]) if i != step["chosen"] and t > 2)


def test_branch_streams_a_new_branch_into_the_chat_and_keeps_the_old(answered):
    history, steps = answered
    outs = do_branch(history, steps, None, 4, other(steps[3]))
    final = outs[-1]
    assert len(outs) >= 2 and outs[0]["live"] is outs[-2]["live"] and outs[-2]["live"].done, "the branch should stream"
    assert outs[-2]["live"].text == branching.current(outs[-2]["tree"])["text"], "Stop would mark another text"
    tree = outs[-2]["tree"]
    assert len(tree["branches"]) == 2 and tree["current"] == 1 and tree["branches"][0]["text"] == history[1]["content"]
    new = branching.current(tree)
    assert outs[-2]["chatbot"][-1]["content"] == new["text"] and outs[-2]["chatbot"][0] == history[0]
    assert new["steps"][3]["token"] == steps[3]["candidates"][other(steps[3])], "the chosen token is not at #4"
    assert "▶ #1" in final["tree_view"] and "log p" in final["tree_view"], final["tree_view"]
    assert final["step"]["value"] == 4, "the sampler view should show the branch point"
    assert "perplexity" in final["measures"] and final["measures_plot"] is not None

    back = bp.switch_branch(outs[-2]["chatbot"], tree, 0)
    assert back["chatbot"][-1]["content"] == history[1]["content"] and back["steps"] == steps
    again = do_branch(back["chatbot"], back["steps"], back["tree"], 2, other(steps[1]))
    assert len(again[-2]["tree"]["branches"]) == 3, "branching again must keep every branch"


def test_stale_branch_requests_get_one_sentence(answered):
    history, steps = answered
    tree = do_branch(history, steps, None, 2, other(steps[1]))[-2]["tree"]
    with pytest.raises(gr.Error, match="no answer to branch from"):
        do_branch(history + [{"role": "user", "content": "more"}], steps, tree, 2, 1)
    with pytest.raises(gr.Error, match="no answer to branch from"):
        do_branch([], [], tree, 2, 1)                       # after Clear
    with pytest.raises(gr.Error, match="not the one whose tokens"):
        do_branch([history[0], {"role": "assistant", "content": "something else"}], steps, None, 2, 1)
    with pytest.raises(gr.Error, match="the model is now"):
        do_branch(history, steps, None, 2, 1, model="tinygpt-sft")
    with pytest.raises(gr.Error, match="not in this answer"):
        do_branch(history, steps, None, 99, 1)
    with pytest.raises(gr.Error, match="does not exist"):
        do_branch(history, steps, None, 2, 42)
    with pytest.raises(gr.Error, match="Choose one of the alternatives"):
        do_branch(history, steps, None, 2, None)
    with pytest.raises(gr.Error, match="no longer the last one"):
        bp.switch_branch(history + [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], tree, 0)
    with pytest.raises(gr.Error, match="no branch 7"):
        bp.switch_branch(history, tree, 7)


def test_step_mode_picks_draws_and_refuses_a_stale_session(tiny_chat):
    knobs = list(KNOBS.values())
    out = bp.step_begin("Hello cat", [], tiny_chat, "", *knobs)
    assert out["msg"] == "" and out["step_plot"] is not None and out["chatbot"][-1] == {"role": "assistant",
                                                                                        "content": ""}
    s = out["session"]
    final = s["next"]["stages"][-1]["probs"]
    least = min((i for i, t in enumerate(s["next"]["candidate_ids"]) if t > 2), key=final.__getitem__)
    out = bp.step_pick(s, least, out["chatbot"], tiny_chat, *knobs)
    out = bp.step_draw(out["session"], out["chatbot"], tiny_chat, *knobs)
    assert [kind for _, kind in out["step_tokens"]][0] == "your pick" and len(out["step_tokens"]) == 2
    assert out["chatbot"][-1]["content"] == out["session"]["text"] and out["steps"] == out["session"]["steps"]
    with pytest.raises(gr.Error, match="no longer in the conversation"):
        bp.step_draw(out["session"], [], tiny_chat, *knobs)              # after Clear
    with pytest.raises(gr.Error, match="the model is now"):
        bp.step_draw(out["session"], out["chatbot"], "tinygpt-sft", *knobs)
    with pytest.raises(gr.Error, match="Start step mode first"):
        bp.step_draw(None, out["chatbot"], tiny_chat, *knobs)
    with pytest.raises(gr.Error, match="Choose one of the candidates"):
        bp.step_pick(out["session"], None, out["chatbot"], tiny_chat, *knobs)
    with pytest.raises(gr.Error, match="Type a message"):
        bp.step_begin("  ", [], tiny_chat, "", *knobs)


def test_letting_the_sampler_finish_equals_send_with_the_same_seed(tiny_chat, answered):
    history, steps = answered
    knobs = list(KNOBS.values())
    first = bp.step_begin("Hello cat", [], tiny_chat, "", *knobs)
    outs = list(bp.step_finish(first["session"], first["chatbot"], tiny_chat, *knobs))
    assert outs[-1]["live"].done and outs[-1]["session"]["done"]
    assert outs[-1]["chatbot"] == history, "step mode drawing to the end must equal the normal answer"
    assert branching.token_ids(outs[-1]["steps"]) == branching.token_ids(steps)


def test_measured_table_handler_returns_the_chart_and_a_sentence_per_row(tiny_chat):
    out = bp.measure_table("Hello cat", 2, 6, tiny_chat, "", 50, 0.9, 0, progress=lambda *a, **k: None)
    assert len(out["study_plot"].data) == 3
    assert out["study_table"].count("<tr>") == 6 and "conservative, factual" in out["study_table"]
    assert sum(out["study_table"].count(w) for w in ("Supported", "Not supported", "Not resolved")) >= 5, \
        "every row carries a verdict (2 samples: most are Not resolved, within the noise)"
    with pytest.raises(gr.Error, match="Type a prompt"):
        bp.measure_table(" ", 2, 6, tiny_chat, "", 50, 0.9, 0, progress=lambda *a, **k: None)
    with pytest.raises(gr.Error, match="Samples"):
        bp.measure_table("Hi", 99, 6, tiny_chat, "", 50, 0.9, 0, progress=lambda *a, **k: None)


def test_the_app_names_the_new_endpoints():
    import app
    demo = app.build_app()
    names = {fn.api_name for fn in demo.fns.values()}
    wanted = {"chat_branch", "chat_branch_switch", "chat_step_start", "chat_step_pick", "chat_step_draw",
              "chat_step_finish", "temperature_table"}
    assert wanted <= names, f"missing endpoints: {wanted - names}"


def test_stop_during_a_branch_keeps_the_partial_branch_and_it_can_be_branched_again(answered):
    from llm_demo.ui import chat_tab
    history, steps = answered
    gen = bp.branch(history, steps, None, 2, other(steps[1]), "tiny-chat", "", *KNOBS.values(), "tiny-chat")
    first, second = next(gen), next(gen)
    stopped = chat_tab.mark_stopped(first["live"])                  # what the Stop button does
    gen.close()
    assert stopped["chatbot"][-1]["content"].endswith(chat.STOPPED_MARK), stopped
    assert chat.clean_history(stopped["chatbot"])[-1]["content"] == branching.current(second["tree"])["text"]
    again = do_branch(stopped["chatbot"], second["steps"], second["tree"], 1, other(steps[0]))
    assert len(again[-2]["tree"]["branches"]) == 3, "the stopped branch should still be part of the tree"
