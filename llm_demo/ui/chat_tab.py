"""Chat tab: streaming chat with the sampling knobs, a look inside the sampler, and a temperature sweep."""
import html
import gradio as gr

from llm_demo import chat, chat_plots, config, models, turns
from llm_demo.sampling import SamplingConfig
from llm_demo.ui import branch_panel
from llm_demo.ui.common import (by_name, engine_status, friendly, load_with_progress, ordered, sampler_view,
                                sampling_config)

INTRO = """Talk to a small instruct model running on this machine. Every answer is sampled one token at a
time: the sampling knobs (beside the chat on a wide screen, below it on a phone) change *how* the next token is
picked from the model's probabilities, and the panel below the chat shows exactly what each knob did at every step.
*Our TinyGPT models were trained on single questions: ask them one question at a time (Clear in between).*"""

KNOBS = """**Temperature** divides the model's scores before the softmax: below 1 sharpens the distribution
(safer, more repetitive), above 1 flattens it (more surprising). **0 means greedy**: always the most likely
token. *The seed's `generate_text` says 0 is greedy but computes `logits / temperature`, a division by zero
(inf/NaN scores, then `torch.multinomial` fails). We decode greedily (the argmax) at 0 instead: transformers
does the same when sampling is off (`do_sample=False`), and its temperature warper refuses 0 outright.*
*The seed also advises temperature 0 "for factual tasks": greedy decoding never draws an unlikely token, but it
cannot make the model know a fact: what the model believes wrongly comes out every time, and greedy text
can loop. Try the sweep below on a factual question.*
**Top-k** keeps only the k most likely tokens (0 = off). **Top-p** (nucleus) keeps the smallest set of
most likely tokens whose probabilities add up to p (1 = off). **Repetition penalty** lowers the score of
tokens already in the text (1 = off). Order: penalty → temperature → top-k → top-p → draw."""

SAMPLER = """Pick a token of the last answer (click it, or use the slider) to see the top candidates'
probabilities at each stage of the sampler for that step: the raw softmax, after temperature, after top-k,
after top-p. ▶ marks the token that was drawn; the legend says how many tokens each filter left."""

# The public API's output order, by name (tests/test_ui_wiring.py checks the built app against it).
API_OUTPUTS = {"chat": ("msg", "chatbot", "stats", "steps", "last_model", "live"),
               "chat_regenerate": ("msg", "chatbot", "stats", "steps", "last_model", "live", "seed")}

COLORS = {"p ≥ 0.9": "#2e7d32", "0.5 ≤ p < 0.9": "#9ccc65", "0.1 ≤ p < 0.5": "#ffb74d", "p < 0.1": "#e57373"}


def _model_choices():
    out = []
    for name, label, ok, reason in models.choices(chat_only=True):
        out.append((label if ok else f"{label} — unavailable: {reason}", name))
    return out


def _answer(shown, model, system, cfg, last_model, progress, restore, notice=""):
    """Shared by Send and Regenerate: stream the answer to the last user message of `shown` (the conversation as
    displayed) into the chatbot. Yields {msg, chatbot, stats, steps, last_model, live} (the names
    `build_chat_tab` wires to components). The first update comes at once, so a Stop has an answer to mark;
    if the answer then fails, `restore` (an update) puts the message and conversation back as they were."""
    live = chat.Live(shown, stats=notice + (turns.loading_note(model) if turns.needs_loading(model) else "Thinking…"))
    yield dict(msg="", chatbot=list(shown), stats=live.stats, steps=[], live=live)
    try:
        load_with_progress(model, progress)              # fails here (message kept) if the model can't load
        switched = turns.switch_note(last_model, model, shown)
        if switched:
            gr.Info(switched)
        frames = turns.answer_frames(shown, model, system, cfg, notice + turns.single_turn_note(model, shown) + switched)
        for f in turns.follow(live, frames):
            yield dict(chatbot=f.chatbot, stats=f.stats, steps=f.steps, last_model=model)
    except Exception:
        if not live.stopped:
            yield restore
        raise
    finally:
        live.done = True


def show_user_turn(message, history):
    """Send, at once and outside the queue: the message joins the conversation and leaves its box, so a student
    sees it while the answer waits for a model slot. {msg, chatbot, pending_msg, pending_history}: the answer event
    (`respond`) reads the message and the conversation before it from the pending pair. An empty message changes
    nothing here: `respond` refuses it."""
    try:
        before, shown = turns.user_turn(message, history)
    except ValueError:
        return dict(pending_msg=message, pending_history=history)
    return dict(msg="", chatbot=shown, pending_msg=message, pending_history=before)


@friendly
def respond(message, history, model, system, temperature, top_k, top_p, rep, max_new, seed, last_model,
            progress=gr.Progress()):
    cfg = sampling_config(temperature, top_k, top_p, rep, max_new, seed)
    try:
        before, shown = turns.user_turn(message, history)
    except ValueError as refused:
        gr.Warning(str(refused))
        yield dict(msg=message, chatbot=history, stats=str(refused))
        return
    yield from _answer(shown, model, system, cfg, last_model, progress, dict(msg=message, chatbot=before))


@friendly
def regenerate(history, model, system, temperature, top_k, top_p, rep, max_new, seed, last_model,
               progress=gr.Progress()):
    """The last answer again, drawn with the next seed (shown in the Seed box); greedy decoding says it repeats."""
    cfg = sampling_config(temperature, top_k, top_p, rep, max_new, seed)    # refuse bad settings first
    shown, cfg, notice = turns.regenerate_plan(history, cfg)
    updates = _answer(shown, model, system, cfg, last_model, progress, dict(chatbot=chat.shown_history(history)), notice)
    yield dict(next(updates), seed=cfg.seed)
    yield from updates


def mark_stopped(live):
    """Stop: the answer as last shown stays in the conversation, marked, with its sampler steps and a status
    saying it was stopped: {chatbot, stats, steps}. Nothing streaming (or still waiting in the queue, where the
    message stays in its box): nothing changes."""
    if live is None or live.done:
        return {}
    live.stopped = True
    chatbot = live.shown + [{"role": "assistant", "content": (live.text or chat.EMPTY_ANSWER) + chat.STOPPED_MARK}]
    return dict(chatbot=chatbot, steps=live.steps,
                stats=f"{live.stats} · stopped by: Stop (the partial answer stays in the conversation)")


def clear_chat():
    """Clear: an empty conversation and an empty sampler view (the token slider back to its start)."""
    return dict(chatbot=[], stats="", steps=[], live=None, tokens=[], step=gr.update(maximum=2, value=1), plot=None)


def show_sampler(steps):
    """The last answer's tokens, the slider on its last token, and that token's figure: {tokens, step, plot}."""
    return sampler_view(steps)


@friendly
def show_step(steps, index):
    if not steps:
        return None
    i = int(index) - 1
    if not 0 <= i < len(steps):
        raise ValueError(f"Token number must be between 1 and {len(steps)}.")
    return chat_plots.sampler_figure(steps[i])


def pick_token(evt: gr.SelectData):
    return evt.index + 1 if isinstance(evt.index, int) else gr.skip()


@friendly
def sweep(prompt, temps, model, system, top_k, top_p, rep, max_new, seed):
    temperatures = chat.parse_temperatures(temps)
    cfg = sampling_config(0.7, top_k, top_p, rep, max_new, seed)
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("Type a prompt for the sweep first.")
    for cols in chat.temperature_sweep(model, prompt, temperatures, cfg, system or ""):
        yield sweep_html(cols)


def sweep_html(cols) -> str:
    cells = []
    for t, text in cols:
        note = chat.SEED_TEMPERATURE_NOTES.get(t)
        label = f"<b>T = {t:g}</b>" + (f"<br><i>the seed: “{note}”</i>" if note else "")
        cells.append(f"<td style='vertical-align:top;padding:6px;border:1px solid #ddd'>{label}<hr>"
                     f"<div style='white-space:pre-wrap'>{html.escape(text) or '…'}</div></td>")
    return f"<table style='width:100%;table-layout:fixed;border-collapse:collapse'><tr>{''.join(cells)}</tr></table>"


def build_chat_tab():
    gr.Markdown("## Chat")
    gr.Markdown(INTRO)
    engine_status(with_backend_note=True)
    steps, live, last_model = gr.State([]), gr.State(None), gr.State("")
    with gr.Row():
        with gr.Column(scale=3):
            model = gr.Dropdown(_model_choices(), value=models.DEFAULT_CHAT_MODEL, label="Model")
            chatbot = gr.Chatbot(label="Conversation", height=420)
            msg = gr.Textbox(label="Message", placeholder="Ask something, then press Enter")
            with gr.Row():
                send, stop = gr.Button("Send", variant="primary"), gr.Button("Stop", variant="stop")
                regen, clear = gr.Button("Regenerate"), gr.Button("Clear")
            stats = gr.Markdown()
        with gr.Column(scale=2):
            system = gr.Textbox(label="System prompt (empty: the model's default)", lines=2)
            d = SamplingConfig()                                   # the defaults: sampling.py, the one place
            temperature = gr.Slider(0, chat.MAX_TEMPERATURE, d.temperature, step=0.05, label="Temperature (0 = greedy)")
            top_k = gr.Slider(0, 200, d.top_k, step=1, label="Top-k (0 = off)")
            top_p = gr.Slider(0.01, 1, d.top_p, step=0.01, label="Top-p (1 = off)")
            rep = gr.Slider(0.5, 2, d.repetition_penalty, step=0.05, label="Repetition penalty (1 = off)")
            max_new = gr.Slider(1, config.MAX_NEW_TOKENS_CAP, d.max_new_tokens, step=1, label="Max new tokens")
            seed = gr.Number(d.seed, precision=0, label="Seed (same seed + settings = same answer)")
            gr.Markdown(KNOBS)
            gr.Markdown(config.limits_markdown())
    with gr.Accordion("Look inside the sampler", open=True):
        gr.Markdown(SAMPLER)
        tokens = gr.HighlightedText(label="Last answer, each token coloured by the probability it was drawn with",
                                    color_map=COLORS, combine_adjacent=False, show_legend=True)
        step = gr.Slider(1, config.MAX_NEW_TOKENS_CAP, 1, step=1, label="Token #")  # any token, for API callers
        plot = gr.Plot(label="Sampler stages for this token")
        panels = branch_panel.build_branch()
    panels |= branch_panel.build_step_mode()
    with gr.Accordion("Temperature sweep: one prompt, several temperatures, same seed", open=False):
        with gr.Row():
            sweep_prompt = gr.Textbox("Write one sentence about the sea.", label="Prompt", scale=3)
            temps = gr.Textbox("0, 0.3, 0.7, 1.0, 1.5", label="Temperatures", scale=1)
        sweep_btn = gr.Button("Run the sweep")
        sweep_out = gr.HTML()
    panels |= branch_panel.build_table()

    knobs = [temperature, top_k, top_p, rep, max_new, seed]
    run = dict(concurrency_id=config.MODEL_CONCURRENCY_ID, concurrency_limit=config.MODEL_CONCURRENCY_LIMIT)
    comps = dict(msg=msg, chatbot=chatbot, stats=stats, steps=steps, last_model=last_model, live=live, seed=seed,
                 pending_msg=gr.Textbox(visible=False), pending_history=gr.Chatbot(visible=False))
    answer, regenerated = ordered(comps, API_OUTPUTS["chat"]), ordered(comps, API_OUTPUTS["chat_regenerate"])
    # Send in two events: the user's turn at once, outside the queue; then the answer, which waits for a model slot
    # and reads the message from the pending pair. Meanwhile Gradio's status tracker shows the place in line
    # ("queue: 2/3") on the conversation and the status line; the message box stays free for the next message.
    user = ordered(comps, ("msg", "chatbot", "pending_msg", "pending_history"))
    ev_user = gr.on([send.click, msg.submit], by_name(show_user_turn, user), [msg, chatbot], list(user.values()),
                    queue=False, api_name=False, show_progress="hidden")
    ev_send = ev_user.then(by_name(respond, answer), [comps["pending_msg"], comps["pending_history"], model, system,
                                                      *knobs, last_model], list(answer.values()), api_name="chat",
                           show_progress_on=[chatbot, stats], **run)
    ev_regen = regen.click(by_name(regenerate, regenerated), [chatbot, model, system, *knobs, last_model],
                           list(regenerated.values()), api_name="chat_regenerate", show_progress_on=[chatbot, stats],
                           **run)
    sampler = dict(tokens=tokens, step=step, plot=plot)
    for ev in (ev_send, ev_regen):
        ev.then(by_name(show_sampler, sampler), steps, list(sampler.values()), api_name=False, concurrency_limit=None)
    stopped = dict(chatbot=chatbot, stats=stats, steps=steps)
    stop.click(by_name(mark_stopped, stopped), live, list(stopped.values()), cancels=[ev_send, ev_regen],
               api_name=False, concurrency_limit=None).then(
        by_name(show_sampler, sampler), steps, list(sampler.values()), api_name=False, concurrency_limit=None)
    cleared = dict(chatbot=chatbot, stats=stats, steps=steps, live=live, tokens=tokens, step=step, plot=plot)
    # The chatbot's own 🗑 icon clears as much as the Clear button: stats, sampler view and branches too.
    cleared_by = [clear.click, chatbot.clear]
    gr.on(cleared_by, by_name(clear_chat, cleared), None, list(cleared.values()), api_name=False,
          concurrency_limit=None)
    step.input(show_step, [steps, step], plot, api_name=False, concurrency_limit=None)
    tokens.select(pick_token, None, step, api_name=False, concurrency_limit=None).then(
        show_step, [steps, step], plot, api_name=False, concurrency_limit=None)
    sweep_btn.click(sweep, [sweep_prompt, temps, model, system, top_k, top_p, rep, max_new, seed], sweep_out,
                    api_name="temperature_sweep", **run)
    branch_panel.wire(panels, dict(msg=msg, chatbot=chatbot, model=model, system=system, knobs=knobs, steps=steps,
                                   live=live, last_model=last_model, tokens=tokens, step=step, plot=plot, stats=stats,
                                   pending_msg=comps["pending_msg"], pending_history=comps["pending_history"]),
                      answers=[ev_send, ev_regen], stop=stop, clear=cleared_by,
                      begun=panels["begin"].click(by_name(show_user_turn, user), [msg, chatbot], list(user.values()),
                                                  queue=False, api_name=False, show_progress="hidden"))
    # For links and the lesson's Show me (llm_demo/ui/links_ui.py): a link fills the message, never sends it.
    return {"model": model, "temperature": temperature, "top_k": top_k, "top_p": top_p, "seed": seed, "prompt": msg,
            "system": system, "max_new": max_new, "rep": rep}
