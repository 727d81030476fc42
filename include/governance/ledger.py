"""The job ledger: idempotency key → provider job id, state and cost, durable across restarts.

SQLAlchemy Core over a SQLite file by default (``$QFLOW_STATE_DIR/ledger.sqlite``) or any URL
(PostgreSQL in production, through an Airflow connection). Claiming a key is one INSERT that
only one writer can win (primary key), so two workers — or a retried task and its ghost —
never both submit the same work.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

metadata = sa.MetaData()
jobs = sa.Table(
    "qflow_quantum_jobs",
    metadata,
    sa.Column("idempotency_key", sa.String(128), primary_key=True),
    sa.Column("backend", sa.String(200), nullable=False),
    sa.Column("provider_job_id", sa.String(200), nullable=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("shots", sa.BigInteger, nullable=False, default=0),
    sa.Column("cost", sa.Float, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("result_uri", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # The operations view's reads: jobs in flight (by state) and the last day's outcomes (by when
    # they last changed). Ledgers created before these exist get them from ensure_indexes().
    sa.Index("ix_qflow_quantum_jobs_state", "state"),
    sa.Index("ix_qflow_quantum_jobs_updated_at", "updated_at"),
)

SUBMITTING = "SUBMITTING"  # claimed; the provider call may or may not have happened
# A job's ledger state once nothing more will happen to it (the provider's terminal states).
TERMINAL_STATES = ("DONE", "ERROR", "CANCELLED")


@dataclass(frozen=True)
class LedgerEntry:
    idempotency_key: str
    backend: str
    provider_job_id: str | None
    state: str
    shots: int
    cost: float | None
    error: str | None
    result_uri: str | None


def default_ledger_url() -> str:
    if url := os.environ.get("QFLOW_LEDGER_URL"):
        return url
    state_dir = Path(os.environ.get("QFLOW_STATE_DIR", ".qflow"))
    state_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{state_dir.resolve() / 'ledger.sqlite'}"


@functools.cache
def _engine_for(url: str) -> sa.Engine:
    return sa.create_engine(url, future=True)


def ledger_engine(url: str | None = None) -> sa.Engine:
    """The one engine (and connection pool) per ledger database in this process, shared by the job
    ledger, the spend ledger, pending work and the quantum-value record."""
    return _engine_for(url or default_ledger_url())


class JobLedger:
    def __init__(self, url: str | None = None, engine: sa.Engine | None = None) -> None:
        self.engine = engine or ledger_engine(url)
        metadata.create_all(self.engine)

    def _entry(self, row: Any) -> LedgerEntry:
        return LedgerEntry(
            row.idempotency_key,
            row.backend,
            row.provider_job_id,
            row.state,
            row.shots,
            row.cost,
            row.error,
            row.result_uri,
        )

    def get(self, key: str) -> LedgerEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.idempotency_key == key)).first()
        return self._entry(row) if row else None

    def claim(self, key: str, backend: str, shots: int) -> tuple[LedgerEntry, bool]:
        """Insert a SUBMITTING row for ``key``; returns (entry, True) for the one caller that won."""
        now = datetime.now(UTC)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    jobs.insert().values(
                        idempotency_key=key,
                        backend=backend,
                        state=SUBMITTING,
                        shots=shots,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            existing = self.get(key)
            assert existing is not None
            return existing, False
        entry = self.get(key)
        assert entry is not None
        return entry, True

    def update(self, key: str, **values: Any) -> LedgerEntry:
        allowed = {"provider_job_id", "state", "cost", "error", "result_uri"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot update ledger column(s) {sorted(unknown)}")
        with self.engine.begin() as conn:
            conn.execute(
                jobs.update().where(jobs.c.idempotency_key == key).values(**values, updated_at=datetime.now(UTC))
            )
        entry = self.get(key)
        if entry is None:
            raise KeyError(f"no ledger entry for idempotency key {key!r}")
        return entry

    def record_done_many(self, rows: list[tuple[str, str, str, int]]) -> None:
        """Record finished jobs ((key, backend, provider job id, shots)) in one transaction, skipping
        keys already recorded: a held loop on a free in-process backend books its jobs in batches."""
        if not rows:
            return
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            known = {
                r.idempotency_key
                for r in conn.execute(
                    sa.select(jobs.c.idempotency_key).where(jobs.c.idempotency_key.in_([r[0] for r in rows]))
                )
            }
            fresh = [
                dict(
                    idempotency_key=key,
                    backend=backend,
                    provider_job_id=job_id,
                    state="DONE",
                    shots=shots,
                    created_at=now,
                    updated_at=now,
                )
                for key, backend, job_id, shots in rows
                if key not in known
            ]
            if fresh:
                conn.execute(jobs.insert(), fresh)

    def count(self, backend: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(jobs)
        if backend:
            query = query.where(jobs.c.backend == backend)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


LEDGER_TABLES = (
    "qflow_quantum_jobs",
    "qflow_spend",
    "qflow_budget_lock",
    "qflow_pending_work",
    "qflow_quantum_value",
    "qflow_routing_decision",
    "qflow_fallback_event",
)


def ensure_indexes(engine: sa.Engine, tables: tuple[sa.Table, ...]) -> None:
    """Create the indexes ``tables`` declare that an older ledger lacks (``create_all`` adds only
    missing tables, never an index to a table that exists)."""
    inspector = sa.inspect(engine)
    for table in tables:
        present = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in present:
                index.create(engine, checkfirst=True)


def init_ledger(url: str | None = None) -> list[str]:
    """Make the ledger database ready: on PostgreSQL, create the database if it does not exist
    (through the server's ``postgres`` database, as the URL's user); then every ledger table, with
    the migrations each opener applies. Returns what it did, one line per step; a no-op when ready."""
    from include.governance.budget import SpendLedger
    from include.governance.fallback import FallbackLog
    from include.governance.pending import PendingQueue
    from include.governance.quantum_value import QuantumValueRecord

    target = sa.engine.make_url(url or default_ledger_url())
    done = []
    if target.get_backend_name() == "postgresql" and target.database:
        admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                exists = conn.execute(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
                ).first()
                if exists is None:
                    quoted = conn.dialect.identifier_preparer.quote(target.database)
                    conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
                    done.append(f"created database {target.database!r}")
        finally:
            admin.dispose()
    engine = ledger_engine(target.render_as_string(hide_password=False))
    before = set(sa.inspect(engine).get_table_names())
    JobLedger(engine=engine)
    SpendLedger(engine=engine)
    PendingQueue(engine=engine)
    QuantumValueRecord(engine=engine)
    FallbackLog(engine=engine)
    ensure_indexes(engine, (jobs,))
    created = sorted(set(sa.inspect(engine).get_table_names()) - before)
    if created:
        done.append(f"created tables {', '.join(created)}")
    return done or ["ledger ready: nothing to do"]
