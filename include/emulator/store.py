"""The job service's own SQLite file: every job, its payload, state, timestamps and result.

Jobs survive a restart of the service: on start, jobs left RUNNING by a dead process go back to
the queue in their original order (``requeue_interrupted``), and DONE results are served from here.
Timestamps are UNIX seconds (UTC); the API renders them as ISO 8601.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATES = ("QUEUED", "RUNNING", "DONE", "ERROR", "CANCELLED")
TERMINAL = ("DONE", "ERROR", "CANCELLED")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    idempotency_key TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    shots INTEGER NOT NULL,
    payload TEXT NOT NULL,
    fault TEXT NOT NULL DEFAULT '',
    hold_until REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    running_at REAL,
    finished_at REAL,
    usage_seconds REAL,
    error_code TEXT,
    error_message TEXT,
    result TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state_seq ON jobs (state, seq);
"""
_BY_KEY = "SELECT * FROM jobs WHERE idempotency_key = ?"


@dataclass(frozen=True)
class JobRow:
    seq: int
    id: str
    idempotency_key: str
    state: str
    shots: int
    payload: dict[str, Any]
    fault: str
    hold_until: float
    created_at: float
    running_at: float | None
    finished_at: float | None
    usage_seconds: float | None
    error_code: str | None
    error_message: str | None
    result: dict[str, Any] | None


class JobStore:
    """A thin, thread-safe layer over one SQLite file (WAL mode, one connection, one lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @staticmethod
    def _row(row: sqlite3.Row | None) -> JobRow | None:
        if row is None:
            return None
        values = dict(row)
        values["payload"] = json.loads(values["payload"])
        values["result"] = json.loads(values["result"]) if values["result"] else None
        return JobRow(**values)

    def create(
        self,
        idempotency_key: str,
        shots: int,
        payload: dict[str, Any],
        fault: str,
        hold_seconds: float,
    ) -> tuple[JobRow, bool]:
        """Insert a QUEUED job, or return the existing one with this key. (row, created)."""
        now = time.time()
        with self._tx() as db:
            existing = db.execute("SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,)).fetchone()
            if existing is not None:
                row = self._row(existing)
                assert row is not None
                return row, False
            job_id = f"js-{uuid.uuid4().hex[:20]}"
            db.execute(
                "INSERT INTO jobs (id, idempotency_key, state, shots, payload, fault, hold_until, created_at)"
                " VALUES (?, ?, 'QUEUED', ?, ?, ?, ?, ?)",
                (job_id, idempotency_key, shots, json.dumps(payload), fault, now + hold_seconds, now),
            )
            created = self._row(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())
        assert created is not None
        return created, True

    def get(self, job_id: str) -> JobRow | None:
        with self._lock:
            return self._row(self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def find(self, idempotency_key: str) -> JobRow | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,)).fetchone()
            return self._row(row)

    def queue_position(self, job: JobRow) -> int | None:
        """1 = next to run. Only QUEUED jobs have a position."""
        if job.state != "QUEUED":
            return None
        with self._lock:
            (ahead,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state = 'QUEUED' AND seq < ?", (job.seq,)
            ).fetchone()
        return int(ahead) + 1

    def release_held(self) -> int:
        """End every QUEUED job's hold (the queue delay it got when submitted): each runs at its
        turn from now, FIFO as before. Returns how many were held."""
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE jobs SET hold_until = 0 WHERE state = 'QUEUED' AND hold_until > ?", (time.time(),)
            )
            return int(cursor.rowcount)

    def claim_next(self, now: float) -> JobRow | None:
        """The oldest QUEUED job whose hold has passed, switched to RUNNING (FIFO)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM jobs WHERE state = 'QUEUED' AND hold_until <= ? ORDER BY seq LIMIT 1", (now,)
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET state = 'RUNNING', running_at = ? WHERE seq = ?", (now, row["seq"]))
            return self._row(db.execute("SELECT * FROM jobs WHERE seq = ?", (row["seq"],)).fetchone())

    def finish(
        self,
        job_id: str,
        state: str,
        *,
        result: dict[str, Any] | None = None,
        usage_seconds: float | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> bool:
        """Move a RUNNING job to a terminal state; False if it is no longer RUNNING (e.g. cancelled)."""
        assert state in TERMINAL
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, result = ?, usage_seconds = ?, error_code = ?,"
                " error_message = ? WHERE id = ? AND state = 'RUNNING'",
                (
                    state,
                    time.time(),
                    json.dumps(result) if result is not None else None,
                    usage_seconds,
                    error_code,
                    error_message,
                    job_id,
                ),
            )
            return cursor.rowcount == 1

    def cancel(self, job_id: str) -> JobRow | None:
        """Cancel a QUEUED or RUNNING job (a finished one is left as it is)."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = 'CANCELLED', finished_at = ? WHERE id = ? AND state IN ('QUEUED', 'RUNNING')",
                (time.time(), job_id),
            )
            return self._row(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def requeue_interrupted(self) -> int:
        """After a restart: jobs that were RUNNING in a dead process run again (never-finishing
        jobs stay RUNNING, as they would have)."""
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE jobs SET state = 'QUEUED', running_at = NULL"
                " WHERE state = 'RUNNING' AND fault != 'never_finish'"
            )
            return cursor.rowcount

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        out = dict.fromkeys(STATES, 0)
        out.update({state: int(count) for state, count in rows})
        return out

    def recent(self, limit: int = 100) -> list[JobRow]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [job for job in (self._row(row) for row in rows) if job is not None]
