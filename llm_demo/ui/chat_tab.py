"""Chat tab: streaming chat with the sampling knobs, a look inside the sampler, and a temperature sweep."""
import html

import gradio as gr

from llm_demo import chat, config, models
from llm_demo.ui import branch_panel
from llm_demo.ui.common import by_name, friendly, sampling_config

INTRO = """Talk to a small instruct model running on this machine. Every answer is sampled one token at a
time: the knobs on the right change *how* the next token is picked from the model's probabilities, and the
panel below the chat shows exactly what each knob did at every step."""

KNOBS = """**Temperature** divides the model's scores before the softmax: below 1 sharpens the distribution
(safer, more repetitive), above 1 flattens it (more surprising). **0 means greedy**: always the most likely
token. *The seed's `generate_text` says 0 is greedy but computes `logits / temperature`, a division by zero
(inf/NaN scores, then `torch.multinomial` fails); we treat 0 as the argmax instead.*
**Top-k** keeps only the k most likely tokens (0 = off). **Top-p** (nucleus) keeps the smallest set of
most likely tokens whose probabilities add up to p (1 = off). **Repetition penalty** lowers the score of
tokens already in the text (1 = off). Order: penalty → temperature → top-k → top-p → draw."""

SAMPLER = """Pick a token of the last answer (click it, or use the slider) to see the top candidates'
probabilities at each stage of the sampler for that step: the raw softmax, after temperature, after top-k,
after top-p. ▶ marks the token that was drawn; the legend says how many tokens each filter left."""

COLORS = {"p ≥ 0.9": "#2e7d32", "0.5 ≤ p < 0.9": "#9ccc65", "0.1 ≤ p < 0.5": "#ffb74d", "p < 0.1": "#e57373"}


def _model_choices():
    out = []
    for name, label, ok, reason in models.choices(chat_only=True):
        out.append((label if ok else f"{label} — unavailable: {reason}", name))
    return out


def load_with_progress(name: str, progress: gr.Progress) -> None:
    """Load a model (first use takes seconds) with a progress note; fails here, before anything changes."""
    if name not in models.CACHE.loaded_names():
        progress(0, desc=f"Loading {models.get_spec(name).label} (first use only)…")
    models.load(name)


def _answer(history, messages, model, system, cfg, last_model, progress):
    """Shared by Send and Regenerate: stream the answer to the last user message into the chatbot.
    Yields {msg, chatbot, stats, steps, busy, last_model} (the names `build_chat_tab` wires to components)."""
    load_with_progress(model, progress)              # fails here (message kept) if the model can't load
    notice = ""
    if last_model and last_model != model and any(m["role"] == "assistant" for m in messages):
        notice = f"Switched model: earlier answers came from {last_model}, the next from {model}. "
        gr.Info(notice)
    shown = [{"role": m["role"], "content": m["content"]} for m in chat.clean_history(history)]
    if not shown or shown[-1]["role"] != "user":
        shown.append(messages[-1])
    shown.append({"role": "assistant", "content": ""})
    def status(reply):
        dropped = f"Dropped the {reply.dropped} oldest messages to fit the context. " if reply.dropped else ""
        return notice + dropped + reply.stats()
    reply = None
    for reply in chat.stream_reply(model, messages, system or "", cfg):
        shown[-1]["content"] = reply.text
        yield dict(msg="", chatbot=shown, stats=status(reply), steps=reply.steps, busy=True, last_model=model)
    yield dict(msg="", chatbot=shown, stats=status(reply), steps=reply.steps, busy=False, last_model=model)


@friendly
def respond(message, history, model, system, temperature, top_k, top_p, rep, max_new, seed, last_model,
            progress=gr.Progress()):
    cfg = sampling_config(temperature, top_k, top_p, rep, max_new, seed)
    if not isinstance(message, str) or not message.strip():
        gr.Warning("Type a message first: nothing was sent.")
        yield dict(msg=message, chatbot=history, stats="Type a message first: nothing was sent.", busy=False)
        return
    messages = chat.clean_history(history) + [{"role": "user", "content": message}]
    yield from _answer(history, messages, model, system, cfg, last_model, progress)


@friendly
def regenerate(history, model, system, temperature, top_k, top_p, rep, max_new, seed, last_model,
               progress=gr.Progress()):
    cfg = sampling_config(temperature, top_k, top_p, rep, max_new, seed)
    messages = chat.clean_history(history)
    while messages and messages[-1]["role"] == "assistant":
        messages.pop()
    if not messages:
        raise gr.Error("Nothing to regenerate yet: send a message first.")
    yield from _answer(messages, messages, model, system, cfg, last_model, progress)


def mark_stopped(history, busy):
    """Stop: the partial answer stays, marked; returns {chatbot, busy, stats}."""
    if busy and history and history[-1]["role"] == "assistant":
        history = [dict(m) for m in history]
        history[-1]["content"] = chat.text_of(history[-1]["content"]) + chat.STOPPED_MARK
        return dict(chatbot=history, busy=False, stats="Stopped: the partial answer stays in the conversation.")
    return dict(chatbot=history, busy=False)


def clear_chat():
    return dict(chatbot=[], stats="", steps=[], busy=False, tokens=[], plot=None)


def show_sampler(steps):
    """The last answer's tokens, the slider on its last token, and that token's figure: {tokens, step, plot}."""
    if not steps:
        return dict(tokens=[], step=gr.update(maximum=2, value=1), plot=None)
    return dict(tokens=chat.prob_buckets(steps), step=gr.update(maximum=max(2, len(steps)), value=len(steps)),
                plot=chat.sampler_figure(steps[-1]))


@friendly
def show_step(steps, index):
    if not steps:
        return None
    i = int(index) - 1
    if not 0 <= i < len(steps):
        raise ValueError(f"Token number must be between 1 and {len(steps)}.")
    return chat.sampler_figure(steps[i])


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
    steps, busy, last_model = gr.State([]), gr.State(False), gr.State("")
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
            temperature = gr.Slider(0, 2, 0.7, step=0.05, label="Temperature (0 = greedy)")
            top_k = gr.Slider(0, 200, 50, step=1, label="Top-k (0 = off)")
            top_p = gr.Slider(0.01, 1, 0.9, step=0.01, label="Top-p (1 = off)")
            rep = gr.Slider(0.5, 2, 1.0, step=0.05, label="Repetition penalty (1 = off)")
            max_new = gr.Slider(1, config.MAX_NEW_TOKENS_CAP, 128, step=1, label="Max new tokens")
            seed = gr.Number(0, precision=0, label="Seed (same seed + settings = same answer)")
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
    answer = dict(msg=msg, chatbot=chatbot, stats=stats, steps=steps, busy=busy, last_model=last_model)
    outs = list(answer.values())
    ev_send = send.click(by_name(respond, answer), [msg, chatbot, model, system, *knobs, last_model], outs,
                         api_name="chat", **run)
    ev_enter = msg.submit(by_name(respond, answer), [msg, chatbot, model, system, *knobs, last_model], outs,
                          api_name=False, **run)
    ev_regen = regen.click(by_name(regenerate, answer), [chatbot, model, system, *knobs, last_model], outs,
                           api_name="chat_regenerate", **run)
    sampler = dict(tokens=tokens, step=step, plot=plot)
    for ev in (ev_send, ev_enter, ev_regen):
        ev.then(by_name(show_sampler, sampler), steps, list(sampler.values()), api_name=False, concurrency_limit=None)
    stopped = dict(chatbot=chatbot, busy=busy, stats=stats)
    stop.click(by_name(mark_stopped, stopped), [chatbot, busy], list(stopped.values()),
               cancels=[ev_send, ev_enter, ev_regen], api_name=False, concurrency_limit=None)
    cleared = dict(chatbot=chatbot, stats=stats, steps=steps, busy=busy, tokens=tokens, plot=plot)
    clear.click(by_name(clear_chat, cleared), None, list(cleared.values()), api_name=False, concurrency_limit=None)
    step.input(show_step, [steps, step], plot, api_name=False, concurrency_limit=None)
    tokens.select(pick_token, None, step, api_name=False, concurrency_limit=None).then(
        show_step, [steps, step], plot, api_name=False, concurrency_limit=None)
    sweep_btn.click(sweep, [sweep_prompt, temps, model, system, top_k, top_p, rep, max_new, seed], sweep_out,
                    api_name="temperature_sweep", **run)
    branch_panel.wire(panels, dict(msg=msg, chatbot=chatbot, model=model, system=system, knobs=knobs, steps=steps,
                                   busy=busy, last_model=last_model, tokens=tokens, step=step, plot=plot, stats=stats),
                      answers=[ev_send, ev_enter, ev_regen], stop=stop, clear=clear)
