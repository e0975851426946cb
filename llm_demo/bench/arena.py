"""Class arena under load: `python -m llm_demo.bench arena --users 30 --votes 10 [--tokens 16]`.

Starts app.py in class mode on a temporary database (or uses --url of a running local app in class mode, with
--db its database file) and simulates N students with gradio_client: each runs a blind compare of the TinyGPT trio,
votes (a random best, sometimes a worst), then loads the leaderboard, as the page does, --votes times; one vote in
five is sent again with another choice (a student changing their mind: it must replace, not add, a vote).
Acknowledged votes carry the database's receipt number; afterwards the database is checked against them.
Last line: votes_sent=<n> votes_stored=<n> duplicates=<n> p95_vote_ms=<ms>
  votes_sent: vote requests sent; votes_stored: of those, the acknowledged ones found in the database;
  duplicates: counted votes beyond one per voted run (re-votes must replace); p95_vote_ms: vote round trip.
"""
import argparse
import os
import random
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

from llm_demo.bench.launch import start_app, stop_app
from llm_demo.bench.load import LOOPBACK, p95

PROMPTS = ["What is your name?", "What does Ivy like to eat?", "How much is 9 plus 5?", "Where does Hugo live?",
           "Tell me a story about Tom.", "Hello!"]
RECEIPT = re.compile(r"receipt #(\d+)")


def connect(url: str):
    """A page's session (setup, not measured: a config fetch that times out on a busy machine is retried)."""
    from gradio_client import Client
    for attempt in range(3):
        try:
            # gradio_client's default 20 s HTTP timeout cuts off queue joins on a machine this busy
            return Client(url, verbose=False, httpx_kwargs={"timeout": 300})
        except Exception:  # noqa: BLE001
            if attempt == 2:
                raise
            time.sleep(2)


def student(client, uid: int, votes: int, tokens: int, deadline: float) -> dict:
    """One student's session: run, vote (sometimes twice), leaderboard; returns what happened."""
    rng = random.Random(uid)
    out = {"sent": 0, "receipts": [], "vote_ms": [], "board_ms": [], "run_ms": [], "runs_voted": 0, "errors": []}
    # runs_voted: runs with at least one acknowledged vote (each must end up with exactly one counted vote)
    try:
        for i in range(votes):
            if time.monotonic() > deadline:
                out["errors"].append("time budget ran out")
                break
            t0 = time.perf_counter()
            try:
                shown = client.predict("tinygpt", PROMPTS[(uid + i) % len(PROMPTS)], "", 0.8, 50, 1.0, 1.0, tokens,
                                       uid * 100 + i, api_name="/arena_run")   # reveal, then head and answer per label
            except Exception as exc:  # noqa: BLE001 - counted and reported
                out["errors"].append(f"run: {type(exc).__name__}: {exc}"[:200])
                continue
            out["run_ms"].append((time.perf_counter() - t0) * 1000)
            acknowledged = False
            answered = [x for x, text in zip("ABC", shown[2::2]) if (text or "").strip()]   # as a student sees them
            for _ in range(2 if i % 5 == 4 else 1):
                best = rng.choice(answered * 3 + ["tie", "all bad"])
                others = [x for x in answered if x != best]
                worst = rng.choice(others) if best in answered and others and rng.random() < 0.5 else None
                out["sent"] += 1
                t0 = time.perf_counter()
                try:
                    reveal = client.predict(best, worst, api_name="/arena_vote")   # the page's state stays server-side
                    out["vote_ms"].append((time.perf_counter() - t0) * 1000)
                    found = RECEIPT.search(reveal or "")
                    if found:
                        out["receipts"].append(int(found.group(1)))
                        acknowledged = True
                    else:
                        out["errors"].append(f"vote acknowledged without a receipt: {reveal[:120]!r}")
                except Exception as exc:  # noqa: BLE001
                    out["errors"].append(f"vote: {type(exc).__name__}: {exc}"[:200])
            out["runs_voted"] += acknowledged
            t0 = time.perf_counter()
            try:
                client.predict(api_name="/arena_leaderboard")
                out["board_ms"].append((time.perf_counter() - t0) * 1000)
            except Exception as exc:  # noqa: BLE001
                out["errors"].append(f"leaderboard: {type(exc).__name__}: {exc}"[:200])
    finally:
        client.close()
    return out


def run(url: str, db: Path, users: int, votes: int, tokens: int, budget_s: float) -> str:
    from llm_demo.arena_store import ArenaStore
    with ThreadPoolExecutor(min(users, 8)) as pool:
        clients = list(pool.map(lambda _: connect(url), range(users)))
    deadline = time.monotonic() + budget_s
    t0 = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        results = list(pool.map(lambda u: student(clients[u], u, votes, tokens, deadline), range(users)))
    wall = time.perf_counter() - t0
    merged = {k: [x for r in results for x in r[k]] for k in ("receipts", "vote_ms", "board_ms", "run_ms", "errors")}
    sent, voted_runs = sum(r["sent"] for r in results), sum(r["runs_voted"] for r in results)
    store = ArenaStore(db)
    stored_ids, totals = store.vote_ids(), store.totals()
    stored = sum(1 for v in merged["receipts"] if v in stored_ids)
    duplicates = max(0, totals["votes"] - voted_runs) + totals["runs_with_two_counted_votes"]
    print(f"wall_s={wall:.1f} runs={voted_runs} errors={len(merged['errors'])} "
          f"p95_run_ms={p95(merged['run_ms']):.0f} p95_leaderboard_ms={p95(merged['board_ms']):.0f}")
    print(f"database: {totals} integrity={store.integrity()}")
    for e in merged["errors"][:5]:
        print("error:", e)
    return (f"votes_sent={sent} votes_stored={stored} duplicates={duplicates} "
            f"p95_vote_ms={p95(merged['vote_ms']):.0f}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llm_demo.bench arena", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=30, help="simulated students (1-200)")
    ap.add_argument("--votes", type=int, default=10, help="blind runs (each voted on) per student (1-100)")
    ap.add_argument("--tokens", type=int, default=16, help="max new tokens per answer")
    ap.add_argument("--budget-s", type=float, default=600, help="runs not started by then count as errors")
    ap.add_argument("--url", default="", help="a running local app in class mode (default: start app.py)")
    ap.add_argument("--db", type=Path, default=None, help="with --url: that app's class database file")
    args = ap.parse_args(argv)
    if not 1 <= args.users <= 200 or not 1 <= args.votes <= 100:
        ap.error("--users must be 1-200 and --votes 1-100")
    if args.url and (urlparse(args.url).hostname not in LOOPBACK or args.db is None):
        ap.error("--url must be a loopback address and needs --db (the app's class database)")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min) at start")
    if args.url:
        summary = run(args.url, args.db, args.users, args.votes, args.tokens, args.budget_s)
    else:
        folder = Path(tempfile.mkdtemp(prefix="llm_lab_arena_bench_"))
        db = folder / "class.sqlite3"
        os.environ["LLM_DEMO_CLASS_DB"] = str(db)           # start_app passes this environment on to app.py
        proc, url = start_app(folder / "app.log")
        try:
            summary = run(url, db, args.users, args.votes, args.tokens, args.budget_s)
        finally:
            stop_app(proc)
        print(f"app log and database: {folder}")
    print(f"machine: load average {os.getloadavg()[0]:.2f} (1 min) at the end")
    print(summary)
    return 0
