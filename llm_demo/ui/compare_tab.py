"""Compare tab: one prompt through base, SFT and DPO side by side, scored, with arena-style votes."""
import dataclasses

import gradio as gr

from llm_demo import compare, compare_explainer, compare_plots, config, models, turns
from llm_demo.ui.arena_panel import build_arena_panel
from llm_demo.ui.common import by_name, engine_status, friendly, ordered, sampling_config
from llm_demo import count

INTRO = """The same prompt goes to three checkpoints of **one** model: after pretraining (base), after
supervised fine-tuning (SFT) and after preference tuning (DPO). All three stream at once with the same
sampling settings and seed. Open "What this model saw" under a column to see why base models "don't answer":
they get plain text to continue, while SFT and DPO get the chat template they were trained on.

*The seed says instruction following "arises at scale". Here it does not come from size: the three columns are the
same small model, and only the stages trained on instruction → answer pairs (SFT, then DPO) answer the question;
the base model, identical in size and pretraining, continues the text.*"""

SCORES = """**Mean log-prob per token** (higher = more likely): how natural each answer looks to each stage's
model; a model usually rates its own answer highest. **DPO implicit reward** = β · (log π_DPO(y|x) −
log π_SFT(y|x)), the answer scored as a finished turn (its end-of-turn token included, as DPO trained on it). Only
**differences between answers to the same prompt** mean something: DPO fits the gap between a chosen and a rejected
answer, and a reward's own sign says little (the chosen answers' log-probability also fell during training)."""

CURATED = {
    "tinygpt": ["What is your name?", "What does Ivy like to eat?", "How much is 9 plus 5?",
                "Where does Hugo live?", "Tell me a story about Tom.", "Hello!"],
    "default": ["What is the capital of France?", "Give me three tips for sleeping better.",
                "Write a haiku about the sea.", "What is 17 times 3?"],
}
FAMILY_LABELS = {"tinygpt": "TinyGPT trio (ours, offline)", "smollm2-135m": "SmolLM2-135M: base (hub) vs Instruct",
                 "olmo2-1b": "OLMo-2 1B base / SFT / DPO (hub; needs a GPU to be quick)",
                 "qwen2.5-0.5b": "Qwen2.5-0.5B base vs Instruct (hub)"}


VIEW_PARTS = ("head", "answer", "saw", "saw_n")   # per column: heading, answer, exact prompt, its token count
# The public API's output order, by name (tests/test_ui_wiring.py checks the built app against it).
API_OUTPUTS = {"compare": (*(f"{slot}_{part}" for slot in compare.SLOTS for part in VIEW_PARTS), "run", "busy", "better",
                           "worse"),
               "compare_scores": ("table", "score_note"), "compare_vote": ("votes", "vote_note")}


def _column_views(cols, stopped: bool = False) -> dict:
    """{"<slot>_head": …, "<slot>_answer": …, "<slot>_saw": …, "<slot>_saw_n": …} for every column; `stopped`:
    the run was stopped, so an unfinished column says so instead of "generating…"."""
    out = {}
    for c in cols:
        if c.error:
            head = f"### {c.title}\n⛔ *{c.error}*"
        else:
            state = (f"stopped by: {c.finish_reason}" if c.done else "stopped by: Stop (unfinished)" if stopped
                     else "generating…" if c.text else "waiting…")
            head = f"### {c.title}\n`{c.model}` · {count(c.n_tokens, 'token')} · {state}"
        saw = f"{count(c.prompt_tokens, 'prompt token')}" if c.prompt else ""
        out.update({f"{c.slot}_head": head, f"{c.slot}_answer": c.text, f"{c.slot}_saw": c.prompt,
                    f"{c.slot}_saw_n": saw})
    return out


@friendly
def run_compare(family, prompt, system, temperature, top_k, top_p, rep, max_new, seed, progress=gr.Progress()):
    """Stream the three columns: yields their views (see _column_views) plus {run, busy}; the run (prompt,
    settings, answers) is what scores and votes use later."""
    cfg = sampling_config(temperature, top_k, top_p, rep, max_new, seed)
    if not isinstance(prompt, str) or not prompt.strip():
        gr.Warning("Type a prompt first: nothing was run.")
        yield dict(busy=False)
        return
    for col in compare.plan_columns(family):
        if not col.error and turns.needs_loading(col.model):
            progress(0, desc=turns.loading_note(col.model))
            break
    run = compare.Run(family, prompt, system or "", dataclasses.asdict(cfg))   # what scores and votes will use
    first = True
    for run.cols in compare.stream_columns(family, prompt, cfg, system or ""):
        yield {**_column_views(run.cols), "run": run, "busy": True, **(_vote_choices(run.cols) if first else {})}
        first = False
    yield {**_column_views(run.cols), "run": run, "busy": False}


def _vote_choices(cols) -> dict:
    """{better, worse}: the vote radios offer only the columns that answer (SmolLM2 has no DPO column, and a hub
    base model that cannot load answers nothing)."""
    slots = [c.slot for c in cols if not c.error]
    better = "dpo" if "dpo" in slots else slots[-1] if slots else None
    worse = "sft" if "sft" in slots and better != "sft" else next((s for s in slots if s != better), None)
    return dict(better=gr.update(choices=slots, value=better), worse=gr.update(choices=slots, value=worse))


@friendly
def score(run, busy):
    """{table, score_note}: every finished answer under every stage, once all three are done; the prompt and the
    answers are the run's own (recorded when it ran). A stopped run is not scored (the note keeps saying it was
    stopped)."""
    if not isinstance(run, compare.Run) or busy:
        return dict(table=None, score_note="Scores appear when all three columns have finished.")
    if run.stopped:
        return dict(table=None, score_note=STOPPED)
    if not run.finished:
        return dict(table=None)
    s = compare.score_columns(run.family, run.prompt, run.cols, run.system)
    if not s.mean_logprob:
        return dict(table=None, score_note="No answers to score.")
    per_token = "; rewards from per-token mean log-probs, as its DPO was length-normalised" if s.length_normalised else ""
    note = f"β = {s.beta} ({s.beta_source}{per_token})." if s.dpo_reward else "No DPO reward: the family lacks an SFT or DPO stage."
    if s.dpo_reward and s.sft_weight:
        note += (f" This DPO stage's loss adds an SFT term (weight {s.sft_weight:g}) to DPO's, so β·log-ratio is its "
                 "implicit reward only approximately.")
    return dict(table=compare.scores_table(s), score_note=note)


@friendly
def vote(run, busy, better, worse, votes):
    """The pair is the run's own prompt and answers (bound on the server), whatever the Prompt box says now."""
    if busy:
        raise ValueError("Wait until every column has finished: votes on unfinished answers are refused.")
    pair = compare.make_vote(run, better, worse)
    votes = list(votes or []) + [pair]
    return dict(votes=votes, vote_note=f"{count(len(votes), 'vote')} this session.")


@friendly
def download(votes, request: gr.Request):
    session = getattr(request, "session_hash", None) or "local"
    return str(compare.write_votes_jsonl(votes, compare.votes_dir(session)))


def forget_session(request: gr.Request):
    """demo.unload: a closed tab's votes file is deleted at once (Gradio's own copies by delete_cache)."""
    compare.forget_votes(getattr(request, "session_hash", None))


STOPPED = "Stopped before every column finished: not scored, and votes on this run are refused (run it again)."


def stop_run(run):
    """Stop: the run is marked stopped (votes refuse it), its unfinished columns say so, and the scores line says
    why there are no scores. {<column views>, busy, table, score_note} (a run that finished keeps its scores)."""
    if not isinstance(run, compare.Run) or run.finished:
        return dict(busy=False)
    run.stopped = True
    return {**_column_views(run.cols, stopped=True), "busy": False, "table": None, "score_note": STOPPED}


def pick_family(family):
    prompts = CURATED.get(family, CURATED["default"])
    return gr.update(samples=[[p] for p in prompts])


def build_compare_tab():
    gr.Markdown("## Compare: base vs SFT vs DPO")
    gr.Markdown(INTRO)
    engine_status()
    run_state, busy, votes = gr.State(None), gr.State(False), gr.State([])
    with gr.Row():
        family = gr.Dropdown([(FAMILY_LABELS.get(f, f), f) for f in models.families()], value=models.DEFAULT_FAMILY,
                             label="Model family", scale=1, min_width=300)
        prompt = gr.Textbox(label="Prompt", value=CURATED["tinygpt"][0], scale=3)
    examples = gr.Dataset(components=[prompt], samples=[[p] for p in CURATED["tinygpt"]], label="Curated prompts")
    with gr.Row():
        run, stop = gr.Button("Run all three", variant="primary"), gr.Button("Stop", variant="stop")
    gr.Markdown(config.limits_markdown())
    with gr.Accordion("Sampling settings (shared by the three columns)", open=False):
        with gr.Row():
            d = compare.DEFAULT_SETTINGS
            temperature = gr.Slider(0, 2, d.temperature, step=0.05, label="Temperature (0 = greedy)")
            top_k = gr.Slider(0, 200, d.top_k, step=1, label="Top-k (0 = off)")
            top_p = gr.Slider(0.01, 1, d.top_p, step=0.01, label="Top-p (1 = off)")
        with gr.Row():
            rep = gr.Slider(0.5, 2, d.repetition_penalty, step=0.05, label="Repetition penalty (1 = off)")
            max_new = gr.Slider(1, config.MAX_NEW_TOKENS_CAP, d.max_new_tokens, step=1, label="Max new tokens")
            seed = gr.Number(d.seed, precision=0, label="Seed")
        system = gr.Textbox(label="System prompt for the chat stages (empty: none / the model's default)")
    views = {}
    with gr.Row(equal_height=True):
        for slot in compare.SLOTS:
            with gr.Column():
                head = gr.Markdown(f"### {compare.SLOT_TITLES[slot]}")
                answer = gr.Textbox(label="Answer", lines=8, interactive=False)
                with gr.Accordion("What this model saw", open=False):
                    saw = gr.Code(label="Exact prompt string", language=None, interactive=False, wrap_lines=True)
                    saw_n = gr.Markdown()
                views.update({f"{slot}_{part}": c for part, c in zip(VIEW_PARTS, (head, answer, saw, saw_n))})
    gr.Markdown(SCORES)
    table = gr.Dataframe(headers=["answer from", "under base", "under SFT", "under DPO", "DPO reward"],
                         label="Scores (mean log-prob per token under each stage)", interactive=False)
    score_note = gr.Markdown()
    with gr.Row():
        better = gr.Radio(list(compare.SLOTS), value="dpo", label="Better answer")
        worse = gr.Radio(list(compare.SLOTS), value="sft", label="Worse answer")
        with gr.Column():
            vote_btn = gr.Button("Record vote")
            vote_note = gr.Markdown("No votes yet.")
            dl_btn = gr.Button("Download votes (DPO JSONL)")
            dl_file = gr.File(label="prompt / chosen / rejected, one pair per line", interactive=False)
    gr.Markdown("Train on your votes: `python -m llm_demo.training dpo --extra-pairs llm_lab_preferences.jsonl`.")
    build_arena_panel(prompt, system, [temperature, top_k, top_p, rep, max_new, seed])
    with gr.Accordion("The pipeline explained: pretraining → SFT → RLHF / DPO", open=True):
        with gr.Row():
            for title, text in compare_explainer.STAGE_PANELS:
                gr.Markdown(f"**{title}**\n\n{text}")
        gr.Markdown(compare_explainer.pretraining_cost_note())
        gr.Markdown(compare_explainer.trio_facts())
        ev = compare_explainer.load_eval()
        gr.Plot(compare_plots.eval_figure(ev) if ev else None, label="TinyGPT eval (eval.json)")
        gr.Plot(compare_plots.curves_figure(), label="TinyGPT training curves")

    knobs = [temperature, top_k, top_p, rep, max_new, seed]
    comps = dict(views, run=run_state, busy=busy, better=better, worse=worse, table=table, score_note=score_note,
                 votes=votes, vote_note=vote_note)
    streamed = ordered(comps, API_OUTPUTS["compare"])
    run_ev = run.click(by_name(run_compare, streamed), [family, prompt, system, *knobs], list(streamed.values()),
                       api_name="compare", concurrency_id=config.MODEL_CONCURRENCY_ID,
                       concurrency_limit=config.MODEL_CONCURRENCY_LIMIT)
    scored = ordered(comps, API_OUTPUTS["compare_scores"])
    run_ev.then(by_name(score, scored), [run_state, busy], list(scored.values()),
                api_name="compare_scores", concurrency_id=config.MODEL_CONCURRENCY_ID,
                concurrency_limit=config.MODEL_CONCURRENCY_LIMIT)
    stopped = dict(views, busy=busy, table=table, score_note=score_note)
    stop.click(by_name(stop_run, stopped), run_state, list(stopped.values()), cancels=[run_ev], api_name=False,
               concurrency_limit=None)
    family.change(pick_family, family, examples, api_name=False, concurrency_limit=None)
    examples.click(lambda x: x[0], examples, prompt, api_name=False, concurrency_limit=None)
    voted = ordered(comps, API_OUTPUTS["compare_vote"])
    vote_btn.click(by_name(vote, voted), [run_state, busy, better, worse, votes], list(voted.values()),
                   api_name="compare_vote", concurrency_limit=None)
    dl_btn.click(download, votes, dl_file, api_name="compare_download", concurrency_limit=None)
    # For links and the lesson's Show me (llm_demo/ui/links_ui.py): a link fills the prompt, never runs it.
    return {"family": family, "prompt": prompt}
