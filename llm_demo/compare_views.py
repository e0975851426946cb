"""One Compare run as the Compare tab shows it, without Gradio: each column's heading and what it saw, the vote
radios' choices, what Stop marks, the vote a run may record, and the scores' table and note. ui/compare_tab.py
adapts these to components; compare.py streams and scores the columns."""
import dataclasses
from typing import Iterator

from llm_demo import compare, count, turns
from llm_demo.sampling import SamplingConfig

VIEW_PARTS = ("head", "answer", "saw", "saw_n")   # per column: heading, answer, exact prompt, its token count
WAITING = "Scores appear when every column has finished."
STOPPED = "Stopped before every column finished: not scored, and votes on this run are refused (run it again)."


def column_views(cols: list[compare.Column], stopped: bool = False) -> dict:
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


def vote_choices(cols: list[compare.Column]) -> tuple[list[str], str | None, str | None]:
    """(slots, better, worse): the vote radios offer only the columns that answer (SmolLM2 has no DPO column, and a
    hub base model that cannot load answers nothing), and start on two different ones (DPO over SFT when there)."""
    slots = [c.slot for c in cols if not c.error]
    better = "dpo" if "dpo" in slots else slots[-1] if slots else None
    worse = "sft" if "sft" in slots and better != "sft" else next((s for s in slots if s != better), None)
    return slots, better, worse


def loading_note(family: str) -> str:
    """The loading note of the first of the family's columns whose model is not loaded yet ('' when all are)."""
    for col in compare.plan_columns(family):
        if not col.error and turns.needs_loading(col.model):
            return turns.loading_note(col.model)
    return ""


def stream_views(family: str, prompt: str, cfg: SamplingConfig, system: str = "") -> Iterator[dict]:
    """{<column views>, run, busy} per update of compare.stream_columns, busy until the last; the first update also
    carries vote_choices (see vote_choices). The run (prompt, settings, answers) is what scores and votes use later."""
    run = compare.Run(family, prompt, system, dataclasses.asdict(cfg))
    first = True
    for run.cols in compare.stream_columns(family, prompt, cfg, system):
        yield {**column_views(run.cols), "run": run, "busy": True,
               **({"vote_choices": vote_choices(run.cols)} if first else {})}
        first = False
    yield {**column_views(run.cols), "run": run, "busy": False}


def stop(run) -> dict:
    """Stop: the run is marked stopped (votes refuse it), its unfinished columns say so, and the scores line says
    why there are no scores: {<column views>, busy, table, score_note}. A run that finished keeps its scores."""
    if not isinstance(run, compare.Run) or run.finished:
        return dict(busy=False)
    run.stopped = True
    return {**column_views(run.cols, stopped=True), "busy": False, "table": None, "score_note": STOPPED}


def unscored(run, busy: bool) -> dict | None:
    """{table, score_note} when the run is not to be scored (none yet, still running, stopped; an unfinished one
    keeps its note), None when it is."""
    if not isinstance(run, compare.Run) or busy:
        return dict(table=None, score_note=WAITING)
    if run.stopped:
        return dict(table=None, score_note=STOPPED)
    if not run.finished:
        return dict(table=None)
    return None


def score_views(s: compare.Scores) -> dict:
    """{table, score_note, <slot>_rm}: the table's rows, the note on β and the reward model, each column's
    reward-model line ('' for a column without one)."""
    if not s.mean_logprob:
        return dict(table=None, score_note="No answers to score.")
    per_token = "; rewards from per-token mean log-probs, as its DPO was length-normalised" if s.length_normalised else ""
    note = f"β = {s.beta} ({s.beta_source}{per_token})." if s.dpo_reward else "No DPO reward: the family lacks an SFT or DPO stage."
    if s.dpo_reward and s.sft_weight:
        note += (f" This DPO stage's loss adds an SFT term (weight {s.sft_weight:g}) to DPO's, so β·log-ratio is its "
                 "implicit reward only approximately.")
    rm = {f"{slot}_rm": (f"**Reward model:** {s.rm_score[slot]:.3f}" if slot in s.rm_score else "")
          for slot in compare.SLOTS}
    return dict(table=compare.scores_table(s), score_note=f"{note} {s.rm_note}", **rm)


def score_run(run, busy: bool) -> dict:
    """{table, score_note, <slot>_rm} for the run as recorded (its own prompt and answers), once every column is
    done."""
    return unscored(run, busy) or score_views(compare.score_columns(run.family, run.prompt, run.cols, run.system))


def record_vote(run, busy: bool, better: str, worse: str, votes: list) -> dict:
    """{votes, vote_note}: the session's votes with this one added (compare.make_vote says what a vote may record)."""
    votes = list(votes or []) + [compare.make_vote(run, better, worse, busy)]
    return dict(votes=votes, vote_note=f"{count(len(votes), 'vote')} this session.")
