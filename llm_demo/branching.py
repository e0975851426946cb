"""An answer as one path through a tree: branches at any token, the visitor as the sampler (step mode), and the
per-answer measures (entropy, log-probability, perplexity). No Gradio: the Chat tab keeps these JSON-friendly
dicts in a gr.State and calls the functions below. Steps are chat.step_record dicts.
"""
import math
from typing import Iterator

from llm_demo import batching, chat, engine, models
from llm_demo.sampling import SamplingConfig
from llm_demo import count

STEP_TOP_N = 12       # candidates shown (and pickable) per step in step mode


# ---------------------------------------------------------------- per-answer measures

def step_logprob(step: dict) -> float:
    """log p(token) under the model (raw softmax, T=1) at this step, in nats."""
    return step["logprobs"][step["chosen"]]


def answer_measures(steps: list[dict]) -> dict:
    """Entropy of each step's distribution, the answer's total log-probability and its perplexity under the model.

    Perplexity = exp(-mean log p): the model was on average as unsure as a fair choice among that many tokens.
    The end-of-turn token is not part of the steps, so it is not counted.
    """
    lps = [step_logprob(s) for s in steps]
    total = sum(lps)
    return {"n": len(steps), "total_logprob": total,
            "perplexity": math.exp(-total / len(lps)) if lps else float("nan"),
            "entropy": [s["entropy"] for s in steps], "entropy_final": [s["entropy_final"] for s in steps],
            "logprobs": lps,
            "sampler_logprob": sum(math.log(s["prob"]) if s["prob"] > 0 else -math.inf for s in steps)}


def measures_text(steps: list[dict]) -> str:
    if not steps:
        return ""
    m = answer_measures(steps)
    mean_h = sum(m["entropy"]) / m["n"]
    return (f"**{count(m['n'], 'token')}** · total log-probability under the model **{m['total_logprob']:.2f}** nats · "
            f"perplexity **{m['perplexity']:.2f}** · mean entropy of the model's next-token distribution "
            f"**{mean_h:.2f}** nats (after the sampler's filters: {sum(m['entropy_final']) / m['n']:.2f})")


# ---------------------------------------------------------------- the branch tree

def token_ids(steps: list[dict]) -> list[int]:
    return [s["token_id"] for s in steps]


def new_tree(model: str, system: str, messages: list[dict], text: str, steps: list[dict],
             finish_reason: str = "") -> dict:
    """A tree whose root is an answer: messages is the conversation before it."""
    root = {"id": 0, "parent": None, "at": None, "text": text, "steps": steps, "finish_reason": finish_reason}
    return {"model": model, "system": system, "messages": messages, "branches": [root], "current": 0}


def current(tree: dict) -> dict:
    return tree["branches"][tree["current"]]


def get_branch(tree: dict, branch_id) -> dict:
    n = len(tree["branches"])
    if isinstance(branch_id, bool) or not isinstance(branch_id, int) or not 0 <= branch_id < n:
        raise ValueError(f"There is no branch {branch_id!r}: this answer has branches 0 to {n - 1}.")
    return tree["branches"][branch_id]


def switch(tree: dict, branch_id) -> dict:
    """The same tree showing another branch (the conversation continues from the one shown)."""
    get_branch(tree, branch_id)
    return {**tree, "current": branch_id}


def forced_step(step: dict, candidate) -> dict:
    """The step record with a candidate put in place of the token that was drawn."""
    n = len(step["candidate_ids"])
    if isinstance(candidate, bool) or not isinstance(candidate, int) or not 0 <= candidate < n:
        raise ValueError(f"Candidate {candidate!r} does not exist: this token has candidates 0 to {n - 1}.")
    if candidate == step["chosen"]:
        raise ValueError(f"{step['token']!r} is already the token here: pick another candidate to branch.")
    return {**step, "chosen": candidate, "token": step["candidates"][candidate],
            "token_id": step["candidate_ids"][candidate], "prob": step["stages"][-1]["probs"][candidate],
            "forced": True}


def grow_branch(tree: dict, branch_id, index, candidate, cfg: SamplingConfig) -> Iterator[dict]:
    """Cut branch `branch_id` before token `index` (0-based), put candidate `candidate` there and let the model go on
    with cfg, streaming. Yields the tree (a new dict each time) whose current branch is the growing new one."""
    parent = get_branch(tree, branch_id)
    n = len(parent["steps"])
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
        raise ValueError(f"Token #{index + 1 if isinstance(index, int) else index!r} is not in this answer: "
                         f"it has tokens 1 to {n}.")
    forced = forced_step(parent["steps"][index], candidate)
    kept = parent["steps"][:index]
    lm = models.load(tree["model"])
    ends = forced["token_id"] in engine.stop_token_ids(lm)
    branch = {"id": len(tree["branches"]), "parent": parent["id"], "at": index, "text": "",
              "steps": kept if ends else kept + [forced], "finish_reason": "", "forced": forced["token"]}
    out = {**tree, "branches": tree["branches"] + [branch], "current": branch["id"]}
    prefix = token_ids(kept) + [forced["token_id"]]
    for reply in chat.stream_reply(tree["model"], tree["messages"], tree["system"], cfg, prefix_ids=prefix):
        branch["text"] = reply.text
        branch["steps"] = (kept if ends else kept + [forced]) + reply.steps
        branch["finish_reason"] = reply.finish_reason
        yield out


def tree_rows(tree: dict) -> list[dict]:
    """The branches in depth-first order: {id, depth, label, shown, logprob, sampler_p} for a compact view."""
    children: dict = {}
    for b in tree["branches"]:
        children.setdefault(b["parent"], []).append(b)
    rows = []

    def walk(b, depth):
        m = answer_measures(b["steps"]) if b["steps"] else {"total_logprob": 0.0, "sampler_logprob": 0.0}
        if b["parent"] is None:
            label = "original answer"
        else:
            was = get_branch(tree, b["parent"])["steps"][b["at"]]["token"]
            label = f"token #{b['at'] + 1}: {was!r} → {b['forced']!r}"
        rows.append({"id": b["id"], "depth": depth, "label": label, "shown": b["id"] == tree["current"],
                     "logprob": m["total_logprob"], "sampler_p": math.exp(m["sampler_logprob"]),
                     "text": b["text"]})
        for c in children.get(b["id"], []):
            walk(c, depth + 1)
    walk(tree["branches"][0], 0)
    return rows


# ---------------------------------------------------------------- step mode: the visitor is the sampler

def step_session(model: str, system: str, messages: list[dict]) -> dict:
    """A step-by-step answer to the last user message of `messages`; nothing is picked yet."""
    if not messages or messages[-1]["role"] != "user":
        raise ValueError("Type a message first: step mode answers it one token at a time.")
    return {"model": model, "system": system, "messages": messages, "ids": [], "steps": [], "kinds": [],
            "text": "", "next": None, "done": False, "finish_reason": ""}


def peek(session: dict, cfg: SamplingConfig) -> dict:
    """Compute the next token's distribution under cfg (and the draw the sampler would make with cfg.seed)."""
    if session["done"]:
        raise ValueError(f"This answer is finished ({session['finish_reason']}): send a new message to start again.")
    lm = models.load(session["model"])
    prompt, _, _ = chat.fit_history(lm, session["messages"], session["system"], cfg.max_new_tokens)
    pieces = batching.stream(lm, prompt, cfg, inspect=STEP_TOP_N, prefix_ids=session["ids"])
    try:
        piece = next(pieces)
    finally:
        pieces.close()
    out = dict(session, next=None)
    if piece.step is None:                   # the picks so far already end the answer (max tokens, stop string)
        out.update(done=True, finish_reason=piece.finish_reason)
    else:
        out["next"] = chat.step_record(lm, piece)
    return out


def kind_of(step: dict, by_sampler: bool) -> str:
    """How a token was chosen: the top token of the final distribution (greedy), drawn lower down, or picked by you."""
    final = step["stages"][-1]["probs"]
    if final[step["chosen"]] >= max(final):
        return "greedy pick"
    return "sampled pick" if by_sampler else "your pick"


def take(session: dict, choice=None) -> dict:
    """Append the next token: the sampler's draw (choice None) or the candidate with index `choice`."""
    nxt = session.get("next")
    if session["done"] or nxt is None:
        raise ValueError("There is no distribution to pick from: start step mode (or start again) first.")
    step = nxt if choice is None else forced_step(nxt, choice) if choice != nxt["chosen"] else nxt
    step = {k: v for k, v in step.items() if k != "forced"}
    lm = models.load(session["model"])
    out = dict(session, next=None, ids=session["ids"] + [step["token_id"]])
    if step["token_id"] in engine.stop_token_ids(lm):
        out.update(done=True, finish_reason="end of turn")
        return out
    out["steps"] = session["steps"] + [step]
    out["kinds"] = session["kinds"] + [kind_of(step, by_sampler=choice is None)]
    out["text"] = lm.tokenizer.decode(out["ids"], skip_special_tokens=True)
    return out
