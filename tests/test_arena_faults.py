"""The class database survives the app being killed (SIGKILL) while votes are being written: after a restart it is
intact and holds every vote the app acknowledged; a bad database path stops the app with one sentence."""
import os
import signal
import threading
import time

import pytest
from gradio_client import Client

from llm_demo import models
from llm_demo.arena_store import ArenaStore
from llm_demo.bench.arena import RECEIPT
from llm_demo.bench.launch import start_app, stop_app

pytestmark = pytest.mark.skipif(not models.availability("tinygpt-sft")[0], reason="the TinyGPT trio is not built")


def voter(url, receipts, stop, errors):
    """One page: a blind run, then votes on it (each replaces the last) until told to stop."""
    client = Client(url, verbose=False)
    client.predict("tinygpt", "What is your name?", "", 0.8, 50, 1.0, 1.0, 4, 0, api_name="/arena_run")
    while not stop.is_set():
        try:
            reveal = client.predict("A", "B", api_name="/arena_vote")
        except Exception as exc:  # noqa: BLE001 - the kill cuts calls off: those were never acknowledged
            if not stop.is_set():
                errors.append(exc)
            return
        receipts.append(int(RECEIPT.search(reveal).group(1)))


def test_sigkill_while_voting_loses_no_acknowledged_vote_and_leaves_the_database_intact(tmp_path, monkeypatch):
    db = tmp_path / "class.sqlite3"
    monkeypatch.setenv("LLM_DEMO_CLASS_DB", str(db))
    proc, url = start_app(tmp_path / "app.log")
    receipts, stop, errors = [], threading.Event(), []
    try:
        threads = [threading.Thread(target=voter, args=(url, receipts, stop, errors), daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(receipts) < 20:
            assert time.monotonic() < deadline and not errors, f"votes did not flow: {errors}"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)                      # mid-stream: the voters are still sending
        stop.set()
        proc.wait(10)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
    acknowledged = set(receipts)
    proc, url = start_app(tmp_path / "app2.log")               # the same database, as a restarted server would
    try:
        store = ArenaStore(db)
        assert store.integrity() == "ok", store.integrity()
        missing = acknowledged - store.vote_ids()
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged votes are gone: {sorted(missing)[:10]}"
        totals = store.totals()
        assert totals["votes"] == 4 and totals["runs_with_two_counted_votes"] == 0, totals
        client = Client(url, verbose=False)                    # and the restarted app takes new votes
        client.predict("tinygpt", "Hello!", "", 0.8, 50, 1.0, 1.0, 4, 0, api_name="/arena_run")
        assert "receipt #" in client.predict("C", None, api_name="/arena_vote")
        assert ArenaStore(db).totals()["votes"] == 5
    finally:
        stop_app(proc)


def test_an_unusable_database_path_stops_the_app_with_one_sentence(tmp_path, monkeypatch):
    import gradio as gr

    from llm_demo import arena_runs, config
    from llm_demo.ui import arena_panel
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setattr(config, "CLASS_DB", str(blocker / "class.sqlite3"))      # a folder that is a file
    monkeypatch.setattr(arena_runs, "_store", {})
    with pytest.raises(SystemExit) as stopped, gr.Blocks():
        arena_panel.build_arena_panel(gr.Textbox(), gr.Textbox(), [])
    assert "cannot be created" in str(stopped.value) and blocker.read_text() == "x", stopped.value
