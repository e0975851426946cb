"""Chat core (no Gradio): history that fits the context, a streaming reply with the sampler's view, the
temperature sweep, and the Plotly figure of one sampling step. The Chat tab is a thin layer over this.
"""
import time
from dataclasses import dataclass, field
from typing import Iterator

from llm_demo import batching, config, count, engine, models
from llm_demo.sampling import SamplingConfig

STOPPED_MARK = " ⏹ (stopped)"
# An answer with no text is shown as this (the browser's chatbot shows an empty message as still loading); the
# model gets it back as an empty assistant turn.
EMPTY_ANSWER = "∅ (no text: the model ended its turn at once)"
INSPECT_TOP_N = 10

# The seed's one-line description of each temperature in its table (labels shown above the sweep's columns).
SEED_TEMPERATURE_NOTES = {
    0.0: "deterministic: always the most likely token",
    0.3: "conservative, factual",
    0.7: "balanced creativity and coherence",
    1.0: "standard sampling, moderate diversity",
    1.5: "very creative, may lose coherence",
}


def text_of(content) -> str:
    """Message content as plain text: Gradio 6 hands content back as a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, (list, tuple)):
        return "".join(text_of(c) for c in content)
    return "" if content is None else str(content)


def shown_history(history) -> list[dict]:
    """[{role, content: str}] as the conversation shows it: user/assistant messages, empty answers and our
    "(stopped)" marks kept (the visible history never loses a turn)."""
    if history is None:
        return []
    if not isinstance(history, (list, tuple)):
        raise ValueError("The chat history must be a list of {role, content} messages.")
    return [{"role": m["role"], "content": text_of(m.get("content"))} for m in history
            if isinstance(m, dict) and m.get("role") in ("user", "assistant")]


def clean_history(history) -> list[dict]:
    """[{role, content: str}] for the model: our UI markers removed, empty user messages dropped. An empty answer
    (an immediate end of turn, a Stop before any text) stays as an empty assistant turn, so the model never sees
    two user turns in a row."""
    out = []
    for m in shown_history(history):
        text = m["content"].removesuffix(STOPPED_MARK).removeprefix(EMPTY_ANSWER)
        if text or m["role"] == "assistant":
            out.append({"role": m["role"], "content": text})
    return out


def fit_history(lm, messages: list[dict], system: str, max_new_tokens: int) -> tuple[str, list[dict], int]:
    """Drop the oldest turns until prompt + answer fit the model's context: (prompt, kept, n_dropped).

    Same rule as Compare: the prompt must fit what the engine accepts; when the answer's max new tokens leave no
    room for the old turns, only the last message is kept and the answer stops when the context is full.
    The cut is found by bisection over where the kept turns start (O(log n) prompts, not one per dropped turn)."""
    limit = engine.prompt_limit(lm)
    target = min(limit, max(1, lm.context_length - max_new_tokens))    # leaves room for the whole answer
    starts = [i for i, m in enumerate(messages) if m["role"] == "user"] or [0]
    if starts[-1] != len(messages) - 1:
        starts.append(len(messages) - 1)
    cache = {}

    def size(i):
        if i not in cache:
            prompt = models.build_prompt(lm.spec, lm.tokenizer, messages[i:], system)
            cache[i] = (prompt, len(engine.encode_prompt(lm, prompt)))
        return cache[i]

    lo, hi = 0, len(starts) - 1                 # find the earliest start whose prompt fits the target
    if size(starts[hi])[1] <= target:
        while lo < hi:
            mid = (lo + hi) // 2
            if size(starts[mid])[1] <= target:
                hi = mid
            else:
                lo = mid + 1
    start = starts[hi]
    prompt, n = size(start)
    if n > limit:
        raise ValueError(engine.too_long_sentence(lm, n, "This message"))
    return prompt, messages[start:], start


@dataclass
class Reply:
    """The growing answer and what the UI reports about it."""
    text: str = ""
    steps: list[dict] = field(default_factory=list)   # one per generated token, for the sampler view
    prompt: str = ""
    dropped: int = 0
    n_tokens: int = 0
    ttft_s: float | None = None
    seconds: float = 0.0
    finish_reason: str = ""
    note: str = ""                # why the answer may stop early (max new tokens beyond the context's room)
    weights: str = ""             # which engine and weights answered (models.weights_label), "" when nothing to say

    def stats(self) -> str:
        tps = self.n_tokens / self.seconds if self.seconds > 0 else 0.0
        ttft = f"{self.ttft_s * 1000:.0f} ms" if self.ttft_s is not None else "–"
        s = f"{count(self.n_tokens, 'token')} · {tps:.1f} tokens/s · time to first token {ttft}"
        s += f" · stopped by: {self.finish_reason}" if self.finish_reason else ""
        return s + (f" · {self.weights}" if self.weights else "")


@dataclass
class Live:
    """The answer being generated, as last shown (the Chat tab's `live` state, shared by reference with Stop and
    the branch panel: Stop sets `stopped`, the streaming loop then ends without overwriting what is shown)."""
    shown: list = field(default_factory=list)   # the conversation up to the user message being answered
    text: str = ""
    steps: list = field(default_factory=list)
    stats: str = ""
    stopped: bool = False
    done: bool = False


def step_record(lm, piece) -> dict:
    """A JSON-friendly view of one sampling step (kept in the browser session's state)."""
    st = piece.step
    if lm.tokenizer is None:                   # a server's top_logprobs: candidates are already text
        return {"token": st.token, "prob": st.prob, "candidates": st.candidates, "chosen": st.candidates.index(st.token),
                "stages": [{"name": s.name, "probs": s.probs, "kept": s.kept} for s in st.stages]}
    *cands, token = lm.tokenizer.batch_decode([[i] for i in st.candidates] + [[piece.token_id]])   # one call
    return {"token": token, "prob": st.prob, "candidates": cands,
            "chosen": st.candidates.index(piece.token_id),
            "stages": [{"name": s.name, "probs": s.probs, "kept": s.kept} for s in st.stages],
            # for branching and the per-answer measures (llm_demo/branching.py)
            "token_id": piece.token_id, "candidate_ids": list(st.candidates), "logprobs": st.logprobs,
            "entropy": st.entropy, "entropy_final": st.entropy_final}


def stream_reply(model_name: str, messages: list[dict], system: str, cfg: SamplingConfig,
                 inspect: int = INSPECT_TOP_N, prefix_ids=()) -> Iterator[Reply]:
    """Yield the same Reply object as it grows (text, steps), finishing with timing stats.
    prefix_ids: answer tokens taken as already generated (a branch); reply.text then starts with their text and
    reply.steps holds the new tokens only."""
    if not messages or messages[-1]["role"] != "user" or not messages[-1]["content"].strip():
        raise ValueError("Type a message first: there is nothing to answer.")
    lm = models.load(model_name)
    if not lm.spec.chat:
        raise ValueError(f"{lm.spec.label} is a base model: it continues text but was never taught to chat. "
                         "Pick an instruct, SFT or DPO model (or compare them in the Compare tab).")
    t0 = time.perf_counter()                    # the time to first token includes fitting the history
    reply = Reply(weights=models.weights_label(lm))
    if lm.takes_messages:                       # the server applies its own chat template and context limit
        if prefix_ids:
            raise ValueError(f"{lm.spec.label} runs on a remote server, which cannot continue from a token you "
                             "chose: branch with a local model.")
        reply.prompt, pieces = str(messages), lm.stream_messages(messages, system, cfg, inspect)
    else:
        reply.prompt, _, reply.dropped = fit_history(lm, messages, system, cfg.max_new_tokens)
        room = lm.context_length - len(engine.encode_prompt(lm, reply.prompt))
        if cfg.max_new_tokens > room:
            reply.note = (f"{lm.spec.label} reads {lm.context_length} tokens in all and this prompt leaves "
                          f"{count(room, 'position')}, fewer than max new tokens ({cfg.max_new_tokens}): the answer "
                          f"stops when the context is full (lower max new tokens to keep more of the conversation). ")
        pieces = batching.stream(lm, reply.prompt, cfg, inspect=inspect, prefix_ids=prefix_ids)
    for piece in pieces:
        if reply.ttft_s is None:
            reply.ttft_s = time.perf_counter() - t0
        reply.text += piece.text
        reply.n_tokens = piece.n_tokens
        if piece.step is not None and piece.finish_reason != "end of turn":
            reply.steps.append(step_record(lm, piece))
        reply.seconds = time.perf_counter() - t0
        reply.finish_reason = piece.finish_reason
        yield reply


def temperature_sweep(model_name: str, prompt: str, temperatures: list[float], cfg: SamplingConfig,
                      system: str = "") -> Iterator[list[tuple[float, str]]]:
    """One prompt answered at each temperature with the same seed; yields the columns as they fill."""
    if not temperatures:
        raise ValueError("List at least one temperature, e.g. 0, 0.3, 0.7, 1.0, 1.5.")
    messages = [{"role": "user", "content": prompt if isinstance(prompt, str) else ""}]
    cols = [(t, "") for t in temperatures]
    for i, t in enumerate(temperatures):
        run_cfg = SamplingConfig(t, cfg.top_k, cfg.top_p, cfg.repetition_penalty, cfg.max_new_tokens, cfg.seed)
        for reply in stream_reply(model_name, messages, system, run_cfg, inspect=0):
            cols[i] = (t, reply.text)
            yield list(cols)


MAX_TEMPERATURE = 2.0      # the Chat tab's slider end (ui/chat_tab.py), the sweep's and links' limit


def parse_temperatures(text: str) -> list[float]:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("List at least one temperature, e.g. 0, 0.3, 0.7, 1.0, 1.5.")
    out = []
    for part in text.replace(";", ",").split(","):
        try:
            out.append(float(part))
        except ValueError:
            raise ValueError(f"{part.strip()[:40]!r} is not a temperature; write numbers separated by commas.") from None
    if len(out) > 6:
        raise ValueError(f"At most 6 temperatures at once (you listed {len(out)}).")
    for t in out:
        SamplingConfig(temperature=t)             # refuses a negative or infinite temperature with a sentence
        if t > MAX_TEMPERATURE:                   # the Chat tab's slider and /chat stop at 2: so does the sweep
            raise ValueError(f"Temperature {t:.15g} is above {MAX_TEMPERATURE:g}, the most the Chat tab's slider and "
                             f"/chat take: list temperatures from 0 to {MAX_TEMPERATURE:g}.")
    return out


def prob_buckets(steps: list[dict]) -> list[tuple[str, str]]:
    """(token, probability bucket) pairs for colouring the answer by how sure the sampler was."""
    def bucket(p):
        return "p ≥ 0.9" if p >= 0.9 else "0.5 ≤ p < 0.9" if p >= 0.5 else "0.1 ≤ p < 0.5" if p >= 0.1 else "p < 0.1"
    return [(shown_token(s["token"]), bucket(s["prob"])) for s in steps]


def shown_token(token: str) -> str:
    """A token as a clickable label: line breaks and tabs as visible symbols, an empty piece as ∅."""
    return token.replace("\n", "↵").replace("\t", "⇥") or "∅"
