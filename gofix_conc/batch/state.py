"""The campaign directory: a SQLite database of units and results, the mirror clones and per-unit logs.

One writer: the client process that runs the campaign (an exclusive lock on
``lock`` says which), in WAL mode so that ``batch status`` and ``batch
report`` read while it writes. Every change is one transaction: a unit is
planned, started, finished or interrupted whole or not at all; a log file is
written beside and renamed into place.

Layout of ``--state DIR``::

    campaign.db        units, results, runs, executions
    clones/<slug>.git  shallow bare mirrors, fetched again at each run
    workspaces/        the workers' clones when they share this disk
    logs/<slug>/<module>-<key>.log
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gofix_conc.batch.model import DONE, FAILED, INTERRUPTED, OK, PENDING, RUNNING, UnitResult, UnitSpec
from gofix_conc.batch.unit import module_name

DB_NAME = "campaign.db"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started REAL NOT NULL,
    finished REAL,
    pid INTEGER,
    argv TEXT,
    runner TEXT,
    status TEXT NOT NULL  -- running, finished, interrupted (or still 'running' after a crash)
);
CREATE TABLE IF NOT EXISTS units (
    key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    slug TEXT NOT NULL,
    commit_sha TEXT,
    module TEXT NOT NULL,
    mode TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    error_kind TEXT,
    error TEXT,
    result TEXT,
    started REAL,
    finished REAL,
    duration REAL,
    planned_run INTEGER NOT NULL,
    log_path TEXT
);
CREATE INDEX IF NOT EXISTS units_by_run ON units (planned_run, status);
CREATE TABLE IF NOT EXISTS executions (
    id INTEGER PRIMARY KEY,
    unit_key TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL
);
"""


class StateError(Exception):
    pass


@dataclass(frozen=True)
class UnitRow:
    key: str
    source: str
    slug: str
    commit: str | None
    module: str
    mode: str
    status: str
    error_kind: str | None
    error: str | None
    result: UnitResult | None
    started: float | None
    finished: float | None
    duration: float | None
    log_path: str | None
    spec: UnitSpec


def _row(r: sqlite3.Row) -> UnitRow:
    return UnitRow(
        r["key"],
        r["source"],
        r["slug"],
        r["commit_sha"],
        r["module"],
        r["mode"],
        r["status"],
        r["error_kind"],
        r["error"],
        UnitResult.from_dict(json.loads(r["result"])) if r["result"] else None,
        r["started"],
        r["finished"],
        r["duration"],
        r["log_path"],
        UnitSpec.from_json(r["spec"]),
    )


class Campaign:
    """The campaign directory, opened for writing (the runner) or read-only (status, report)."""

    def __init__(self, directory: Path, writer: bool = False) -> None:
        self.dir = directory = directory.absolute()
        self.writer = writer
        self._lock_fd: int | None = None
        db = directory / DB_NAME
        if writer:
            directory.mkdir(parents=True, exist_ok=True)
            self._lock()
            self.db = sqlite3.connect(db, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            self.db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema', ?), ('created', ?)", (str(SCHEMA_VERSION), time.time())
            )
        else:
            if not db.is_file():
                raise StateError(f"no campaign in {directory} (no {DB_NAME})")
            self.db = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row

    # -- locking: one runner per campaign -------------------------------------------

    def _lock(self) -> None:
        path = self.dir / "lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StateError(f"the campaign in {self.dir} is being run by pid {holder}") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def close(self) -> None:
        self.db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Campaign:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- paths ---------------------------------------------------------------------

    @property
    def clones(self) -> Path:
        return self.dir / "clones"

    @property
    def workspaces(self) -> Path:
        return self.dir / "workspaces"

    def log_path(self, spec: UnitSpec) -> Path:
        return self.dir / "logs" / spec.slug / f"{module_name(spec.module)}-{spec.key[:12]}.log"

    # -- runs ----------------------------------------------------------------------

    def start_run(self, argv: list[str], runner: str) -> int:
        with self.transaction() as db:
            # A runner that died without cleaning up (kill -9, power loss) left units 'running'.
            db.execute("UPDATE units SET status = ? WHERE status = ?", (INTERRUPTED, RUNNING))
            db.execute("UPDATE executions SET status = ? WHERE status = ?", (INTERRUPTED, RUNNING))
            db.execute("UPDATE runs SET status = 'crashed' WHERE status = 'running'")
            cursor = db.execute(
                "INSERT INTO runs (started, pid, argv, runner, status) VALUES (?, ?, ?, ?, 'running')",
                (time.time(), os.getpid(), json.dumps(argv), runner),
            )
        return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, status: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET finished = ?, status = ? WHERE id = ?", (time.time(), status, run_id))

    # -- units ---------------------------------------------------------------------

    def plan(self, specs: list[UnitSpec], run_id: int, retry_failed: bool) -> list[UnitSpec]:
        """Record the run's units; those still to run (not done for the same key, or failed and retried)."""
        todo: list[UnitSpec] = []
        with self.transaction() as db:
            for spec in specs:
                row = db.execute("SELECT status FROM units WHERE key = ?", (spec.key,)).fetchone()
                if row is None:
                    db.execute(
                        "INSERT INTO units (key, source, slug, commit_sha, module, mode, spec, status, planned_run)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            spec.key,
                            spec.source,
                            spec.slug,
                            spec.commit,
                            spec.module,
                            spec.mode,
                            spec.to_json(),
                            PENDING,
                            run_id,
                        ),
                    )
                    todo.append(spec)
                    continue
                # Options that do not change the result (timeouts, limits, workspace) follow the latest run.
                db.execute(
                    "UPDATE units SET planned_run = ?, spec = ? WHERE key = ?", (run_id, spec.to_json(), spec.key)
                )
                status = row["status"]
                if status == OK or (status == FAILED and not retry_failed):
                    continue
                db.execute("UPDATE units SET status = ? WHERE key = ?", (PENDING, spec.key))
                todo.append(spec)
        return todo

    def started(self, spec: UnitSpec, run_id: int) -> None:
        now = time.time()
        with self.transaction() as db:
            db.execute("UPDATE units SET status = ?, started = ? WHERE key = ?", (RUNNING, now, spec.key))
            db.execute(
                "INSERT INTO executions (unit_key, run_id, started, status) VALUES (?, ?, ?, ?)",
                (spec.key, run_id, now, RUNNING),
            )

    def finished(self, spec: UnitSpec, result: UnitResult, run_id: int) -> None:
        log = self.log_path(spec)
        log.parent.mkdir(parents=True, exist_ok=True)
        partial = log.with_name(log.name + ".tmp")
        partial.write_text(_log_text(spec, result), encoding="utf-8")
        os.replace(partial, log)
        stored = json.dumps({**result.to_dict(), "log": ""})  # the log lives in its file
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "UPDATE units SET status = ?, error_kind = ?, error = ?, result = ?, finished = ?, duration = ?,"
                " log_path = ? WHERE key = ?",
                (result.status, result.error_kind, result.error, stored, now, result.duration, str(log), spec.key),
            )
            db.execute(
                "UPDATE executions SET finished = ?, status = ? WHERE unit_key = ? AND run_id = ? AND status = ?",
                (now, result.status, spec.key, run_id, RUNNING),
            )

    def interrupted(self, run_id: int) -> int:
        """Mark the run's running units interrupted (they run again next time); how many there were."""
        with self.transaction() as db:
            cursor = db.execute("UPDATE units SET status = ? WHERE status = ?", (INTERRUPTED, RUNNING))
            db.execute(
                "UPDATE executions SET status = ?, finished = ? WHERE run_id = ? AND status = ?",
                (INTERRUPTED, time.time(), run_id, RUNNING),
            )
        return cursor.rowcount

    # -- reading -------------------------------------------------------------------

    def latest_plan(self) -> int | None:
        row = self.db.execute("SELECT max(planned_run) AS run FROM units").fetchone()
        return row["run"] if row and row["run"] is not None else None

    def units(self, run_id: int | None = None) -> list[UnitRow]:
        """The units of the latest plan (or of ``run_id``'s), by repository and module."""
        run_id = run_id if run_id is not None else self.latest_plan()
        if run_id is None:
            return []
        rows = self.db.execute(
            "SELECT * FROM units WHERE planned_run = ? ORDER BY source, module, mode", (run_id,)
        ).fetchall()
        return [_row(r) for r in rows]

    def runs(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM runs ORDER BY id").fetchall()]

    def executions(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM executions ORDER BY id").fetchall()]

    def counts(self, run_id: int | None = None) -> dict[str, int]:
        run_id = run_id if run_id is not None else self.latest_plan()
        rows = self.db.execute(
            "SELECT status, count(*) AS n FROM units WHERE planned_run = ? GROUP BY status", (run_id,)
        ).fetchall()
        return {r["status"]: r["n"] for r in rows}


def is_done(status: str) -> bool:
    return status in DONE


def _log_text(spec: UnitSpec, result: UnitResult) -> str:
    head = [
        f"repository: {spec.source}",
        f"commit:     {spec.commit}",
        f"module:     {spec.module}",
        f"mode:       {spec.mode}",
        f"host:       {result.host}",
        f"status:     {result.status}" + (f" ({result.error_kind}: {result.error})" if result.error else ""),
        f"duration:   {result.duration:.2f}s",
        "",
    ]
    return "\n".join(head) + result.log.rstrip("\n") + "\n"
