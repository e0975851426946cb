"""The class arena's SQLite store: schema and migrations, votes bound to recorded runs, refusals that lose nothing."""
import json
import sqlite3
import threading

import pytest

from llm_demo import arena_store
from llm_demo.arena_store import ArenaStore

ORDER = ["dpo", "base", "sft"]
DONE = {"base": {"model": "m-base", "text": "once upon", "error": ""},
        "sft": {"model": "m-sft", "text": "My name is Tiny.", "error": ""},
        "dpo": {"model": "m-dpo", "text": "Hello! My name is Tiny.", "error": ""}}


def finished_run(store, page="page-1", prompt="What is your name?"):
    run = store.start_run(page, "tinygpt", prompt, "", {"seed": 3}, ORDER, {s: {"model": c["model"], "text": ""}
                                                                          for s, c in DONE.items()})
    store.finish_run(run, DONE)
    return run


def test_a_new_database_is_wal_versioned_and_records_a_vote_bound_to_its_run(tmp_path):
    store = ArenaStore(tmp_path / "class.sqlite3")
    assert store.schema_version() == arena_store.SCHEMA_VERSION
    with sqlite3.connect(tmp_path / "class.sqlite3") as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    run = finished_run(store)
    vote_id, replaced = store.record_vote(run, "page-1", "A", "B")
    assert not replaced
    [row] = store.votes()
    assert (row.vote_id, row.prompt, row.order, row.best, row.worst) == (vote_id, "What is your name?", ORDER, "A", "B")
    assert row.columns["dpo"]["text"] == "Hello! My name is Tiny.", "the answers come from the recorded run"
    assert store.integrity() == "ok"


def test_refused_votes_say_why_and_store_nothing(tmp_path):
    store = ArenaStore(tmp_path / "c.sqlite3")
    run = finished_run(store)
    running = store.start_run("page-1", "tinygpt", "Hi", "", {}, ORDER, DONE)
    cases = [(("no-such-run", "page-1", "A"), "never recorded"),
             ((run, "page-2", "A"), "another page"),
             ((running, "page-1", "A"), "unfinished"),
             ((run, "page-1", "E"), "Choose the best answer"),
                 ((run, "page-1", "D"), "empty or missing"),  # a three-column run has no D
             ((run, "page-1", "A", "A"), "must be different"),
             ((run, "page-1", "tie", "B"), "leave it empty"),
             ((run, "page-1", "A", "<script>"), "not one of this run's answers")]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            store.record_vote(*args)
    assert store.votes() == [] and store.vote_ids() == set(), "a refused vote must store nothing"
    with pytest.raises(ValueError, match="not recorded as running"):
        store.finish_run(run, DONE)


def test_a_repeated_vote_replaces_the_earlier_one_and_concurrent_votes_never_double_count(tmp_path):
    store = ArenaStore(tmp_path / "c.sqlite3")
    run = finished_run(store)
    first, _ = store.record_vote(run, "page-1", "A")
    second, replaced = store.record_vote(run, "page-1", "C")
    assert replaced and [v.best for v in store.votes()] == ["C"], "one vote per run counts: the latest"
    assert {first, second} <= store.vote_ids(), "the replaced vote is kept (marked), not lost"
    errors = []

    def voter(label):
        try:
            for _ in range(10):
                store.record_vote(run, "page-1", label)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
    threads = [threading.Thread(target=voter, args=(lab,)) for lab in "ABC"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    totals = store.totals()
    assert totals["votes"] == 1 and totals["runs_with_two_counted_votes"] == 0, totals
    assert totals["replaced_votes"] == 31, totals


def test_an_older_schema_is_migrated_and_keeps_its_votes(tmp_path):
    path = tmp_path / "old.sqlite3"
    con = sqlite3.connect(path)
    con.executescript(arena_store.MIGRATIONS[0])                   # a database written by schema version 1
    con.execute(f"PRAGMA application_id = {arena_store.APP_ID}")
    con.execute("PRAGMA user_version = 1")
    con.execute("INSERT INTO runs VALUES ('r1', 'p', 0, 'tinygpt', 'Hi', '', '{}', ?, ?, 'done')",
                ('["dpo", "base", "sft"]', '{"dpo": {"model": "m-dpo", "text": "Hello!"}, '
                                           '"base": {"model": "m-base", "text": "hi hi"}}'))
    con.execute("INSERT INTO votes (run_id, created, best) VALUES ('r1', 0, 'A')")
    con.commit()
    con.close()
    store = ArenaStore(path)
    assert store.schema_version() == arena_store.SCHEMA_VERSION
    [row] = store.votes()
    assert (row.run_id, row.best, row.worst) == ("r1", "A", None), "the old vote survives the migration"


def test_a_three_answer_database_keeps_its_votes_next_to_four_answer_runs(tmp_path):
    """A class database written before the RLHF column (schema 2, runs of three answers A-C, ranked votes) opens
    unchanged: its votes count and export as before, and new four-answer runs (D included) join the same board."""
    from llm_demo import arena
    path = tmp_path / "three.sqlite3"
    con = sqlite3.connect(path)
    for step in arena_store.MIGRATIONS[:2]:                        # what the three-column app created
        con.executescript(step)
    con.execute(f"PRAGMA application_id = {arena_store.APP_ID}")
    con.execute("PRAGMA user_version = 2")
    con.execute("INSERT INTO runs VALUES ('old', 'p', 0, 'tinygpt', 'What is your name?', '', '{}', ?, ?, 'done')",
                (json.dumps(ORDER), json.dumps(DONE)))
    con.execute("INSERT INTO votes (run_id, created, best, worst) VALUES ('old', 0, 'A', 'B')")   # dpo best, base worst
    con.commit()
    con.close()
    store = ArenaStore(path)
    [old] = store.votes()
    assert (old.order, old.best, old.worst) == (ORDER, "A", "B"), old
    assert arena.dpo_pairs([old]) == [
        {"prompt": "What is your name?", "chosen": DONE["dpo"]["text"], "rejected": DONE["base"]["text"]},
        {"prompt": "What is your name?", "chosen": DONE["dpo"]["text"], "rejected": DONE["sft"]["text"]},
        {"prompt": "What is your name?", "chosen": DONE["sft"]["text"], "rejected": DONE["base"]["text"]}], \
        "the old vote exports the same three pairs as before"
    with pytest.raises(ValueError, match="empty or missing"):
        store.record_vote("old", "p", "D")                        # an old run has no D
    four = ["rlhf", *ORDER]
    cols = {**DONE, "rlhf": {"model": "m-rlhf", "text": "I am Tiny, thank you!", "error": ""}}
    new = store.start_run("page-2", "tinygpt", "What is your name?", "", {}, four, cols)
    store.finish_run(new, cols)
    store.record_vote(new, "page-2", "A", "D")                    # rlhf best, sft worst
    board = arena.leaderboard(store.votes())
    assert sorted(board.models) == ["m-base", "m-dpo", "m-rlhf", "m-sft"] and board.votes == 2, board


def test_foreign_newer_or_unwritable_databases_are_refused_untouched(tmp_path):
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE grades (name TEXT)")
        con.execute("INSERT INTO grades VALUES ('kept')")
    with pytest.raises(ValueError, match="not an LLM Lab class database"):
        ArenaStore(other)
    with sqlite3.connect(other) as con:
        assert con.execute("SELECT name FROM grades").fetchall() == [("kept",)]
    newer = tmp_path / "newer.sqlite3"
    ArenaStore(newer)
    with sqlite3.connect(newer) as con:
        con.execute(f"PRAGMA user_version = {arena_store.SCHEMA_VERSION + 1}")
    with pytest.raises(ValueError, match="newer version"):
        ArenaStore(newer)
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all " * 100)
    with pytest.raises(ValueError, match="cannot be opened"):
        ArenaStore(text)
    assert text.read_text().startswith("not a database"), "a file that is not ours is never overwritten"
    with pytest.raises(ValueError, match="cannot be created"):
        ArenaStore(text / "class.sqlite3")                  # a folder that is a file


def test_reset_deletes_runs_and_votes(tmp_path):
    store = ArenaStore(tmp_path / "c.sqlite3")
    store.record_vote(finished_run(store), "page-1", "B")
    assert store.reset()["votes"] == 1
    assert store.totals()["runs"] == 0 and store.votes() == []
