"""llm_demo/turns.py without Gradio: a chat turn's frames, the one live-stream/stop loop, Regenerate's seed, the
notes around an answer, branching's frames (the tiny GPT-2: no downloads)."""
import pytest

from llm_demo import chat, turns
from llm_demo.sampling import SamplingConfig

GREEDY = SamplingConfig(temperature=0, max_new_tokens=8)


def test_user_turn_adds_the_message_and_refuses_an_empty_one():
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    before, shown = turns.user_turn("again", history)
    assert before == history and shown == history + [{"role": "user", "content": "again"}], shown
    for empty in ("", "   ", None, 3):
        with pytest.raises(ValueError, match="Type a message first"):
            turns.user_turn(empty, history)


def test_answer_frames_grow_and_match_the_engine(tiny_chat):
    _, shown = turns.user_turn("Hello cat", [])
    frames = list(turns.answer_frames(shown, tiny_chat, "", GREEDY, notice="N. "))
    assert len(frames) >= 2, f"expected a stream, got {len(frames)} frames"
    texts = [f.text for f in frames]
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:])), f"text must only grow: {texts}"
    last = frames[-1]
    assert last.chatbot[:-1] == shown and last.chatbot[-1]["role"] == "assistant", last.chatbot
    assert last.stats.startswith("N. ") and "tokens/s" in last.stats, last.stats
    reply = list(chat.stream_reply(tiny_chat, shown, "", GREEDY))[-1]
    assert last.text == reply.text and len(last.steps) == len(reply.steps), "frames must carry the reply itself"


def test_follow_records_each_frame_stops_quietly_and_marks_done():
    frames = [turns.Frame(t, [t], f"stats {t}") for t in ("a", "ab", "abc")]
    live = chat.Live([])
    seen = []
    for f in turns.follow(live, frames):
        seen.append(f.text)
        assert (live.text, live.steps, live.stats) == (f.text, f.steps, f.stats), "live must hold what is shown"
        assert live.steps is not f.steps, "live keeps a copy (the state must not grow after Stop)"
        if f.text == "ab":
            live.stopped = True
    assert seen == ["a", "ab"], f"after Stop no frame may be shown: {seen}"
    assert live.done and live.text == "ab", "Stop keeps the answer as last shown"

    def failing():
        yield turns.Frame("x", [], "")
        raise RuntimeError("decode failed")
    live = chat.Live([])
    with pytest.raises(RuntimeError):
        list(turns.follow(live, failing()))
    assert live.done, "a failed stream must be marked done too"


def test_regenerate_plan_moves_the_seed_on_and_keeps_it_when_greedy():
    history = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    shown, cfg, note = turns.regenerate_plan(history, SamplingConfig(temperature=0.8, seed=2**63 - 1))
    assert shown == history[:1] and cfg.seed == 0 and "seed 0" in note, (shown, cfg.seed, note)
    shown, cfg, note = turns.regenerate_plan(history, SamplingConfig(temperature=0, seed=7))
    assert cfg.seed == 7 and "greedy" in note, note
    with pytest.raises(ValueError, match="Nothing to regenerate"):
        turns.regenerate_plan([], GREEDY)


def test_the_notes_around_an_answer():
    two = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    assert turns.switch_note("", "tinygpt-sft", two) == "", "no earlier model, no switch"
    assert turns.switch_note("tinygpt-sft", "tinygpt-sft", two) == ""
    assert "tinygpt-base" in turns.switch_note("tinygpt-base", "tinygpt-sft", two)
    assert turns.switch_note("tinygpt-base", "tinygpt-sft", two[:1]) == "", "nothing answered yet: nothing switched"
    assert turns.loading_note("tinygpt-sft").endswith("(first use only)…")


def test_branch_frames_stream_a_new_branch(tiny_chat):
    from llm_demo import branching
    _, shown = turns.user_turn("Hello cat", [])
    first = list(turns.answer_frames(shown, tiny_chat, "", SamplingConfig(temperature=0, max_new_tokens=6)))[-1]
    history = first.chatbot
    tree = turns.tree_for(history, first.steps, None, tiny_chat, tiny_chat, "")
    step = first.steps[1]
    other = next(i for i in range(len(step["candidates"])) if i != step["chosen"])
    frames = list(turns.branch_frames(history, tree, 1, other, GREEDY))
    assert frames, "a branch must stream"
    tree = frames[-1].data
    assert branching.current(tree)["id"] == 1 and frames[-1].chatbot[-1]["content"] == frames[-1].text
    assert frames[-1].steps[1]["token"] == step["candidates"][other], "the chosen candidate must be in place"
    with pytest.raises(ValueError, match="no answer to branch"):
        turns.tree_for(shown, first.steps, None, tiny_chat, tiny_chat, "")
