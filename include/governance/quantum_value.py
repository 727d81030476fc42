"""Quantum value added, per workload: record quantum vs the best classical baseline on every run,
and route a workload to classical when quantum has added nothing over its last N runs — while
still probing quantum on one run in K, so a better backend or method gets noticed.

Both the record and the routing decision are keyed on (workload, run id), with a unique index:
a retried ``aggregate`` replaces its run's record instead of counting twice, and a retried
``sample`` gets the decision its run already had (so retries neither skew the window nor move
the probe cadence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from include.governance.ledger import ledger_engine
from include.governance.policy import QuantumValuePolicy

metadata = sa.MetaData()
records = sa.Table(
    "qflow_quantum_value",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workload", sa.String(200), nullable=False, index=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("quantum_objective", sa.Float, nullable=False),
    sa.Column("classical_objective", sa.Float, nullable=False),
    sa.Column("value_added", sa.Float, nullable=False),
    sa.Column("quantum_seconds", sa.Float, nullable=True),
    sa.Column("classical_seconds", sa.Float, nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("uq_quantum_value_run", "workload", "run_id", unique=True),
)
decisions = sa.Table(
    "qflow_routing_decision",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workload", sa.String(200), nullable=False, index=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("route", sa.String(16), nullable=False),  # quantum | classical | probe
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("uq_routing_decision_run", "workload", "run_id", unique=True),
)


def _ensure_unique_per_run(engine: sa.Engine) -> None:
    """Ledgers created before the (workload, run_id) indexes: drop duplicate rows (keeping each
    run's latest) and add the indexes. A no-op once they exist."""
    inspector = sa.inspect(engine)
    for table in (records, decisions):
        [index] = [i for i in table.indexes if i.unique]
        if any(existing["name"] == index.name for existing in inspector.get_indexes(table.name)):
            continue
        with engine.begin() as conn:
            latest = sa.select(sa.func.max(table.c.id)).group_by(table.c.workload, table.c.run_id)
            conn.execute(table.delete().where(table.c.id.not_in(latest.scalar_subquery())))
            index.create(conn, checkfirst=True)


@dataclass(frozen=True)
class RoutingDecision:
    route: str  # "quantum", "classical" or "probe" (quantum, despite a classical default)
    reason: str

    @property
    def use_quantum(self) -> bool:
        return self.route != "classical"


class QuantumValueRecord:
    def __init__(self, url: str | None = None, engine: sa.Engine | None = None) -> None:
        self.engine = engine or ledger_engine(url)
        metadata.create_all(self.engine)
        _ensure_unique_per_run(self.engine)

    def record(
        self,
        workload: str,
        run_id: str,
        quantum_objective: float,
        classical_objective: float,
        quantum_seconds: float | None = None,
        classical_seconds: float | None = None,
    ) -> float:
        """Record one run's measurement; recording the same (workload, run) again replaces it."""
        value = quantum_objective - classical_objective
        values: dict[str, Any] = dict(
            quantum_objective=quantum_objective,
            classical_objective=classical_objective,
            value_added=value,
            quantum_seconds=quantum_seconds,
            classical_seconds=classical_seconds,
            recorded_at=datetime.now(UTC),
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(records.insert().values(workload=workload, run_id=run_id, **values))
        except IntegrityError:  # this run was recorded already (a retried aggregate): replace it
            with self.engine.begin() as conn:
                conn.execute(
                    records.update().where(records.c.workload == workload, records.c.run_id == run_id).values(**values)
                )
        return value

    def decision_for(self, workload: str, run_id: str) -> RoutingDecision | None:
        """The decision already taken for this run, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(decisions.c.route, decisions.c.reason).where(
                    decisions.c.workload == workload, decisions.c.run_id == run_id
                )
            ).first()
        return RoutingDecision(row.route, row.reason) if row else None

    def recent(self, workload: str, n: int) -> list[float]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(records.c.value_added)
                .where(records.c.workload == workload)
                .order_by(records.c.id.desc())
                .limit(n)
            ).all()
        return [float(r[0]) for r in rows]

    def decide(self, workload: str, run_id: str, policy: QuantumValuePolicy) -> RoutingDecision:
        """Route this run; a run asking again (a retried task) gets the decision it already had."""
        if (taken := self.decision_for(workload, run_id)) is not None:
            return taken
        values = self.recent(workload, policy.window)
        if len(values) < policy.window:
            decision = RoutingDecision(
                "quantum", f"only {len(values)} of {policy.window} runs recorded; keep measuring"
            )
        elif max(values) > policy.min_value_added:
            decision = RoutingDecision(
                "quantum", f"quantum added value in the last {policy.window} runs (best {max(values):+g})"
            )
        else:
            with self.engine.connect() as conn:
                classical_so_far = conn.execute(
                    sa.select(sa.func.count()).where(decisions.c.workload == workload, decisions.c.route != "quantum")
                ).scalar_one()
            nothing = f"quantum added nothing (≤ {policy.min_value_added:g}) over the last {policy.window} runs"
            if (int(classical_so_far) + 1) % policy.probe_every == 0:
                decision = RoutingDecision("probe", f"{nothing}; probing quantum on one run in {policy.probe_every}")
            else:
                decision = RoutingDecision("classical", f"{nothing}; routed to classical")
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    decisions.insert().values(
                        workload=workload,
                        run_id=run_id,
                        route=decision.route,
                        reason=decision.reason,
                        decided_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:  # a concurrent attempt of the same run decided first: keep its decision
            taken = self.decision_for(workload, run_id)
            assert taken is not None
            return taken
        return decision
