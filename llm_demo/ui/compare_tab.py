"""Compare tab: one prompt through base, SFT, RLHF and DPO side by side, scored, with arena-style votes."""
import gradio as gr

from llm_demo import compare, compare_explainer, compare_plots, compare_views, config, models, rlhf_plots
from llm_demo.ui.arena_panel import build_arena_panel
from llm_demo.ui.common import (ANSWER_MIN_WIDTH, by_name, closes_refusals, engine_status, friendly, ordered,
                                sampling_config)

INTRO = """The same prompt goes to four checkpoints of **one** model: after pretraining (base), after
supervised fine-tuning (SFT), and after the two preference-tuning routes from SFT: RLHF (a reward model, then
reinforcement learning against it: RLOO, as TRL 1.16 has no PPO) and DPO. All stream at once with the same
sampling settings and seed. Open "What this model saw" under a column to see why base models "don't answer":
they get plain text to continue, while the chat stages get the chat template they were trained on.

*The seed says instruction following "arises at scale". Here it does not come from size: the columns are the
same small model, and only the stages trained on instruction → answer pairs (SFT, then RLHF or DPO) answer;
the base model, identical in size and pretraining, continues the text.*"""

SCORES = """**Mean log-prob per token** (higher = more likely): how natural each answer looks to each stage's
model; a model usually rates its own answer highest. **DPO implicit reward** = β · (log π_DPO(y|x) −
log π_SFT(y|x)), the answer scored as a finished turn (its end-of-turn token included, as DPO trained on it). Only
**differences between answers to the same prompt** mean something: DPO fits the gap between a chosen and a rejected
answer, and a reward's own sign says little (the chosen answers' log-probability also fell during training). **Reward model**: the trio's
reward model's score of the answer (the proxy that RLHF climbs; trained on the same preference pairs as DPO)."""

CURATED = {
    "tinygpt": ["What is your name?", "What does Ivy like to eat?", "How much is 9 plus 5?",
                "Where does Hugo live?", "Tell me a story about Tom.", "Hello!"],
    "default": ["What is the capital of France?", "Give me three tips for sleeping better.",
                "Write a haiku about the sea.", "What is 17 times 3?"],
}
FAMILY_LABELS = {"tinygpt": "TinyGPT trio (ours, offline)", "smollm2-135m": "SmolLM2-135M: base (hub) vs Instruct",
                 "olmo2-1b": "OLMo-2 1B base / SFT / DPO (hub; needs a GPU to be quick)",
                 "qwen2.5-0.5b": "Qwen2.5-0.5B base vs Instruct (hub)"}


# The public API's output order, by name (tests/test_ui_wiring.py checks the built app against it).
API_OUTPUTS = {"compare": (*(f"{slot}_{part}" for slot in compare.SLOTS for part in compare_views.VIEW_PARTS), "run",
                           "busy", "better", "worse"),
               "compare_scores": ("table", "score_note", *(f"{slot}_rm" for slot in compare.SLOTS)),
               "compare_vote": ("votes", "vote_note")}


@friendly
def run_compare(family, prompt, system, temperature, top_k, top_p, rep, max_new, seed, progress=gr.Progress()):
    """Stream the family's columns (one per stage): compare_views.stream_views, the vote radios set once."""
    cfg = sampling_config(temperature, top_k, top_p, rep, max_new, seed)
    if not compare.has_prompt(prompt):
        gr.Warning(compare.NO_PROMPT)
        yield dict(busy=False)
        return
    if note := compare_views.loading_note(family):
        progress(0, desc=note)
    for out in compare_views.stream_views(family, prompt, cfg, system or ""):
        if "vote_choices" in out:
            slots, better, worse = out.pop("vote_choices")
            out.update(better=gr.update(choices=slots, value=better), worse=gr.update(choices=slots, value=worse))
        yield out


@friendly
def score(run, busy):
    """{table, score_note, <slot>_rm}: compare_views.score_run (a stopped run is not scored)."""
    return compare_views.score_run(run, busy)


@friendly
def vote(run, busy, better, worse, votes):
    """The pair is the run's own prompt and answers (bound on the server), whatever the Prompt box says now."""
    return compare_views.record_vote(run, busy, better, worse, votes)


@friendly
def download(votes, request: gr.Request):
    session = getattr(request, "session_hash", None) or "local"
    return str(compare.write_votes_jsonl(votes, compare.votes_dir(session)))


def forget_session(request: gr.Request):
    """demo.unload: a closed tab's votes file is deleted at once (Gradio's own copies by delete_cache)."""
    compare.forget_votes(getattr(request, "session_hash", None))


def stop_run(run):
    """Stop: {<column views>, busy, table, score_note} from compare_views.stop (votes then refuse the run)."""
    return compare_views.stop(run)


def _score_widths(n: int) -> list[str]:
    """The first column (the answer's stage name) gets 28% (room for "(pretrained)"), the n-1 numbers share the rest."""
    return ["28%"] + [f"{72 / (n - 1):.1f}%"] * (n - 1)


def pick_family(family):
    prompts = CURATED.get(family, CURATED["default"])
    return gr.update(samples=[[p] for p in prompts])


def build_compare_tab():
    gr.Markdown("## Compare: base vs SFT vs RLHF vs DPO")
    gr.Markdown(INTRO)
    engine_status()
    run_state, busy, votes = gr.State(None), gr.State(False), gr.State([])
    with gr.Row():
        family = gr.Dropdown([(FAMILY_LABELS.get(f, f), f) for f in models.families()], value=models.DEFAULT_FAMILY,
                             label="Model family", scale=1, min_width=300)
        prompt = gr.Textbox(label="Prompt", value=CURATED["tinygpt"][0], scale=3)
    examples = gr.Dataset(components=[prompt], samples=[[p] for p in CURATED["tinygpt"]], label="Curated prompts")
    with gr.Accordion("Sampling settings (shared by the columns)", open=False):
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
    gr.Markdown(config.limits_markdown())
    # Run, then the answers right below it (on a phone the columns stack: tests/test_phone_browser.py)
    with gr.Row():
        run, stop = gr.Button("Run all stages", variant="primary"), gr.Button("Stop", variant="stop")
    views, rms = {}, {}
    with gr.Row(equal_height=True, elem_id="compare-columns"):
        for slot in compare.SLOTS:
            with gr.Column(min_width=ANSWER_MIN_WIDTH):
                head = gr.Markdown(f"### {compare.SLOT_TITLES[slot]}")
                # 7 lines: four stacked columns and the scores stay within two phone screens (test_phone_browser.py)
                answer = gr.Textbox(label="Answer", lines=7, interactive=False)
                rms[f"{slot}_rm"] = gr.Markdown(elem_id=f"rm-{slot}", elem_classes=["reward-model-score"])
                with gr.Accordion("What this model saw", open=False):
                    saw = gr.Code(label="Exact prompt string", language=None, interactive=False, wrap_lines=True)
                    saw_n = gr.Markdown()
                parts = zip(compare_views.VIEW_PARTS, (head, answer, saw, saw_n))
                views.update({f"{slot}_{part}": c for part, c in parts})
    headers = list(compare.SCORE_HEADERS)
    # widths as shares of the table, not of the widest cell: every column fits a phone's 370 px (wrapped headers)
    table = gr.Dataframe(headers=headers, label="Scores (mean log-prob per token under each stage)", interactive=False,
                         wrap=True, elem_id="compare-scores", column_widths=_score_widths(len(headers)))
    score_note = gr.Markdown()
    gr.Markdown(SCORES)
    with gr.Row():
        better = gr.Radio(list(compare.SLOTS), value="dpo", label="Better answer", elem_id="compare-better")
        worse = gr.Radio(list(compare.SLOTS), value="sft", label="Worse answer", elem_id="compare-worse")
        with gr.Column():
            vote_btn = gr.Button("Record vote")
            vote_note = gr.Markdown("No votes yet.")
            dl_btn = gr.Button("Download votes (DPO JSONL)")
            dl_file = gr.File(label="prompt / chosen / rejected, one pair per line", interactive=False)
    gr.Markdown("Train on your votes: `python -m llm_demo.training dpo --extra-pairs llm_lab_preferences.jsonl`.")
    build_arena_panel(prompt, system, [temperature, top_k, top_p, rep, max_new, seed])
    with gr.Accordion("The pipeline explained: pretraining → SFT → RLHF / DPO", open=True):
        with gr.Row():
            for title, text in compare_explainer.STAGE_PANELS:    # two a row on a phone, not four 80 px slivers
                with gr.Column(min_width=160):                       # (a Markdown's own min_width is not used)
                    gr.Markdown(f"**{title}**\n\n{text}")
        gr.Markdown(compare_explainer.pretraining_cost_note())
        gr.Markdown(compare_explainer.trio_facts())
        ev = compare_explainer.load_eval()
        gr.Plot(compare_plots.eval_figure(ev) if ev else None, label="TinyGPT eval (eval.json)")
        gr.Plot(compare_plots.curves_figure(), label="TinyGPT training curves")
        gr.Markdown(compare_explainer.rlhf_markdown())
        gr.Plot(rlhf_plots.hacking_figure(), label="RLHF curves: KL penalty on vs off (curves.csv)")

    knobs = [temperature, top_k, top_p, rep, max_new, seed]
    comps = dict(views, **rms, run=run_state, busy=busy, better=better, worse=worse, table=table,
                 score_note=score_note, votes=votes, vote_note=vote_note)
    streamed = ordered(comps, API_OUTPUTS["compare"])
    # Run, Record vote and Download can refuse input: the next one accepted closes an old refusal's popup.
    run_ev = closes_refusals(run.click(by_name(run_compare, streamed), [family, prompt, system, *knobs],
                                       list(streamed.values()), api_name="compare",
                                       concurrency_id=config.MODEL_CONCURRENCY_ID,
                                       concurrency_limit=config.MODEL_CONCURRENCY_LIMIT))
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
    closes_refusals(vote_btn.click(by_name(vote, voted), [run_state, busy, better, worse, votes], list(voted.values()),
                                   api_name="compare_vote", concurrency_limit=None))
    closes_refusals(dl_btn.click(download, votes, dl_file, api_name="compare_download", concurrency_limit=None))
    # For links and the lesson's Show me (llm_demo/ui/links_ui.py): a link fills the prompt, never runs it.
    return {"family": family, "prompt": prompt}
