"""Compare tab, blind arena panel: answers as A, B, C (and D for a four-stage lineup), a vote, the reveal, the leaderboard and the teacher view.

Handlers return dicts keyed by output name (tests read them by name); common.by_name maps them to components.
The work is in llm_demo/arena_runs.py (runs and votes), arena.py (leaderboard math) and arena_store.py (database).
"""
import hmac
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr

from llm_demo import arena, arena_plots, arena_runs, compare, config, models, teacher_guard
from llm_demo.arena_store import CHOICES, LABELS
from llm_demo.pairs import write_pairs_jsonl
from llm_demo.ui.common import ANSWER_MIN_WIDTH, by_name, closes_refusals, friendly, ordered, sampling_config
from llm_demo import count

LEADERBOARD_MAX_AGE_S = 5      # the whole class shares one leaderboard, recomputed at most this often
# The public API's output order, by name (tests/test_ui_wiring.py checks the built app against it).
API_OUTPUTS = {"arena_run": ("run", "reveal", *(f"{k}_{x}" for x in LABELS for k in ("head", "answer"))),
               "arena_vote": ("mine", "reveal"), "arena_leaderboard": ("board", "strengths", "matrix"),
               "teacher_reset": ("totals", "confirm")}
LINEUP_LABELS = {"tinygpt": "TinyGPT: base / SFT / RLHF / DPO", "tinygpt-class": "TinyGPT: SFT / DPO / DPO on the class's votes"}


def intro_markdown() -> str:
    where = ("**Class mode is on**: every blind vote goes to the class's database and the leaderboard is the whole "
             "class's. Stored: the prompt, the answers, the settings and a random id of this page; no name, no "
             "address." if config.CLASS_DB else
             "Class mode is off: your blind votes and this leaderboard stay in this page.")
    return ("### Blind arena: vote first, then see who wrote what\nThe same prompt and settings as above, but the "
            "answers are shown as **A, B, C** (and **D** when the lineup has four stages) in a random order. Pick the "
            "best (and, if you like, the worst: the others beat it), or call it a tie or all bad. The models are "
            f"revealed after your vote. {where}")


def lineups() -> list[tuple[str, str]]:
    out = [(LINEUP_LABELS["tinygpt"], "tinygpt"), (LINEUP_LABELS["tinygpt-class"], "tinygpt-class")]
    return out + [(f, f) for f in models.families() if f != "tinygpt"]


def _page(request) -> str:
    return arena_runs.page_id(getattr(request, "session_hash", None))


def blind_views(run) -> dict:
    """Heads and answers in the shown order (no model names until the vote), and the run itself. A lineup with fewer
    answers than LABELS empties the labels it does not use (a three-stage run after a four-stage one shows no stale D)."""
    out = {"run": run}
    shown = arena_runs.shown(run)
    for label in LABELS[len(shown):]:
        out[f"head_{label}"] = f"### {label}\n*Not used: this lineup has {len(shown)} answers.*"
        out[f"answer_{label}"] = ""
    for label, col in shown:
        if col.error:
            head = f"### {label}\n⛔ *{col.error}*"
        else:
            state = "finished" if col.done else "generating…" if col.text else "waiting…"
            head = f"### {label}\n{count(col.n_tokens, 'token')} · {state}"
        out[f"head_{label}"], out[f"answer_{label}"] = head, col.text
    return out


@friendly
def run_blind(lineup, prompt, system, temperature, top_k, top_p, rep, max_new, seed, request: gr.Request):
    cfg = sampling_config(temperature, top_k, top_p, rep, max_new, seed)
    if not compare.has_prompt(prompt):
        raise ValueError(compare.NO_PROMPT)
    if lineup not in dict((v, k) for k, v in lineups()):
        raise ValueError("Choose one of the listed lineups.")
    page, store = _page(request), arena_runs.class_store()
    run = None
    for run in arena_runs.stream_blind(store, page, lineup, prompt, system if isinstance(system, str) else "", cfg):
        yield {**blind_views(run), "reveal": "Vote once every answer has finished; then the models are revealed."}


NO_WORST = "none"             # the worst radio's way back to "no worst answer" (needed with 'tie' or 'all bad')


@friendly
def cast_vote(run, best, worst, mine, request: gr.Request):
    """Unfinished runs are refused by arena_runs.vote (class mode: by the database, which knows the run's status)."""
    if best not in CHOICES:
        raise ValueError(f"Choose the best answer ({', '.join(LABELS)}), 'tie' or 'all bad' first.")
    worst = None if worst == NO_WORST else worst     # "none": a radio cannot be unselected, so it is a choice
    mine, replaced = arena_runs.vote(arena_runs.class_store(), _page(request), run, best, worst, mine)
    with _board_lock:                      # the voter's next leaderboard counts this vote (the cache is per process)
        _board_cache["key"] = None
    reveal = arena_runs.reveal_markdown(run, best, worst if worst in LABELS else None, replaced, mine[-1].vote_id)
    return {"mine": mine, "reveal": reveal}


_board_cache: dict = {"at": 0.0, "key": None, "views": None}
_board_lock = threading.Lock()


def board_views(votes: list) -> dict:
    board = arena.leaderboard(votes)
    ok = bool(board.models)
    return {"board": arena_plots.table_markdown(board),
            "strengths": arena_plots.strengths_figure(board) if ok else None,
            "matrix": arena_plots.win_matrix_figure(board) if ok else None}


@friendly
def show_leaderboard(mine):
    """The class's leaderboard in class mode (shared, at most LEADERBOARD_MAX_AGE_S old), else this page's own."""
    store = arena_runs.class_store()
    if store is None:
        return board_views([v for v in mine or [] if isinstance(v, arena_runs.VoteRow)])
    with _board_lock:
        if _board_cache["key"] != store.path or time.monotonic() - _board_cache["at"] > LEADERBOARD_MAX_AGE_S:
            _board_cache.update(views=board_views(store.votes()), at=time.monotonic(), key=store.path)
        return dict(_board_cache["views"])


# ---------------------------------------------------------------- teacher view (only with LLM_DEMO_TEACHER_TOKEN)


TEACHER_GUARD = teacher_guard.Guard()     # wrong tokens slowed down, then locked out (llm_demo/teacher_guard.py)


def _client(request) -> str:
    return str(getattr(getattr(request, "client", None), "host", None) or getattr(request, "session_hash", None)
               or "unknown")


def check_teacher(token, request=None) -> arena_runs.ArenaStore:
    """The class store, once the token matches (compared in constant time); refused with a sentence otherwise.
    Repeated wrong tokens wait longer each time and then lock the view (per client and for everyone)."""
    if not config.TEACHER_TOKEN:
        raise ValueError("There is no teacher view on this deployment.")
    TEACHER_GUARD.check(_client(request))
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), config.TEACHER_TOKEN.encode()):
        TEACHER_GUARD.failed(_client(request))
        raise ValueError("Wrong or missing teacher token: nothing was shown or changed.")
    store = arena_runs.class_store()
    if store is None:
        raise ValueError("Class mode is off, so there are no class votes to manage.")
    return store


@friendly
def teacher_totals(token, request: gr.Request = None):
    store = check_teacher(token, request)
    t, votes = store.totals(), store.votes()
    lines = [f"- {count(t['votes'], 'counted vote')} ({t['replaced_votes']} replaced by a later vote on the same run)",
             f"- {count(t['runs'], 'run')} ({t['finished_runs']} finished) from {count(t['pages'], 'page')}",
             f"- {count(sum(v.best == 'tie' for v in votes), 'tie')}, {sum(v.best == 'all bad' for v in votes)} 'all bad'",
             f"- {count(len(arena.dpo_pairs(votes)), 'DPO pair')} in the export"]
    return "\n".join(lines)


@friendly
def teacher_export(token, request: gr.Request = None):
    pairs = arena.dpo_pairs(check_teacher(token, request).votes())
    if not pairs:
        raise ValueError("No DPO pairs yet: ties and 'all bad' votes give none; a best answer gives two.")
    return str(write_pairs_jsonl(pairs, Path(tempfile.mkdtemp(prefix="llm_lab_class_export_")) / "class_votes_dpo.jsonl"))


@friendly
def teacher_backup(token, request: gr.Request = None):
    """The whole class database, to keep across a restart (a Hugging Face Space's disk is not kept)."""
    folder = Path(tempfile.mkdtemp(prefix="llm_lab_class_backup_"))
    return str(check_teacher(token, request).backup(folder / "class_arena_backup.sqlite3"))


@friendly
def teacher_restore(token, backup, request: gr.Request = None):
    store = check_teacher(token, request)
    if not backup:
        raise ValueError("Choose the backup file first (from 'Download the class database'): nothing was restored.")
    t = store.restore_from(backup)
    with _board_lock:
        _board_cache["key"] = None
    return f"Restored {count(t['votes'], 'vote')} on {count(t['runs'], 'run')} from the backup."


@friendly
def teacher_reset(token, confirmed, request: gr.Request = None):
    store = check_teacher(token, request)
    if confirmed is not True:
        raise ValueError("Tick the confirmation box first: nothing was deleted.")
    gone = store.reset()
    with _board_lock:
        _board_cache["key"] = None
    return dict(totals=f"Deleted {count(gone['votes'], 'vote')} and {count(gone['runs'], 'run')}. The class starts again "
                       "from zero.", confirm=False)


# ---------------------------------------------------------------- layout


def build_arena_panel(prompt, system, knobs: list) -> None:
    """Inside the Compare tab: uses its Prompt box, system prompt and sampling settings."""
    try:
        store = arena_runs.class_store()
    except ValueError as exc:               # a deployer's bad database path: stop here with the sentence
        raise SystemExit(f"Class mode cannot start: {exc}") from None
    c = {"run": gr.State(None), "mine": gr.State([])}
    gr.Markdown(intro_markdown())
    with gr.Row():
        lineup = gr.Dropdown(lineups(), value="tinygpt", label="Lineup", scale=2, min_width=260)
        run_btn = gr.Button("Run blind", variant="primary", scale=1)
    with gr.Row(equal_height=True):
        for label in LABELS:
            with gr.Column(min_width=ANSWER_MIN_WIDTH):
                c[f"head_{label}"] = gr.Markdown(f"### {label}")
                c[f"answer_{label}"] = gr.Textbox(label=f"Answer {label}", lines=6, interactive=False)
    with gr.Row():
        best = gr.Radio(list(CHOICES), value=None, label="Best answer", elem_id="arena-best")
        worst = gr.Radio([*LABELS, NO_WORST], value=None, label="Worst answer (optional: the others beat it)",
                         elem_id="arena-worst")
        vote_btn = gr.Button("Vote and reveal")
    c["reveal"] = gr.Markdown()
    gr.Markdown("#### Leaderboard" + (" (the whole class)" if store else " (this page's votes)"))
    c["board"] = gr.Markdown("No votes yet.")
    with gr.Row():
        c["strengths"], c["matrix"] = gr.Plot(label="Strengths"), gr.Plot(label="Win rates")
    refresh = gr.Button("Refresh leaderboard", size="sm")
    model = dict(concurrency_id=config.MODEL_CONCURRENCY_ID, concurrency_limit=config.MODEL_CONCURRENCY_LIMIT)
    out = {name: ordered(c, API_OUTPUTS[name]) for name in ("arena_run", "arena_vote", "arena_leaderboard")}
    # Run blind and Vote can refuse input: the next one accepted closes an old refusal's popup.
    run_ev = closes_refusals(run_btn.click(by_name(run_blind, out["arena_run"]), [lineup, prompt, system, *knobs],
                                           list(out["arena_run"].values()), api_name="arena_run", **model))
    board = out["arena_leaderboard"]
    vote_ev = closes_refusals(vote_btn.click(by_name(cast_vote, out["arena_vote"]), [c["run"], best, worst, c["mine"]],
                                             list(out["arena_vote"].values()), api_name="arena_vote",
                                             concurrency_limit=None))
    vote_ev.success(by_name(show_leaderboard, board), c["mine"], list(board.values()), api_name=False,
                    concurrency_limit=None)
    unvoted = dict(best=best, worst=worst)
    run_ev.then(by_name(lambda: dict(best=None, worst=None), unvoted), None, list(unvoted.values()), api_name=False,
                concurrency_limit=None)
    refresh.click(by_name(show_leaderboard, board), c["mine"], list(board.values()), api_name="arena_leaderboard",
                  concurrency_limit=None)
    if store is not None and config.TEACHER_TOKEN:
        _build_teacher_view()


def _build_teacher_view() -> None:
    with gr.Accordion("Teacher view (needs the teacher token)", open=False):
        token = gr.Textbox(label="Teacher token", type="password")
        with gr.Row():
            totals_btn, export_btn = gr.Button("Vote totals"), gr.Button("Export the class's votes (DPO JSONL)")
        totals, export = gr.Markdown(), gr.File(label="chosen / rejected pairs from the votes", interactive=False)
        gr.Markdown("Train on them: `python -m llm_demo.training dpo --from-class-db <database>` (docs/arena.md, Class "
                    "arena), then compare with the lineup *SFT / DPO / DPO on the class's votes*.")
        gr.Markdown("On a Hugging Face Space the disk is not kept: a restart loses the class's votes. Download the "
                    "database before the Space restarts and restore it into the new server (into an empty database).")
        with gr.Row():
            backup_btn, restore_btn = gr.Button("Download the class database"), gr.Button("Restore from a backup")
        with gr.Row():
            backup = gr.File(label="class database backup (SQLite)", interactive=False)
            upload = gr.File(label="backup to restore", file_types=[".sqlite3"], type="filepath")
        with gr.Row():
            confirm = gr.Checkbox(label="Yes, delete every run and vote of this class", value=False)
            reset_btn = gr.Button("Reset class data", variant="stop")
    totals_btn.click(teacher_totals, token, totals, api_name="teacher_totals", concurrency_limit=None)
    export_btn.click(teacher_export, token, export, api_name="teacher_export", concurrency_limit=None)
    backup_btn.click(teacher_backup, token, backup, api_name="teacher_backup", concurrency_limit=None)
    restore_btn.click(teacher_restore, [token, upload], totals, api_name="teacher_restore", concurrency_limit=None)
    reset = ordered(dict(totals=totals, confirm=confirm), API_OUTPUTS["teacher_reset"])
    reset_btn.click(by_name(teacher_reset, reset), [token, confirm], list(reset.values()), api_name="teacher_reset",
                    concurrency_limit=None)
