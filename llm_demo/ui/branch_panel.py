"""Chat tab panels: branch an answer at any token, be the sampler yourself (step mode), and the seed's temperature
table measured. Handlers return {name: value} (see common.by_name); build_*() make components, wire() connects them
to the Chat tab's own components (passed in by name).
"""
import html
import math

import gradio as gr

from llm_demo import branching, chat, chat_plots, config, models, temperature_study, turns
from llm_demo.ui.common import by_name, friendly, load_with_progress, sampler_view, sampling_config
from llm_demo import count

BRANCH_HELP = """**Take another path.** Pick a token of the answer (click it or use the slider), choose one of its
alternatives and press *Branch*: the answer is cut before that token, your choice goes in its place, and the model
goes on from there with the current settings. Every branch is kept: switch between them below; the conversation
continues from the branch shown. *log p* is the branch's log-probability under the model, *sampler p* the chance
that the sampler, with the settings of each step, would have produced exactly these tokens."""

STEP_HELP = """**Be the sampler.** Type a message and press *Answer step by step*: the chart shows the model's
next-token distribution before and after temperature / top-k / top-p, and you pick the next token, or let the
sampler draw it with the seed (drawing all the way gives exactly the answer *Send* gives with the same seed and
settings). Marks: **greedy pick** = the most likely token after the filters, **sampled pick** = the sampler drew a
less likely one, **your pick** = you chose a less likely one."""

STUDY_HELP = f"""The seed's table describes temperatures in words (0.3 "conservative, factual" … 1.5 "very creative,
may lose coherence"). Here they are measured: one prompt, N samples at each of its temperatures with the same seeds
(seed … seed+N−1, using the top-k / top-p above), and per temperature **distinct-2** (distinct token pairs / all pairs
across the samples: Li et al., NAACL 2016), **repetition** (repeated 4-grams inside a sample: Welleck et al., ICLR
2020) and the **mean log-probability per token under the model at T=1** (a coherence proxy: how likely the model
itself finds the text). Each verdict compares two temperatures on one of these measures with a 95% bootstrap
interval over the samples (same seeds on both sides): **Supported** only when the difference clears that noise,
**Not supported** when it goes the wrong way beyond it, **Not resolved** otherwise; low temperatures that fall into
loops (rep-4) are not called "conservative". At least {temperature_study.MIN_SAMPLES} samples. The default size ({temperature_study.DEFAULT_SAMPLES} samples ×
{temperature_study.DEFAULT_TOKENS} tokens) is about 20 s of one core's work for SmolLM2; longer while many people
share the machine."""

# The public API's output order, by name (tests/test_ui_wiring.py checks the built app against it).
BRANCHED = ("chatbot", "tree", "steps", "live", "stats", "tree_view", "branch_pick", "measures", "measures_plot",
            "tokens", "step", "plot", "candidates")
STEPPED = ("msg", "session", "chatbot", "steps", "step_tokens", "step_plot", "step_choice", "stats", "last_model",
           "measures", "measures_plot", "tokens", "plot", "step", "live")
API_OUTPUTS = {"chat_branch": BRANCHED, "chat_branch_switch": BRANCHED, "chat_step_start": STEPPED,
               "chat_step_pick": STEPPED, "chat_step_draw": STEPPED, "chat_step_finish": STEPPED,
               "temperature_table": ("study_plot", "study_table")}

KIND_COLORS = {"greedy pick": "#64b5f6", "sampled pick": "#ffb74d", "your pick": "#ba68c8"}
BRANCH_SLOTS = chat.INSPECT_TOP_N + 1      # top-N candidates plus the drawn token when it is not among them
STEP_SLOTS = branching.STEP_TOP_N + 1


def _slots(n: int) -> list[tuple[str, int]]:
    """Radio choices before any answer: candidate indices (API callers pass an index; the labels come later)."""
    return [(f"candidate {i}", i) for i in range(n)]


def _whole(x, what: str) -> int:
    try:
        if float(x) == int(float(x)):
            return int(float(x))
    except (TypeError, ValueError, OverflowError):
        pass
    raise ValueError(f"{what} must be a whole number, got {x!r}.")


def candidate_choices(step: dict, show_drawn: bool = True) -> list[tuple[str, int]]:
    final, raw = step["stages"][-1]["probs"], step["stages"][0]["probs"]
    return [(f"{repr(c)[1:-1] or '∅'} · {final[i]:.3f} after filters · {raw[i]:.3f} model"
             + (" ▶ in the answer" if show_drawn and i == step["chosen"] else ""), i) for i, c in enumerate(step["candidates"])]


def measures_views(steps) -> dict:
    if not steps:
        return dict(measures="", measures_plot=None)
    return dict(measures=branching.measures_text(steps), measures_plot=chat_plots.measures_figure(steps))


def tree_html(tree: dict) -> str:
    """The branches as an indented list, the shown one in bold, each with its probability so far."""
    items = []
    for r in branching.tree_rows(tree):
        label = html.escape(f"#{r['id']} {r['label']}")
        label = f"<b>▶ {label}</b>" if r["shown"] else label
        snippet = html.escape(r["text"][:70] + ("…" if len(r["text"]) > 70 else ""))
        items.append(f"<div style='margin-left:{1.5 * r['depth']}em'>{label} · log p {r['logprob']:.2f} · "
                     f"sampler p {r['sampler_p']:.2g}<br><span style='color:#666'>{snippet}</span></div>")
    return "<div class='branch-tree'>" + "".join(items) + "</div>"


def _tree_views(tree: dict, focus: int | None = None) -> dict:
    """Everything that shows the current branch: tree, picker, measures, and the sampler view on token `focus`."""
    b = branching.current(tree)
    steps = b["steps"]
    out = dict(tree_view=tree_html(tree), **measures_views(steps),
               branch_pick=gr.update(choices=[(f"#{r['id']} {r['label']}", r["id"]) for r in branching.tree_rows(tree)],
                                     value=b["id"]))
    if steps:
        i = len(steps) if focus is None else min(focus + 1, len(steps))
        out.update(sampler_view(steps, i), candidates=gr.update(choices=candidate_choices(steps[i - 1]), value=None))
    return out


# ---------------------------------------------------------------- handlers: branching

def show_candidates(steps, index):
    """The alternatives of the token the sampler view shows: {candidates}."""
    i = _whole(index, "Token #") - 1 if steps else -1
    if not 0 <= i < len(steps or []):
        return dict(candidates=gr.update(choices=_slots(BRANCH_SLOTS), value=None))
    return dict(candidates=gr.update(choices=candidate_choices(steps[i]), value=None))


def after_answer(history, steps, tree):
    """After Send / Regenerate: the measures of the new answer, its branches if it is a branch we know, else none."""
    msgs = chat.clean_history(history)
    if tree and msgs and tree["messages"] == msgs[:-1] and branching.current(tree)["text"] == msgs[-1]["content"]:
        return _tree_views(tree)
    out = dict(tree_view="", branch_pick=gr.update(choices=[], value=None), **measures_views(steps))
    return out | (show_candidates(steps, len(steps)) if steps else {})


@friendly
def branch(history, steps, tree, index, candidate, model, system, temperature, top_k, top_p, rep, max_new, seed,
           last_model):
    """Cut the answer before token #index, put the candidate there and stream the continuation (a new branch)."""
    cfg = sampling_config(temperature, top_k, top_p, rep, max_new, seed)
    tree = turns.tree_for(history, steps, tree, model, last_model, system)
    if candidate is None:
        raise ValueError("Choose one of the alternatives first.")
    i = _whole(index, "Token #") - 1
    live, f = chat.Live(chat.shown_history(history)[:-1]), None
    for f in turns.follow(live, turns.branch_frames(history, tree, i, _whole(candidate, "Candidate"), cfg)):
        yield dict(chatbot=f.chatbot, tree=f.data, steps=live.steps, live=live, stats=f.stats)
    if f is None or live.stopped:
        return
    b = branching.current(f.data)
    yield dict(chatbot=f.chatbot, tree=f.data, steps=b["steps"], stats=f"{f.stats} · stopped by: {b['finish_reason']}",
               **_tree_views(f.data, focus=i))


@friendly
def switch_branch(history, tree, branch_id):
    """Show another branch of the answer; the conversation continues from it."""
    msgs = chat.clean_history(history)
    if not (tree and msgs and tree["messages"] == msgs[:-1]
            and msgs[-1]["content"] in {b["text"] for b in tree["branches"]}):
        raise ValueError("These branches belong to an answer that is no longer the last one (a new message or "
                         "Clear): branch the answer shown instead.")
    tree = branching.switch(tree, _whole(branch_id, "Branch"))
    b = branching.current(tree)
    return dict(chatbot=turns.answer_in(history, b["text"]), tree=tree, steps=b["steps"], **_tree_views(tree))


# ---------------------------------------------------------------- handlers: step mode

def _step_views(s: dict) -> dict:
    nxt = s["next"]
    state = (f"finished ({s['finish_reason']}): send a message or start again" if s["done"]
             else "your turn: pick the next token, or let the sampler draw")
    out = dict(session=s, chatbot=s["messages"] + [{"role": "assistant", "content": s["text"]}], steps=s["steps"],
               step_tokens=[(chat.shown_token(st["token"]), kind) for st, kind in zip(s["steps"], s["kinds"])],
               step_plot=chat_plots.next_token_figure(nxt) if nxt else None,
               step_choice=gr.update(choices=candidate_choices(nxt, show_drawn=False) if nxt else [], value=None),
               stats=f"Step mode · {count(len(s['steps']), 'token')} · {state}", last_model=s["model"], **measures_views(s["steps"]))
    return out | (sampler_view(s["steps"]) if s["steps"] else {})


@friendly
def step_begin(message, history, model, system, temperature, top_k, top_p, rep, max_new, seed):
    cfg = sampling_config(temperature, top_k, top_p, rep, max_new, seed)
    if not isinstance(message, str) or not message.strip():
        raise ValueError("Type a message first: step mode answers it one token at a time.")
    messages = chat.clean_history(history) + [{"role": "user", "content": message}]
    s = branching.peek(branching.step_session(model, system or "", messages), cfg)
    return dict(msg="", **_step_views(s))


def _step(session, choice, history, model, knobs):
    turns.check_step_session(session, history, model)
    s = branching.take(session, choice)
    return s if s["done"] else branching.peek(s, sampling_config(*knobs))


@friendly
def step_pick(session, choice, history, model, temperature, top_k, top_p, rep, max_new, seed):
    if choice is None:
        raise ValueError("Choose one of the candidates first (or let the sampler draw).")
    knobs = (temperature, top_k, top_p, rep, max_new, seed)
    return _step_views(_step(session, _whole(choice, "Candidate"), history, model, knobs))


@friendly
def step_draw(session, history, model, temperature, top_k, top_p, rep, max_new, seed):
    return _step_views(_step(session, None, history, model, (temperature, top_k, top_p, rep, max_new, seed)))


@friendly
def step_finish(session, history, model, temperature, top_k, top_p, rep, max_new, seed):
    """Let the sampler draw until the answer ends (Stop keeps what was drawn)."""
    knobs = (temperature, top_k, top_p, rep, max_new, seed)
    def frames():
        s = _step(session, None, history, model, knobs)
        while True:
            yield turns.Frame(s["text"], s["steps"], f"Step mode · {count(len(s['steps']), 'token')}", data=s)
            if s["done"]:
                return
            s = _step(s, None, s["messages"] + [{"role": "assistant", "content": s["text"]}], model, knobs)
    live = chat.Live(chat.shown_history(history)[:-1])
    for f in turns.follow(live, frames()):
        yield dict(live=live, **_step_views(f.data))


# ---------------------------------------------------------------- handler: the measured table

def study_html(rows) -> str:
    head = ("<tr><th>T</th><th>the seed says</th><th>distinct-2</th><th>repetition</th><th>mean log p</th>"
            "<th>perplexity</th><th>does the measurement support it?</th></tr>")
    body = []
    for r in rows:
        samples = "".join(f"<li>{html.escape(s) or '∅'}</li>" for s in r.samples)
        body.append(f"<tr><td>{r.temperature:g}</td><td><i>{html.escape(r.seed_says)}</i></td>"
                    f"<td>{r.distinct2:.2f}</td><td>{r.repetition:.2f}</td><td>{r.mean_logprob:.2f}</td>"
                    f"<td>{math.exp(-r.mean_logprob):.1f}</td><td>{html.escape(r.verdict)}<details><summary>"
                    f"{count(len(r.samples), 'sample')}</summary><ol>{samples}</ol></details></td></tr>")
    return f"<table class='study-table'>{head}{''.join(body)}</table>"


@friendly
def measure_table(prompt, samples, tokens, model, system, top_k, top_p, seed, progress=gr.Progress()):
    cfg = sampling_config(1.0, top_k, top_p, 1.0, tokens, seed)
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("Type a prompt for the table first.")
    load_with_progress(model, progress)
    rows = temperature_study.run(model, prompt, _whole(samples, "Samples"), cfg.max_new_tokens, cfg.top_k, cfg.top_p,
                                 cfg.seed, system or "", progress=lambda f, msg: progress(f, desc=msg))
    title = f"{models.get_spec(model).label}: {count(len(rows[0].samples), 'sample')} per temperature, top-k {cfg.top_k}, top-p {cfg.top_p:g}"
    return dict(study_plot=chat_plots.temperature_figure(rows, title), study_table=study_html(rows))


# ---------------------------------------------------------------- layout and wiring

def build_branch() -> dict:
    """Inside the sampler accordion: alternatives of the selected token, Branch, the tree and the measures."""
    gr.Markdown(BRANCH_HELP)
    with gr.Row():
        candidates = gr.Radio(_slots(BRANCH_SLOTS), label="Alternatives for this token", scale=3)
        branch_btn = gr.Button("Branch: put this token here and continue", variant="primary", scale=1)
    with gr.Row():
        tree_view = gr.HTML(label="Branches of this answer")
        branch_pick = gr.Dropdown([], label="Show branch", allow_custom_value=True)
    measures = gr.Markdown()
    measures_plot = gr.Plot(label="Per token: entropy and surprise")
    return dict(tree=gr.State(None), candidates=candidates, branch_btn=branch_btn, tree_view=tree_view,
                branch_pick=branch_pick, measures=measures, measures_plot=measures_plot)


def build_step_mode() -> dict:
    with gr.Accordion("Be the sampler: pick each token yourself", open=False):
        gr.Markdown(STEP_HELP)
        begin = gr.Button("Answer my message step by step")
        step_plot = gr.Plot(label="The next token's distribution")
        step_choice = gr.Radio(_slots(STEP_SLOTS), label="Candidates for the next token")
        with gr.Row():
            pick, draw = gr.Button("Put my pick", variant="primary"), gr.Button("Let the sampler draw")
            finish = gr.Button("Let the sampler finish")
        step_tokens = gr.HighlightedText(label="The answer so far, by who chose each token", color_map=KIND_COLORS,
                                         combine_adjacent=False, show_legend=True)
    return dict(session=gr.State(None), begin=begin, step_plot=step_plot, step_choice=step_choice, pick=pick,
                draw=draw, finish=finish, step_tokens=step_tokens)


def build_table() -> dict:
    with gr.Accordion("The seed's temperature table, measured", open=False):
        gr.Markdown(STUDY_HELP)
        with gr.Row():
            study_prompt = gr.Textbox(temperature_study.DEFAULT_PROMPT, label="Prompt", scale=3)
            study_samples = gr.Slider(temperature_study.MIN_SAMPLES, temperature_study.MAX_SAMPLES, temperature_study.DEFAULT_SAMPLES, step=1,
                                      label="Samples per temperature")
            study_tokens = gr.Slider(4, temperature_study.MAX_TOKENS, temperature_study.DEFAULT_TOKENS, step=1,
                                     label="Max new tokens per sample")
        study_btn = gr.Button("Measure the table")
        study_plot = gr.Plot(label="Measures against temperature")
        study_table = gr.HTML()
    return dict(study_prompt=study_prompt, study_samples=study_samples, study_tokens=study_tokens,
                study_btn=study_btn, study_plot=study_plot, study_table=study_table)


def wire(p: dict, c: dict, answers: list, stop, clear, begun) -> None:
    """p: this module's components; c: the Chat tab's (msg, chatbot, model, system, knobs, steps, live, last_model,
    tokens, step, plot, stats, pending_msg, pending_history); answers: the Send/Enter/Regenerate events; clear: the
    triggers that clear the chat (the Clear button and the chatbot's own 🗑 icon); begun: the un-queued event that
    shows the message of "Answer step by step" at once (chat_tab.show_user_turn), which step mode then answers."""
    run = dict(concurrency_id=config.MODEL_CONCURRENCY_ID, concurrency_limit=config.MODEL_CONCURRENCY_LIMIT)
    cheap = dict(api_name=False, concurrency_limit=None)
    every = {**c, **p}
    outs = lambda *names: {n: every[n] for n in names}
    shown = outs(*API_OUTPUTS["chat_branch"])
    after = outs("candidates", "tree_view", "branch_pick", "measures", "measures_plot")
    for ev in answers:
        ev.then(by_name(after_answer, after), [c["chatbot"], c["steps"], p["tree"]], list(after.values()), **cheap)
    c["step"].change(by_name(show_candidates, outs("candidates")), [c["steps"], c["step"]], p["candidates"], **cheap)
    ev_branch = p["branch_btn"].click(
        by_name(branch, shown), [c["chatbot"], c["steps"], p["tree"], c["step"], p["candidates"], c["model"],
                                 c["system"], *c["knobs"], c["last_model"]], list(shown.values()),
        api_name="chat_branch", **run)
    p["branch_pick"].input(by_name(switch_branch, shown), [c["chatbot"], p["tree"], p["branch_pick"]],
                           list(shown.values()), api_name="chat_branch_switch", concurrency_limit=None)
    stepped = outs(*API_OUTPUTS["chat_step_start"])
    ev_begin = begun.then(by_name(step_begin, stepped), [c["pending_msg"], c["pending_history"], c["model"],
                                                         c["system"], *c["knobs"]], list(stepped.values()),
                          api_name="chat_step_start", show_progress_on=[c["chatbot"], c["stats"]], **run)
    refused = outs("msg", "chatbot")          # a refused start puts the message back in its box, as it was
    ev_begin.failure(by_name(lambda m, h: dict(msg=m, chatbot=h), refused), [c["pending_msg"], c["pending_history"]],
                     list(refused.values()), queue=False, **cheap)
    ev_pick = p["pick"].click(by_name(step_pick, stepped), [p["session"], p["step_choice"], c["chatbot"], c["model"],
                                                           *c["knobs"]], list(stepped.values()),
                              api_name="chat_step_pick", **run)
    step_in = [p["session"], c["chatbot"], c["model"], *c["knobs"]]
    ev_draw = p["draw"].click(by_name(step_draw, stepped), step_in, list(stepped.values()),
                              api_name="chat_step_draw", **run)
    ev_finish = p["finish"].click(by_name(step_finish, stepped), step_in, list(stepped.values()),
                                  api_name="chat_step_finish", **run)
    table = outs(*API_OUTPUTS["temperature_table"])
    ev_table = p["study_btn"].click(
        by_name(measure_table, table), [p["study_prompt"], p["study_samples"], p["study_tokens"], c["model"],
                                        c["system"], c["knobs"][1], c["knobs"][2], c["knobs"][5]],
        list(table.values()), api_name="temperature_table", **run)
    stop.click(lambda: None, None, None, cancels=[ev_branch, ev_begin, ev_pick, ev_draw, ev_finish, ev_table],
               **cheap)
    reset = outs("tree", "session", "tree_view", "branch_pick", "measures", "measures_plot", "step_plot",
                 "step_choice", "step_tokens")
    gr.on(clear, by_name(lambda: dict(tree=None, session=None, tree_view="", branch_pick=gr.update(choices=[], value=None),
                                     measures="", measures_plot=None, step_plot=None,
                                     step_choice=gr.update(choices=_slots(STEP_SLOTS), value=None), step_tokens=[]),
                        reset), None, list(reset.values()), **cheap)
