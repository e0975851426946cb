"""The blind arena through its handlers (no browser): random recorded order, votes bound to the server's run,
class mode in a temp database, the teacher view behind its token."""
import json
import sqlite3
import types

import pytest

from llm_demo import arena, arena_runs, compare, config, models, teacher_guard
from llm_demo.training.pairs import load_pairs_jsonl
from llm_demo.ui import arena_panel

PROMPT = "Hello cat"
KNOBS = (0.9, 0, 1.0, 1.0, 6, 0)          # temperature, top-k, top-p, repetition, max new tokens, seed


@pytest.fixture(scope="module")
def other_tiny(tmp_path_factory):
    from tiny import build_tiny
    return build_tiny(tmp_path_factory.mktemp("tiny-other"), seed=1)      # other weights: other answers


@pytest.fixture
def tiny_family(monkeypatch, tiny_dir, other_tiny):
    specs = {f"tiny-{st}": models.ModelSpec(f"tiny-{st}", "tinyfam", st, "embedded", str(d), f"tiny {st}")
             for st, d in (("base", tiny_dir), ("sft", tiny_dir), ("dpo", other_tiny))}
    monkeypatch.setattr(models, "REGISTRY", {**models.REGISTRY, **specs})
    return "tinyfam"


@pytest.fixture
def class_mode(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "CLASS_DB", str(tmp_path / "class.sqlite3"))
    monkeypatch.setattr(config, "TEACHER_TOKEN", "s3cret-token")
    # many wrong tokens in a row here: a guard that neither waits nor locks (test_teacher_lockout checks those)
    monkeypatch.setattr(arena_panel, "TEACHER_GUARD", teacher_guard.Guard(per_client=10**6, overall=10**6, delay_s=0))
    monkeypatch.setattr(arena_runs, "_store", {})
    monkeypatch.setattr(arena_panel, "_board_cache", {"at": 0.0, "key": None, "views": None})
    return arena_runs.class_store()


def page(name="page-a"):
    return types.SimpleNamespace(session_hash=name)


def blind(family, who="page-a", seed=0):
    outs = list(arena_panel.run_blind(family, PROMPT, "", *KNOBS[:-1], seed, page(who)))
    assert "finished" not in outs[0]["head_A"] and outs[-1]["run"].finished, "the run finishes with the last update"
    return outs[-1]


def test_private_blind_run_hides_the_models_until_the_vote_then_reveals_them(tiny_family):
    final = blind(tiny_family)
    run = final["run"]
    assert sorted(run.order) == ["base", "dpo", "sft"], run.order
    heads = " ".join(final[f"head_{x}"] for x in "ABC")
    assert "tiny-" not in heads and "SFT" not in heads, f"the heads give the models away: {heads}"
    assert [final[f"answer_{x}"] for x in "ABC"] == [c.text for _, c in arena_runs.shown(run)]
    early = compare.Run(run.family, run.prompt, cols=[compare.Column(c.slot, c.model, text="x") for c in run.cols],
                        order=run.order, run_id=run.run_id)
    with pytest.raises(Exception, match="unfinished"):
        arena_panel.cast_vote(early, "A", None, [], page())
    with pytest.raises(Exception, match="blind comparison first"):
        arena_panel.cast_vote(None, "A", None, [], page())
    out = arena_panel.cast_vote(run, "B", "C", [], page())
    by_label = dict(zip("ABC", run.order))
    assert f"`tiny-{by_label['B']}`) ← your best" in out["reveal"], out["reveal"]
    again = arena_panel.cast_vote(run, "A", None, out["mine"], page())
    assert len(again["mine"]) == 1 and "replaced" in again["reveal"], "one vote per run counts: the latest"
    board = arena_panel.show_leaderboard(again["mine"])
    assert "**1 vote**" in board["board"] and board["strengths"] is not None, board["board"]


def test_the_blind_order_is_random_per_run_and_recorded(tiny_family, class_mode):
    orders = [blind(tiny_family, seed=1)["run"].order for _ in range(12)]
    assert len({tuple(o) for o in orders}) > 1, "twelve runs all in one order: the order is not random"
    stored = [json.loads(o) for (o,) in _rows(class_mode, "SELECT blind_order FROM runs ORDER BY created")]
    assert stored == orders, "the database must hold the order each page was shown"


def _rows(store, sql):
    with sqlite3.connect(store.path) as con:
        return con.execute(sql).fetchall()


def test_class_votes_are_bound_to_the_recorded_run_not_to_what_the_page_holds(tiny_family, class_mode):
    run = blind(tiny_family)["run"]
    real = {c.slot: c.text for c in run.cols}
    run.cols[0].text = "a made-up answer the page sent back"        # whatever the page's copy says...
    arena_panel.cast_vote(run, "A", "B", [], page())
    [row] = class_mode.votes()
    assert {s: c["text"] for s, c in row.columns.items()} == real, "...the database keeps the server's answers"
    assert row.prompt == PROMPT
    with pytest.raises(Exception, match="another page"):
        arena_panel.cast_vote(run, "A", None, [], page("page-b"))
    forged = types.SimpleNamespace(**vars(run))
    with pytest.raises(Exception, match="blind comparison first"):
        arena_panel.cast_vote(forged, "A", None, [], page())       # not a run the server made
    run.run_id = "made-up-run-id"
    with pytest.raises(Exception, match="never recorded"):
        arena_panel.cast_vote(run, "A", None, [], page())
    assert len(class_mode.votes()) == 1, "refused votes stored nothing"
    board = arena_panel.show_leaderboard([])
    assert "**1 vote**" in board["board"], "in class mode the leaderboard is the database's, not the page's"


def test_teacher_view_refuses_without_the_token_and_exports_resets_with_it(tiny_family, class_mode, monkeypatch):
    run = blind(tiny_family)["run"]
    arena_panel.cast_vote(run, "A", "C", [], page())
    for token in ("", None, "s3cret-tokeN", "s3cret-token ", 12345):
        for call in (lambda t: arena_panel.teacher_totals(t), lambda t: arena_panel.teacher_export(t),
                     lambda t: arena_panel.teacher_reset(t, True)):
            with pytest.raises(Exception, match="Wrong or missing teacher token"):
                call(token)
    assert len(class_mode.votes()) == 1, "a refused reset deleted something"
    assert "1 counted vote (" in arena_panel.teacher_totals("s3cret-token")
    pairs = load_pairs_jsonl(arena_panel.teacher_export("s3cret-token"))
    assert pairs and pairs == arena.dpo_pairs(class_mode.votes()), "the export is the votes' pairs, as the file says"
    assert all(p["prompt"] == PROMPT for p in pairs), pairs
    with pytest.raises(Exception, match="confirmation"):
        arena_panel.teacher_reset("s3cret-token", False)
    out = arena_panel.teacher_reset("s3cret-token", True)
    assert "Deleted 1 vote and" in out["totals"] and out["confirm"] is False and class_mode.votes() == []
    monkeypatch.setattr(config, "TEACHER_TOKEN", "")
    with pytest.raises(Exception, match="no teacher view"):
        arena_panel.teacher_totals("")


def test_a_picked_worst_can_be_cleared_with_none(tiny_family):
    """Issue 27 item 12: a radio cannot be unselected, so after 'worst: B' a tie was refused for good."""
    run = blind(tiny_family)["run"]
    out = arena_panel.cast_vote(run, "A", "B", [], page())
    again = arena_panel.cast_vote(run, "tie", arena_panel.NO_WORST, out["mine"], page())
    assert again["mine"][-1].best == "tie" and again["mine"][-1].worst is None, again["mine"][-1]


def test_wrong_teacher_tokens_wait_longer_then_lock_out_per_client_and_overall(class_mode, monkeypatch, caplog):
    """Issue 27 item 19: 40 wrong tokens in 4 s went through /teacher_totals; now each waits longer, a client is
    locked after 5 and everyone after 20 (even with the right token), and each miss is one log line."""
    now, slept = [0.0], []
    guard = teacher_guard.Guard(clock=lambda: now[0], sleep=slept.append)
    monkeypatch.setattr(arena_panel, "TEACHER_GUARD", guard)
    laptop = types.SimpleNamespace(client=types.SimpleNamespace(host="10.0.0.7"))
    for _ in range(teacher_guard.PER_CLIENT):
        with pytest.raises(Exception, match="Wrong or missing"):
            arena_panel.teacher_totals("guess", laptop)
    assert slept == sorted(slept) and slept[-1] > slept[0] > 0, f"wrong answers must wait longer each time: {slept}"
    with pytest.raises(Exception, match="locked"):
        arena_panel.teacher_totals("s3cret-token", laptop)
    assert "counted vote" in arena_panel.teacher_totals("s3cret-token", page("other")), "others are not locked yet"
    for i in range(teacher_guard.OVERALL):
        try:
            arena_panel.teacher_totals("guess", types.SimpleNamespace(client=types.SimpleNamespace(host=f"h{i}")))
        except Exception:
            pass
    with pytest.raises(Exception, match="on this server"):
        arena_panel.teacher_totals("s3cret-token", page("a-new-one"))
    now[0] += teacher_guard.WINDOW_S + 1
    assert "counted vote" in arena_panel.teacher_totals("s3cret-token", laptop), "the lock ends with its window"
    misses = [r for r in caplog.records if "teacher token refused" in r.getMessage()]
    assert misses and all("\n" not in r.getMessage() and not r.exc_info for r in misses), "one line per miss"


def test_a_short_teacher_token_is_refused_at_start():
    assert "at least 16" in teacher_guard.token_problem("teach123")
    assert teacher_guard.token_problem("") == "" and teacher_guard.token_problem("x" * 16) == ""


def test_teacher_downloads_the_database_and_restores_it_into_an_empty_one(class_mode, tmp_path, monkeypatch):
    cols = {"base": {"text": "a"}, "sft": {"text": "b"}}
    run = class_mode.start_run("p", "x", "q", "", {}, ["base", "sft"], cols)
    class_mode.finish_run(run, cols)
    class_mode.record_vote(run, "p", "A")
    with pytest.raises(Exception, match="Wrong or missing teacher token"):
        arena_panel.teacher_backup("wrong-token-here!")
    path = arena_panel.teacher_backup("s3cret-token")
    with pytest.raises(Exception, match="already holds 1 runs"):
        arena_panel.teacher_restore("s3cret-token", path)
    monkeypatch.setattr(config, "CLASS_DB", str(tmp_path / "restarted.sqlite3"))   # the Space restarted: new disk
    monkeypatch.setattr(arena_runs, "_store", {})
    said = arena_panel.teacher_restore("s3cret-token", path)
    assert "Restored 1 vote on 1 run" in said, said
    assert arena_runs.class_store().totals()["votes"] == 1, "the restored server does not count the vote"
