"""Tier 4, "result pending": work recorded for a later run instead of failing the current one.

A scheduled DAG (``pending_rerun``) reads the open records, triggers the workflow again with the
same parameters, and marks them re-run; the original run finished with status "pending".

Each record counts its attempts, with a history (per attempt: when it was triggered, its run id,
its outcome). A re-run that lands in tier 4 again does not queue new work: it reopens its own
record (outcome "pending again: <reason>"), until the policy's cap (``pending.max_attempts`` in
``policy.yaml``): then the record is ``ABANDONED`` and never triggered again. A re-run that
finished without landing in tier 4 again closes its record (``DONE``, outcome = the run's state).

States: OPEN (due) → RERUN (triggered, waiting for the run) → OPEN again | DONE | ABANDONED.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from include.governance.ledger import ledger_engine

OPEN, RERUN, DONE, ABANDONED = "OPEN", "RERUN", "DONE", "ABANDONED"
RUN_PREFIX = "pending_rerun__"

metadata = sa.MetaData()
pending_work = sa.Table(
    "qflow_pending_work",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("task_id", sa.String(250), nullable=False),
    sa.Column("conf", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # OPEN | RERUN | DONE | ABANDONED
    sa.Column("rerun_id", sa.String(250), nullable=True),  # the latest attempt's run id
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("history", sa.Text, nullable=False, server_default="[]"),  # JSON list, one entry per attempt
    sa.UniqueConstraint("dag_id", "run_id", "task_id", name="uq_pending_task"),
)
# Columns added after the table first shipped: (name, DDL type and default), added on open.
_ADDED_COLUMNS = (("attempts", "INTEGER NOT NULL DEFAULT 0"), ("history", "TEXT NOT NULL DEFAULT '[]'"))


@dataclass(frozen=True)
class PendingRecord:
    id: int
    dag_id: str
    run_id: str
    task_id: str
    conf: dict[str, Any]
    reason: str
    state: str = OPEN
    attempts: int = 0
    history: list[dict[str, Any]] = field(default_factory=list, compare=False)
    rerun_id: str | None = None


def rerun_run_id(record: PendingRecord) -> str:
    """The run id of the record's next attempt: unique to the record, the run it came from and the
    attempt, so each attempt is triggered once."""
    origin = hashlib.sha256(f"{record.dag_id}/{record.run_id}/{record.task_id}".encode()).hexdigest()[:12]
    return f"{RUN_PREFIX}{record.id}__a{record.attempts + 1}__{origin}"


def _parse(run_id: str) -> tuple[int, int | None] | None:
    """(record id, attempt) of a re-run's run id; attempt None for the old two-part form."""
    if not run_id.startswith(RUN_PREFIX):
        return None
    parts = run_id.removeprefix(RUN_PREFIX).split("__")
    try:
        record_id = int(parts[0])
    except ValueError:
        return None
    if len(parts) == 3 and parts[1].startswith("a") and parts[1][1:].isdigit():
        return record_id, int(parts[1][1:])
    return record_id, None


def record_id_of(run_id: str) -> int:
    parsed = _parse(run_id)
    if parsed is None:
        raise ValueError(f"{run_id!r} is not a pending_rerun run id ({RUN_PREFIX}<record>__a<attempt>__<origin>)")
    return parsed[0]


def attempt_of(run_id: str) -> int | None:
    parsed = _parse(run_id)
    return parsed[1] if parsed else None


def _now() -> str:
    return datetime.now(UTC).isoformat()


class PendingQueue:
    def __init__(self, url: str | None = None, engine: sa.Engine | None = None) -> None:
        self.engine = engine or ledger_engine(url)
        metadata.create_all(self.engine)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        present = {c["name"] for c in sa.inspect(self.engine).get_columns(pending_work.name)}
        for name, ddl in _ADDED_COLUMNS:
            if name not in present:
                with self.engine.begin() as conn:
                    conn.execute(sa.text(f"ALTER TABLE {pending_work.name} ADD COLUMN {name} {ddl}"))

    @staticmethod
    def _record(row: Any) -> PendingRecord:
        return PendingRecord(
            row.id,
            row.dag_id,
            row.run_id,
            row.task_id,
            json.loads(row.conf),
            row.reason,
            row.state,
            int(row.attempts),
            json.loads(row.history),
            row.rerun_id,
        )

    def get(self, record_id: int) -> PendingRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(pending_work).where(pending_work.c.id == record_id)).first()
        return self._record(row) if row else None

    def add(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        conf: dict[str, Any],
        reason: str,
        *,
        max_attempts: int | None = None,
    ) -> None:
        """Record once per task instance (a retried task does not queue the work twice). A re-run
        of a record landing here again counts as that record's attempt: it is reopened, or
        abandoned once it has had ``max_attempts`` (default: the policy's ``pending.max_attempts``)."""
        parsed = _parse(run_id)
        if parsed is not None:
            record = self.get(parsed[0])
            if record is not None and (record.dag_id, record.task_id) == (dag_id, task_id):
                self._pending_again(record, run_id, reason, max_attempts)
                return
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(pending_work.c.id).where(
                    pending_work.c.dag_id == dag_id, pending_work.c.run_id == run_id, pending_work.c.task_id == task_id
                )
            ).first()
            if exists is None:
                conn.execute(
                    pending_work.insert().values(
                        dag_id=dag_id,
                        run_id=run_id,
                        task_id=task_id,
                        conf=json.dumps(conf, sort_keys=True, default=str),
                        reason=reason,
                        state=OPEN,
                        created_at=datetime.now(UTC),
                        attempts=0,
                        history="[]",
                    )
                )

    def _pending_again(self, record: PendingRecord, run_id: str, reason: str, max_attempts: int | None) -> None:
        cap = max_attempts if max_attempts is not None else _policy_cap()
        history = list(record.history)
        entry = next((h for h in history if h.get("run_id") == run_id), None)
        if entry is None:  # triggered outside pending_rerun's bookkeeping: still an attempt
            entry = {"attempt": len(history) + 1, "run_id": run_id, "triggered_at": None}
            history.append(entry)
        entry.update(outcome=f"pending again: {reason}", finished_at=_now())
        attempts = max(record.attempts, len(history))
        state = ABANDONED if attempts >= cap else OPEN
        with self.engine.begin() as conn:
            conn.execute(
                pending_work.update()
                .where(pending_work.c.id == record.id, pending_work.c.state.in_([OPEN, RERUN]))
                .values(state=state, attempts=attempts, history=json.dumps(history), reason=reason)
            )

    def open(self, dag_id: str | None = None) -> list[PendingRecord]:
        return self._in_state(OPEN, dag_id)

    def triggered(self) -> list[PendingRecord]:
        """Records whose latest attempt was triggered and has not come back as pending."""
        return self._in_state(RERUN)

    def _in_state(self, state: str, dag_id: str | None = None) -> list[PendingRecord]:
        query = sa.select(pending_work).where(pending_work.c.state == state).order_by(pending_work.c.id)
        if dag_id:
            query = query.where(pending_work.c.dag_id == dag_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [self._record(r) for r in rows]

    def due(self, max_attempts: int) -> list[PendingRecord]:
        """The open records to trigger now. Open records that already had ``max_attempts`` (the
        cap was lowered since) are abandoned instead and not returned."""
        if max_attempts < 1:
            raise ValueError(f"max_attempts={max_attempts}: must be at least 1 (policy field pending.max_attempts)")
        due = []
        for record in self.open():
            if record.attempts >= max_attempts:
                with self.engine.begin() as conn:
                    conn.execute(
                        pending_work.update()
                        .where(pending_work.c.id == record.id, pending_work.c.state == OPEN)
                        .values(state=ABANDONED)
                    )
            else:
                due.append(record)
        return due

    def mark_rerun(self, record_id: int, rerun_id: str) -> None:
        """The attempt ``rerun_id`` was triggered: count it and add it to the history (once)."""
        record = self.get(record_id)
        if record is None:
            raise KeyError(f"no pending record {record_id}")
        if any(h.get("run_id") == rerun_id for h in record.history):
            return  # this attempt is counted already
        history = [*record.history, {"attempt": record.attempts + 1, "run_id": rerun_id, "triggered_at": _now()}]
        history[-1]["outcome"] = "triggered"
        with self.engine.begin() as conn:
            conn.execute(
                pending_work.update()
                .where(pending_work.c.id == record_id, pending_work.c.state == OPEN)
                .values(state=RERUN, rerun_id=rerun_id, attempts=record.attempts + 1, history=json.dumps(history))
            )

    def resolve(self, record_id: int, run_state: str) -> None:
        """The latest attempt's run finished (``success``/``failed``) without landing in tier 4
        again: that is its outcome, and the record is done."""
        record = self.get(record_id)
        if record is None or record.state != RERUN:
            return
        history = list(record.history)
        if history:
            history[-1].update(outcome=run_state, finished_at=_now())
        with self.engine.begin() as conn:
            conn.execute(
                pending_work.update()
                .where(pending_work.c.id == record_id, pending_work.c.state == RERUN)
                .values(state=DONE, history=json.dumps(history))
            )


def _policy_cap() -> int:
    from include.governance.policy import load_policy

    return load_policy().pending.max_attempts
