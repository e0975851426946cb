"""A Space keeps no disk across restarts: the class database is backed up while the lab runs, the server is killed
(SIGKILL, the database lost with it), and the backup restored into a new one, checked like a migration."""
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llm_demo.arena_store import ArenaStore, main

ROOT = Path(__file__).resolve().parent.parent
WRITER = textwrap.dedent("""
    import sys, time
    from llm_demo.arena_store import ArenaStore
    store = ArenaStore(sys.argv[1])
    cols = {"base": {"text": "a"}, "sft": {"text": "b"}, "dpo": {"text": "c"}}
    for i in range(5):
        run = store.start_run(f"page{i}", "tinygpt", f"prompt {i}", "", {}, ["base", "sft", "dpo"], cols)
        store.finish_run(run, cols)
        store.record_vote(run, f"page{i}", "A", "C")
    store.backup(sys.argv[2])
    print("backed up", flush=True)
    while True:                      # a vote arriving after the backup: lost with the server, as on a Space
        run = store.start_run("late", "tinygpt", "late", "", {}, ["base", "sft", "dpo"], cols)
        time.sleep(0.01)
""")


def test_backup_survives_a_killed_server_and_restores_into_a_new_one(tmp_path):
    db, backup = tmp_path / "class.sqlite3", tmp_path / "backup.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(backup)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "backed up", "the writer never reported its backup"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    for f in tmp_path.glob("class.sqlite3*"):       # the Space restarts with an empty disk
        f.unlink()
    fresh = tmp_path / "new" / "class.sqlite3"
    assert main(["restore", str(backup), str(fresh)]) == 0, "the CLI refused a good backup"
    store = ArenaStore(fresh)
    assert store.integrity() == "ok", "the restored database fails SQLite's integrity check"
    assert store.totals()["votes"] == 5 and [v.best for v in store.votes()] == ["A"] * 5, store.totals()


def test_restore_refuses_bad_files_and_a_database_that_holds_votes(tmp_path):
    target = ArenaStore(tmp_path / "target.sqlite3")
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValueError, match="not a class database backup"):
        target.restore_from(junk)
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE t (x)")
    with pytest.raises(ValueError, match="not a class database backup"):
        target.restore_from(other)
    with pytest.raises(ValueError, match="cannot be read"):
        target.restore_from(tmp_path / "missing.sqlite3")
    cols = {"base": {"text": "a"}, "sft": {"text": "b"}}
    run = target.start_run("p", "x", "q", "", {}, ["base", "sft"], cols)
    good = target.backup(tmp_path / "good.sqlite3")
    with pytest.raises(ValueError, match="already holds 1 runs"):
        target.restore_from(good)
    assert target.totals()["runs"] == 1 and run, "a refused restore changed the database"
