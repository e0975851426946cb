"""One Chat turn as the Chat tab shows it, without Gradio: the notes around an answer, the answer and a branch as
streams of frames, Regenerate's next seed, and `follow`, the one loop that streams a frame into the Stop-able
`chat.Live` state. ui/chat_tab.py and ui/branch_panel.py adapt these to components; bench/chat.py times them.
"""
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Iterator

from llm_demo import branching, chat, count, models
from llm_demo.sampling import SamplingConfig

SINGLE_TURN = ("TinyGPT was trained on single questions (one user turn, one answer), never on a conversation: "
               "from the second question on it sees text unlike anything it learned from, so expect nonsense. "
               "Press Clear to ask each question on its own. ")
EMPTY_MESSAGE = "Type a message first: nothing was sent."


def loading_note(name: str) -> str:
    """The one sentence every tab shows while a model loads (seconds, once per process)."""
    return f"Loading {models.get_spec(name).label} (first use only)…"


def needs_loading(name: str) -> bool:
    return models.get_spec(name).name not in models.CACHE.loaded_names()


def single_turn_note(model: str, shown: list) -> str:
    """The warning a TinyGPT chat gets once it has more than one user turn ('' otherwise)."""
    turns = sum(m.get("role") == "user" for m in shown)
    return SINGLE_TURN if models.get_spec(model).family == "tinygpt" and turns > 1 else ""


def switch_note(last_model: str, model: str, shown: list) -> str:
    """Said once when the model changes under a conversation that already holds answers ('' otherwise)."""
    if last_model and last_model != model and any(m["role"] == "assistant" for m in shown):
        return f"Switched model: earlier answers came from {last_model}, the next from {model}. "
    return ""


def user_turn(message, history) -> tuple[list, list]:
    """(the conversation before, the conversation with the new user message): what Send shows at once.
    Refuses an empty message (nothing is sent)."""
    if not isinstance(message, str) or not message.strip():
        raise ValueError(EMPTY_MESSAGE)
    before = chat.shown_history(history)
    return before, before + [{"role": "user", "content": message}]


@dataclass
class Frame:
    """One displayed state of a streaming answer: its text and sampler steps so far, the status line, and what the
    caller shows besides (the conversation for an answer, the tree for a branch, the session for step mode)."""
    text: str
    steps: list
    stats: str
    chatbot: list = field(default_factory=list)
    data: Any = None


def answer_frames(shown: list, model: str, system: str, cfg: SamplingConfig, notice: str = "") -> Iterator[Frame]:
    """Stream the answer to the last user message of `shown` (the conversation as displayed). Each frame's chatbot
    is `shown` plus the answer once it has text (an empty message shows as loading in a browser)."""
    for reply in chat.stream_reply(model, chat.clean_history(shown), system or "", cfg):
        dropped = f"Dropped the {reply.dropped} oldest messages to fit the context. " if reply.dropped else ""
        content = reply.text or (chat.EMPTY_ANSWER if reply.finish_reason else "")
        answer = [{"role": "assistant", "content": content}] if content else []
        yield Frame(reply.text, list(reply.steps), notice + dropped + reply.note + reply.stats(), shown + answer)


def follow(live: chat.Live, frames: Iterable[Frame]) -> Iterator[Frame]:
    """The one live-stream loop: record each frame in `live` (what Stop marks and keeps) and pass it on; end
    quietly once Stop set `live.stopped` (what is shown stays); `live.done` once it ends, however it ends."""
    try:
        for frame in frames:
            if live.stopped:
                return
            live.text, live.steps, live.stats = frame.text, list(frame.steps), frame.stats  # a copy: no growth after Stop
            yield frame
    finally:
        live.done = True


def regenerate_plan(history, cfg: SamplingConfig) -> tuple[list, SamplingConfig, str]:
    """Regenerate: (the conversation up to the last user message, the config with the next seed, the note).
    Greedy decoding keeps its seed and says the answer repeats."""
    shown = chat.shown_history(history)
    while shown and shown[-1]["role"] == "assistant":
        shown.pop()
    if not shown:
        raise ValueError("Nothing to regenerate yet: send a message first.")
    if cfg.greedy:
        return shown, cfg, "Temperature 0 is greedy: the same answer every time (raise it to sample another). "
    cfg = replace(cfg, seed=(cfg.seed + 1) % 2**63)                    # a new config: checked as it is made
    return shown, cfg, f"Regenerated with seed {cfg.seed} (the previous seed + 1). "


def answer_in(history, text: str) -> list[dict]:
    """The conversation as shown, with its last answer replaced by text."""
    return chat.shown_history(history)[:-1] + [{"role": "assistant", "content": text}]


def tree_for(history, steps, tree, model, answer_model, system) -> dict:
    """The branch tree of the answer shown: the one kept if it still matches the conversation, else a new one."""
    msgs = chat.clean_history(history)
    if not msgs or msgs[-1]["role"] != "assistant":
        raise ValueError("There is no answer to branch from yet: send a message first.")
    if not (tree and tree["messages"] == msgs[:-1] and branching.current(tree)["text"] == msgs[-1]["content"]):
        if not steps:
            raise ValueError("The sampler view holds no tokens for this answer: send or regenerate it, then branch.")
        lm = models.load(answer_model or model)
        if lm.tokenizer.decode(branching.token_ids(steps), skip_special_tokens=True) != msgs[-1]["content"]:
            raise ValueError("The answer shown is not the one whose tokens the sampler view holds (the conversation "
                             "changed): send or regenerate an answer, then branch.")
        tree = branching.new_tree(answer_model or model, system or "", msgs[:-1], msgs[-1]["content"], steps)
    if model != tree["model"]:
        raise ValueError(f"This answer's tokens come from {tree['model']}, and the model is now {model}: switch back "
                         "to branch it, or send a new message.")
    return tree


def branch_frames(history, tree: dict, index: int, candidate: int, cfg: SamplingConfig) -> Iterator[Frame]:
    """Cut the shown answer before token `index` (0-based), put the candidate there and stream the continuation;
    each frame's data is the tree (its current branch the new one)."""
    for tree in branching.grow_branch(tree, tree["current"], index, candidate, cfg):
        b = branching.current(tree)
        yield Frame(b["text"], b["steps"], f"Branch #{b['id']} from token #{index + 1}: {count(len(b['steps']), 'token')}",
                    answer_in(history, b["text"]), tree)


def check_step_session(session, history, model) -> None:
    """Step mode goes on only with the model and the conversation it started with."""
    if not session:
        raise ValueError("Start step mode first: type a message and press “Answer step by step”.")
    if model != session["model"]:
        raise ValueError(f"Step mode was started with {session['model']}, and the model is now {model}: "
                         "start step mode again.")
    expected = session["messages"] + [{"role": "assistant", "content": session["text"]}]
    if chat.clean_history(history) != expected:
        raise ValueError("This step-by-step answer is no longer in the conversation (Clear or a new message): "
                         "start step mode again.")
