"""The class arena's database: blind runs and the votes cast on them, in one SQLite file (WAL mode, standard library).

Every write is one transaction; the schema carries a version (PRAGMA user_version) and older files are migrated in
place. What is stored is listed in docs/arena.md. Try it: `ArenaStore("/tmp/class.sqlite3").totals()`.
"""
import json
import secrets
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LABELS = ("A", "B", "C")
CHOICES = LABELS + ("tie", "all bad")   # what a vote may say is best
APP_ID = 0x4C4C4D41   # "LLMA" in PRAGMA application_id: marks the file as ours, so a foreign database is refused

# MIGRATIONS[i] brings a database from version i to i + 1. Never edit a released step: append a new one.
MIGRATIONS = [
    # 1: runs (one blind compare, recorded by the server) and votes (the best answer of a run).
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,            -- random, made by the server
        page TEXT NOT NULL,             -- a hash of the page's random session id: no name, no address
        created REAL NOT NULL,
        lineup TEXT NOT NULL,           -- the model family (or lineup) that answered
        prompt TEXT NOT NULL,
        system TEXT NOT NULL,
        settings TEXT NOT NULL,         -- JSON: the sampling settings, seed included
        blind_order TEXT NOT NULL,      -- JSON: the column slots shown as A, B, C
        columns TEXT NOT NULL,          -- JSON: per slot, the model, its answer and why it stopped
        status TEXT NOT NULL CHECK (status IN ('running', 'done'))
    );
    CREATE TABLE votes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        created REAL NOT NULL,
        best TEXT NOT NULL,             -- 'A' | 'B' | 'C' | 'tie' | 'all bad'
        current INTEGER NOT NULL DEFAULT 1
    );
    CREATE UNIQUE INDEX one_current_vote_per_run ON votes(run_id) WHERE current = 1;
    """,
    # 2: a full ranking: the worst answer too (NULL when the voter named only the best).
    "ALTER TABLE votes ADD COLUMN worst TEXT;",
]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass
class VoteRow:
    """One counted vote with the run it is bound to (everything the leaderboard and the export need)."""
    vote_id: int
    run_id: str
    prompt: str
    order: list          # slots shown as A, B, C
    columns: dict        # slot -> {"model", "text", "error"}
    best: str            # a label, "tie" or "all bad"
    worst: str | None    # a label or None


class ArenaStore:
    """Opened once per process; every call opens its own short connection, so threads never share one."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"The class database folder {self.path.parent} cannot be created ({exc.strerror}): "
                             "choose a writable path.") from None
        with self._connect() as con:
            self._migrate(con)

    # ------------------------------------------------------------ connections and schema

    @contextmanager
    def _connect(self):
        try:
            con = sqlite3.connect(self.path, timeout=10, isolation_level=None)   # transactions are explicit
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")      # a vote is on disk before it is acknowledged
            con.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"The class database {self.path} cannot be opened ({exc}): check that the path is a "
                             "writable file and not another program's database.") from None
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def _write(self, con):
        """One transaction that takes the write lock at once (no upgrade deadlocks between two voters)."""
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise ValueError(f"The class database cannot be written just now ({exc}): nothing was stored; "
                             "try again.") from None
        try:
            yield con
            con.execute("COMMIT")
        except BaseException as exc:
            if con.in_transaction:
                con.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise ValueError(f"The class database cannot be written ({exc}): nothing was stored; "
                                 "check that its folder is writable.") from None
            raise

    def _migrate(self, con) -> None:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        tables = con.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        if (version or tables) and app_id != APP_ID:
            raise ValueError(f"{self.path} is a database, but not an LLM Lab class database: choose another path "
                             "(nothing in it was changed).")
        if version > SCHEMA_VERSION:
            raise ValueError(f"{self.path} was written by a newer version of LLM Lab (schema {version}, this one "
                             f"knows {SCHEMA_VERSION}): update the app; nothing in it was changed.")
        try:
            for step in range(version, SCHEMA_VERSION):
                with self._write(con):       # DDL is transactional in SQLite: a failed step leaves the old schema
                    for statement in MIGRATIONS[step].split(";"):
                        if statement.strip():
                            con.execute(statement)
                    con.execute(f"PRAGMA application_id = {APP_ID}")
                    con.execute(f"PRAGMA user_version = {step + 1}")
            with self._write(con):           # a probe: a read-only file is refused now, not at the first vote
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except ValueError as exc:
            raise ValueError(f"{self.path}: {exc}") from None

    def schema_version(self) -> int:
        with self._connect() as con:
            return con.execute("PRAGMA user_version").fetchone()[0]

    def integrity(self) -> str:
        """'ok' when SQLite finds the file intact."""
        with self._connect() as con:
            return con.execute("PRAGMA integrity_check").fetchone()[0]

    # ------------------------------------------------------------ runs

    def start_run(self, page: str, lineup: str, prompt: str, system: str, settings: dict, order: list,
                  columns: dict) -> str:
        """Record a run as it starts (status 'running'); returns its id, which the page keeps to vote with."""
        run_id = secrets.token_urlsafe(12)
        with self._connect() as con, self._write(con):
            con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')",
                        (run_id, page, time.time(), lineup, prompt, system, json.dumps(settings),
                         json.dumps(order), json.dumps(columns, ensure_ascii=False)))
        return run_id

    def finish_run(self, run_id: str, columns: dict) -> None:
        """Store the finished answers; only now can the run be voted on."""
        with self._connect() as con, self._write(con):
            cur = con.execute("UPDATE runs SET columns = ?, status = 'done' WHERE id = ? AND status = 'running'",
                              (json.dumps(columns, ensure_ascii=False), run_id))
            if cur.rowcount != 1:
                raise ValueError("This run is not recorded as running, so its answers were not stored.")

    # ------------------------------------------------------------ votes

    def record_vote(self, run_id: str, page: str, best: str, worst: str | None = None) -> tuple[int, bool]:
        """Store a vote bound to a recorded run; returns (vote id, whether it replaced this page's earlier vote).

        Refused with one sentence (ValueError), storing nothing: an unknown run, another page's run, a run still
        generating, a label that names no answer."""
        with self._connect() as con, self._write(con):
            row = con.execute("SELECT page, status, blind_order, columns FROM runs WHERE id = ?",
                              (str(run_id),)).fetchone()
            if row is None:
                raise ValueError("This vote names a run the server never recorded (or one the teacher has reset): "
                                 "run the prompt again, then vote.")
            if not secrets.compare_digest(row[0], str(page)):
                raise ValueError("This run was shown on another page: you can only vote on answers you were shown.")
            if row[1] != "done":
                raise ValueError("Wait until all the answers have finished: votes on unfinished answers are refused.")
            best, worst = check_choice(json.loads(row[2]), json.loads(row[3]), best, worst)
            replaced = con.execute("UPDATE votes SET current = 0 WHERE run_id = ? AND current = 1",
                                   (run_id,)).rowcount
            vote_id = con.execute("INSERT INTO votes (run_id, created, best, worst) VALUES (?, ?, ?, ?)",
                                  (run_id, time.time(), best, worst)).lastrowid
        return vote_id, bool(replaced)

    def votes(self) -> list[VoteRow]:
        """Every counted vote (the latest per run) with its run, oldest first."""
        with self._connect() as con:
            rows = con.execute("SELECT v.id, r.id, r.prompt, r.blind_order, r.columns, v.best, v.worst FROM votes v "
                               "JOIN runs r ON r.id = v.run_id WHERE v.current = 1 ORDER BY v.id").fetchall()
        return [VoteRow(i, run, prompt, json.loads(order), json.loads(cols), best, worst)
                for i, run, prompt, order, cols, best, worst in rows]

    def vote_ids(self) -> set[int]:
        """Ids of every stored vote, replaced ones included (the benchmark checks acknowledged votes against it)."""
        with self._connect() as con:
            return {r[0] for r in con.execute("SELECT id FROM votes")}

    def totals(self) -> dict:
        with self._connect() as con:
            one = lambda sql: con.execute(sql).fetchone()[0]   # noqa: E731
            return {"runs": one("SELECT count(*) FROM runs"),
                    "finished_runs": one("SELECT count(*) FROM runs WHERE status = 'done'"),
                    "votes": one("SELECT count(*) FROM votes WHERE current = 1"),
                    "replaced_votes": one("SELECT count(*) FROM votes WHERE current = 0"),
                    "pages": one("SELECT count(DISTINCT page) FROM runs"),
                    "runs_with_two_counted_votes": one(
                        "SELECT count(*) FROM (SELECT run_id FROM votes WHERE current = 1 "
                        "GROUP BY run_id HAVING count(*) > 1)")}

    # ------------------------------------------------------------ backup and restore (a Space's disk is not kept)

    def backup(self, dest: str | Path) -> Path:
        """A consistent copy of the whole class database in dest (SQLite's online backup: a vote being written lands
        in the copy whole or not at all). Hugging Face Spaces lose their disk on a restart: the teacher downloads
        this file from the teacher view and restores it into the next server (restore_into)."""
        dest = Path(dest)
        with self._connect() as con:
            out = sqlite3.connect(dest)
            try:
                con.backup(out)
            finally:
                out.close()
        return dest

    def restore_from(self, backup: str | Path) -> dict:
        """Replace this (empty) database's runs and votes by a backup's, checked as a migration is: an LLM Lab class
        database (application id), a schema this version knows (older ones are migrated on a copy), PRAGMA
        integrity_check 'ok'. Refused with one sentence, changing nothing, otherwise, or when this database already
        holds votes (download and reset it first). Returns the restored totals."""
        import shutil
        import tempfile
        held = self.totals()
        if held["runs"] or held["votes"]:
            raise ValueError(f"This server's class database already holds {held['runs']} runs and {held['votes']} "
                             "votes: restore only into an empty one (download it, then reset it, first).")
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "restore.sqlite3"
            try:
                shutil.copyfile(backup, copy)
            except OSError as exc:
                raise ValueError(f"The backup cannot be read ({exc.strerror}): nothing was restored.") from None
            try:
                checked = ArenaStore(copy)           # application id, schema version, migration to this version
                ok = checked.integrity()
            except (ValueError, sqlite3.DatabaseError) as exc:
                raise ValueError(f"That file is not a class database backup this lab can read ({exc}): nothing "
                                 "was restored.") from None
            if ok != "ok":
                raise ValueError(f"The backup is damaged (SQLite integrity check: {ok[:120]}): nothing was restored.")
            with sqlite3.connect(copy) as src, self._connect() as con:
                src.backup(con)                      # page by page into the live file, in one step for readers
        return self.totals()

    def reset(self) -> dict:
        """Delete every run and vote (the teacher confirmed); returns what was deleted."""
        before = self.totals()
        with self._connect() as con:
            with self._write(con):
                con.execute("DELETE FROM votes")
                con.execute("DELETE FROM runs")
            con.execute("VACUUM")   # the deleted text leaves the file too
        return before


def check_choice(order: list, columns: dict, best, worst) -> tuple[str, str | None]:
    """A vote's labels, checked against the run: the labels must name answers that exist."""
    answered = [LABELS[i] for i, slot in enumerate(order)
                if not columns.get(slot, {}).get("error") and columns.get(slot, {}).get("text", "").strip()]
    if best not in CHOICES:
        raise ValueError(f"Choose the best answer ({', '.join(answered)}), 'tie' or 'all bad'.")
    if best in LABELS and best not in answered:
        raise ValueError(f"Answer {best} is empty or missing, so it cannot be the best one.")
    worst = worst or None
    if worst is not None:
        if best not in LABELS:
            raise ValueError("A worst answer goes with a best answer: with 'tie' or 'all bad', leave it empty.")
        if worst not in answered:
            raise ValueError(f"Answer {worst!s:.10} is not one of this run's answers ({', '.join(answered)}).")
        if worst == best:
            raise ValueError("The best and the worst answer must be different.")
    if len(answered) < 2:
        raise ValueError("This run has fewer than two answers, so there is nothing to compare.")
    return best, worst


def main(argv=None) -> int:
    """`python -m llm_demo.arena_store backup DB OUT` | `restore BACKUP DB`: the teacher view's download and restore
    from a shell (docs/arena.md: a Space keeps no disk across restarts)."""
    import argparse
    ap = argparse.ArgumentParser(prog="python -m llm_demo.arena_store", description=main.__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("backup", help="copy a class database (consistently, while the lab runs)")
    b.add_argument("db", type=Path, help="the class database (LLM_DEMO_CLASS_DB)")
    b.add_argument("out", type=Path, help="where the copy goes (must not exist)")
    r = sub.add_parser("restore", help="bring a backup into a new (empty) class database")
    r.add_argument("backup", type=Path, help="a file written by backup or downloaded from the teacher view")
    r.add_argument("db", type=Path, help="the class database to fill (created if missing; must hold no votes)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "backup":
            if not args.db.exists():
                raise ValueError(f"{args.db} does not exist: nothing to back up.")
            if args.out.exists():
                raise ValueError(f"{args.out} exists: choose a new file (nothing was overwritten).")
            store = ArenaStore(args.db)
            store.backup(args.out)
            print(f"backed up {store.totals()['votes']} votes to {args.out}")
        else:
            print(f"restored {ArenaStore(args.db).restore_from(args.backup)['votes']} votes into {args.db}")
    except ValueError as exc:
        print(exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
