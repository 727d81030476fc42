"""Quantum value added, per workload: record quantum vs the best classical baseline on every run,
and route a workload to classical when quantum has added nothing over its last N runs — while
still probing quantum on one run in K, so a better backend or method gets noticed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

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
)


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

    def record(
        self,
        workload: str,
        run_id: str,
        quantum_objective: float,
        classical_objective: float,
        quantum_seconds: float | None = None,
        classical_seconds: float | None = None,
    ) -> float:
        value = quantum_objective - classical_objective
        with self.engine.begin() as conn:
            conn.execute(
                records.insert().values(
                    workload=workload,
                    run_id=run_id,
                    quantum_objective=quantum_objective,
                    classical_objective=classical_objective,
                    value_added=value,
                    quantum_seconds=quantum_seconds,
                    classical_seconds=classical_seconds,
                    recorded_at=datetime.now(UTC),
                )
            )
        return value

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
        return decision
