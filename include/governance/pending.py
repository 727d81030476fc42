"""Tier 4, "result pending": work recorded for a later run instead of failing the current one.

A scheduled DAG (``pending_rerun``) reads the open records, triggers the workflow again with the
same parameters, and marks them re-run; the original run finished with status "pending".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from include.governance.ledger import ledger_engine

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
    sa.Column("state", sa.String(16), nullable=False),  # OPEN | RERUN
    sa.Column("rerun_id", sa.String(250), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("dag_id", "run_id", "task_id", name="uq_pending_task"),
)


@dataclass(frozen=True)
class PendingRecord:
    id: int
    dag_id: str
    run_id: str
    task_id: str
    conf: dict[str, Any]
    reason: str


def rerun_run_id(record: PendingRecord) -> str:
    """A run id unique to the record (and the run it came from), so it is triggered once."""
    origin = hashlib.sha256(f"{record.dag_id}/{record.run_id}/{record.task_id}".encode()).hexdigest()[:12]
    return f"pending_rerun__{record.id}__{origin}"


def record_id_of(run_id: str) -> int:
    return int(run_id.removeprefix("pending_rerun__").split("__", 1)[0])


class PendingQueue:
    def __init__(self, url: str | None = None, engine: sa.Engine | None = None) -> None:
        self.engine = engine or ledger_engine(url)
        metadata.create_all(self.engine)

    def add(self, dag_id: str, run_id: str, task_id: str, conf: dict[str, Any], reason: str) -> None:
        """Record once per task instance (a retried task does not queue the work twice)."""
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
                        state="OPEN",
                        created_at=datetime.now(UTC),
                    )
                )

    def open(self, dag_id: str | None = None) -> list[PendingRecord]:
        query = sa.select(pending_work).where(pending_work.c.state == "OPEN").order_by(pending_work.c.id)
        if dag_id:
            query = query.where(pending_work.c.dag_id == dag_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [PendingRecord(r.id, r.dag_id, r.run_id, r.task_id, json.loads(r.conf), r.reason) for r in rows]

    def mark_rerun(self, record_id: int, rerun_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                pending_work.update().where(pending_work.c.id == record_id).values(state="RERUN", rerun_id=rerun_id)
            )
