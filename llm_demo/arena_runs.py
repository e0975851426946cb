"""Blind arena runs for one page (no Gradio): the answers shown as A, B, C (D) in a random order that the server
records, a vote bound to that run, and the reveal. With class mode on, runs and votes go to the class database
(arena_store); without it they stay in the page's own state.

Try it: `run = next(iter(stream_blind(None, "page", "tinygpt", "Hello!", "", SamplingConfig())))`.
"""
import dataclasses
import hashlib
import random
import secrets
import threading
from typing import Iterator

from llm_demo import arena_store, compare, config
from llm_demo.arena_store import LABELS, ArenaStore, VoteRow
from llm_demo.sampling import SamplingConfig

PRIVATE = "page:"                         # id prefix of runs kept only in the page (class mode off)
_shuffle = random.SystemRandom()         # the blind order must not be guessable from a seed the page chose
_store: dict = {}
_store_lock = threading.Lock()


def class_store() -> ArenaStore | None:
    """The class database (opened once per process), or None when class mode is off."""
    if not config.CLASS_DB:
        return None
    with _store_lock:
        if config.CLASS_DB not in _store:
            _store[config.CLASS_DB] = ArenaStore(config.CLASS_DB)
        return _store[config.CLASS_DB]


def page_id(session_hash) -> str:
    """What the database keeps about a visitor: a hash of the page's random session id (no name, no address)."""
    if not isinstance(session_hash, str) or not session_hash:
        raise ValueError("This page has no session id, so its votes cannot be counted: reload the page.")
    return hashlib.sha256(b"llm-lab-arena:" + session_hash.encode()).hexdigest()[:16]


def columns_record(cols: list) -> dict:
    """slot -> the model, its answer and how it ended: what the database stores about a run's answers."""
    return {c.slot: {"model": c.model, "text": c.text, "error": c.error, "finish_reason": c.finish_reason,
                     "n_tokens": c.n_tokens} for c in cols}


def stream_blind(store: ArenaStore | None, page: str, lineup: str, prompt: str, system: str,
                 cfg: SamplingConfig) -> Iterator[compare.Run]:
    """Stream a run whose columns are shown in a random order; the store records it as it starts and, once every
    answer has finished, with its answers (a run stopped halfway is never finished, so it cannot be voted on)."""
    run = compare.Run(lineup, prompt, system, dataclasses.asdict(cfg))
    for run.cols in compare.stream_columns(lineup, prompt, cfg, system):
        if not run.order:
            run.order = [c.slot for c in run.cols]
            _shuffle.shuffle(run.order)
            run.run_id = (store.start_run(page, lineup, prompt, system, run.settings, run.order,
                                          columns_record(run.cols)) if store is not None
                          else PRIVATE + secrets.token_urlsafe(9))
        yield run
    if store is not None:
        store.finish_run(run.run_id, columns_record(run.cols))
    yield run


def shown(run: compare.Run) -> list[tuple[str, compare.Column]]:
    """(label, column) in the order the page shows them."""
    by_slot = {c.slot: c for c in run.cols}
    return [(label, by_slot[slot]) for label, slot in zip(LABELS, run.order)]


def as_vote_row(run: compare.Run, best: str, worst: str | None, vote_id: int = 0) -> VoteRow:
    return VoteRow(vote_id, run.run_id, run.prompt, list(run.order), columns_record(run.cols), best, worst)


def vote(store: ArenaStore | None, page: str, run, best: str, worst: str | None,
         private: list) -> tuple[list, bool]:
    """Count a vote on the page's current run; returns (the page's own votes, whether it replaced an earlier one).

    In class mode the store checks the run against the database (recorded, this page's, finished); without it the
    run in the page's state is checked the same way. Either way the answers voted on are the server's."""
    if not isinstance(run, compare.Run) or not run.order:
        raise ValueError("Run a blind comparison first, then vote.")
    worst = worst if worst in LABELS else None
    if store is not None:
        if run.run_id.startswith(PRIVATE):
            raise ValueError("This run was not recorded in the class database, so it cannot be voted on: run it "
                             "again.")
        vote_id, replaced = store.record_vote(run.run_id, page, best, worst)
    else:
        if not run.finished:
            raise ValueError("Wait until all the answers have finished: votes on unfinished answers are refused.")
        best, worst = arena_store.check_choice(run.order, columns_record(run.cols), best, worst)
        vote_id, replaced = 0, False
    earlier = [v for v in private or [] if isinstance(v, VoteRow)]
    mine = [v for v in earlier if v.run_id != run.run_id]        # one vote per run counts: the latest
    replaced = replaced or len(mine) < len(earlier)
    return mine + [as_vote_row(run, best, worst, vote_id)], replaced


def reveal_markdown(run: compare.Run, best: str, worst: str | None, replaced: bool, vote_id: int = 0) -> str:
    """Which model wrote which answer, shown after the vote (with the database's receipt number in class mode)."""
    marks = {best: " ← your best", worst: " ← your worst"}
    lines = [f"- **{label}** was **{col.title}** (`{col.model}`){marks.get(label, '')}" for label, col in shown(run)]
    head = f"Vote stored in the class's database (receipt #{vote_id}). " if vote_id else ""
    head += "It replaced your earlier vote on this run. " if replaced else ""
    verdict = {"tie": "You called it a tie.", "all bad": "You marked all the answers as bad."}.get(best, "")
    return f"{head}{verdict}\n\n" + "\n".join(lines)
