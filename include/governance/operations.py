"""The operations view's data: what the quantum side is doing and costing, read from the ledgers.

Read-only aggregates over the tables the rest of qflow writes (one ledger database,
``QFLOW_LEDGER_URL``): the job ledger (jobs in flight, the last day's outcomes by error class, cost
per successful job), the spend ledger against the policy's budgets, the fallback log, the
quantum-value record and its routing decisions, and pending work; plus the latest nightly
report's headline from the artifact store. Every figure is one grouped SQL query (or a bounded
read) on indexed columns, so a snapshot stays cheap as the ledgers grow; each answer is JSON-safe
(the Airflow layer, ``operators.ops_view``, serves them as they are).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from include.governance.budget import SpendLedger, spend
from include.governance.fallback import FallbackLog, fallback_events
from include.governance.ledger import SUBMITTING, TERMINAL_STATES, JobLedger, ensure_indexes, jobs, ledger_engine
from include.governance.pending import PendingQueue, pending_work
from include.governance.quantum_value import QuantumValueRecord, decisions, records
from include.quantum.backends.errors import ErrorClass

if TYPE_CHECKING:
    from include.governance.policy import Policy
    from include.store.artifacts import ArtifactStore

WINDOW = timedelta(hours=24)  # "the last day" of the error rate, cost per job and fallback counts
UNCLASSIFIED = "unclassified"  # an error text that carries no taxonomy class (not a QuantumError)
VALUE_POINTS = 50  # quantum-value records per workload in the plot (the latest)
LATEST_ITEMS = 20  # fallback events and pending items listed


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive (they were written in UTC); PostgreSQL aware."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    stamp = _utc(value)
    return stamp.isoformat() if stamp else None


def _epoch_seconds(engine: sa.Engine, column: Any) -> Any:
    """A timestamp column as seconds since the epoch, in the database (for an average)."""
    if engine.dialect.name == "sqlite":
        return (sa.func.julianday(column) - 2440587.5) * 86400.0
    return sa.extract("epoch", column)


def error_class_case() -> Any:
    """The taxonomy class of a ledger row's error, in SQL. Every QuantumError's text begins with
    ``[<class>`` (``include.quantum.backends.errors.QuantumError``), and the ledger stores that text
    (sometimes after "job <id> ended <state>: "), so the class is read from it, one rule per class."""
    return sa.case(
        *[(jobs.c.error.like(f"%[{cls.value}%"), cls.value) for cls in ErrorClass],
        else_=UNCLASSIFIED,
    )


@dataclass
class Operations:
    """Read the ledgers at ``url`` (or ``engine``); opening it creates what an older ledger lacks
    (tables through each ledger's own class, the view's indexes)."""

    url: str | None = None
    engine: sa.Engine | None = None

    def __post_init__(self) -> None:
        self.engine = self.engine or ledger_engine(self.url)
        JobLedger(engine=self.engine)
        self.spend = SpendLedger(engine=self.engine)
        PendingQueue(engine=self.engine)
        QuantumValueRecord(engine=self.engine)
        FallbackLog(engine=self.engine)
        ensure_indexes(self.engine, (jobs,))

    @property
    def _db(self) -> sa.Engine:
        assert self.engine is not None
        return self.engine

    # -- jobs ------------------------------------------------------------------------------------
    def jobs_in_flight(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Per backend: jobs not yet in a terminal state (claimed — SUBMITTING — or held by the
        provider), and how long they have waited since their key was claimed (longest, mean)."""
        now = now or datetime.now(UTC)
        query = (
            sa.select(
                jobs.c.backend,
                sa.func.count(),
                sa.func.sum(sa.case((jobs.c.state == SUBMITTING, 1), else_=0)),
                sa.func.min(jobs.c.created_at),
                sa.func.avg(_epoch_seconds(self._db, jobs.c.created_at)),
            )
            .where(jobs.c.state.not_in(TERMINAL_STATES))
            .group_by(jobs.c.backend)
            .order_by(jobs.c.backend)
        )
        with self._db.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for backend, count, submitting, oldest, mean_epoch in rows:
            oldest_at = _utc(oldest)
            assert oldest_at is not None
            longest = (now - oldest_at).total_seconds()
            # SQLite's julianday() keeps whole milliseconds: the mean may come out up to 1 ms past
            # the longest wait, which it cannot be.
            mean = min(now.timestamp() - float(mean_epoch), longest)
            out.append(
                {
                    "backend": backend,
                    "jobs": int(count),
                    "submitting": int(submitting or 0),
                    "longest_wait_seconds": round(longest, 3),
                    "mean_wait_seconds": round(mean, 3),
                    "oldest_claimed_at": oldest_at.isoformat(),
                }
            )
        return out

    def errors(self, now: datetime | None = None) -> dict[str, Any]:
        """The last day's jobs that reached a terminal state (DONE, ERROR, CANCELLED; by when they
        last changed), and the share that failed, by error class."""
        now = now or datetime.now(UTC)
        outcome = sa.case((jobs.c.state == "DONE", "ok"), else_=error_class_case()).label("outcome")
        query = (
            sa.select(outcome, sa.func.count())
            .where(jobs.c.state.in_(TERMINAL_STATES), jobs.c.updated_at >= now - WINDOW)
            .group_by(outcome)
        )
        with self._db.connect() as conn:
            counts = {str(k): int(n) for k, n in conn.execute(query).all()}
        finished = sum(counts.values())
        failed = finished - counts.get("ok", 0)
        classes = [c.value for c in ErrorClass] + [UNCLASSIFIED]
        return {
            "window_hours": WINDOW.total_seconds() / 3600,
            "finished_jobs": finished,
            "failed_jobs": failed,
            "error_rate": failed / finished if finished else None,
            "by_class": [
                {"error_class": c, "jobs": counts.get(c, 0), "rate": counts.get(c, 0) / finished if finished else None}
                for c in classes
            ],
        }

    def cost_per_success(self, now: datetime | None = None) -> dict[str, Any]:
        """The last day's successful (DONE) jobs per backend, their cost in the job ledger (settled
        at the real usage; free in-process jobs book none, counted as 0) and cost ÷ jobs."""
        now = now or datetime.now(UTC)
        cost = sa.func.sum(sa.func.coalesce(jobs.c.cost, 0.0))
        query = (
            sa.select(jobs.c.backend, sa.func.count(), cost)
            .where(jobs.c.state == "DONE", jobs.c.updated_at >= now - WINDOW)
            .group_by(jobs.c.backend)
            .order_by(jobs.c.backend)
        )
        with self._db.connect() as conn:
            rows = conn.execute(query).all()
        per_backend = [
            {"backend": b, "successful_jobs": int(n), "cost": float(c or 0.0), "cost_per_job": float(c or 0.0) / int(n)}
            for b, n, c in rows
        ]
        total_jobs = sum(r["successful_jobs"] for r in per_backend)
        total_cost = sum(r["cost"] for r in per_backend)
        return {
            "window_hours": WINDOW.total_seconds() / 3600,
            "successful_jobs": total_jobs,
            "cost": total_cost,
            "cost_per_job": total_cost / total_jobs if total_jobs else None,
            "per_backend": per_backend,
        }

    # -- spend -----------------------------------------------------------------------------------
    def budgets(self, policy: Policy, now: datetime | None = None) -> list[dict[str, Any]]:
        """Each environment's spend today and this month (what admission counts:
        ``SpendLedger.usage``) against its budgets, with the policy's alert threshold. Environments
        with spend this month that the policy no longer names are listed without budgets."""
        now = now or datetime.now(UTC)
        with self._db.connect() as conn:
            spending = {
                str(e)
                for (e,) in conn.execute(
                    sa.select(spend.c.environment).where(spend.c.month == now.strftime("%Y-%m")).distinct()
                )
            }
        out = []
        for name in [*policy.environments, *sorted(spending - set(policy.environments))]:
            used = self.spend.usage(name, now)
            env = policy.environments.get(name)
            row: dict[str, Any] = {
                "environment": name,
                "in_policy": env is not None,
                "day": now.strftime("%Y-%m-%d"),
                "month": now.strftime("%Y-%m"),
                "spend_today": used.spend_today,
                "spend_month": used.spend_month,
                "jobs_today": used.jobs_today,
                "shots_today": used.shots_today,
                "alert_fraction": policy.alert_fraction,
                "spend_per_day": env.spend_per_day if env else None,
                "spend_per_month": env.spend_per_month if env else None,
            }
            alerts = []
            for period, spent, budget in (
                ("day", used.spend_today, row["spend_per_day"]),
                ("month", used.spend_month, row["spend_per_month"]),
            ):
                fraction = spent / budget if budget else None
                row[f"{period}_fraction"] = fraction
                # The same rule as the reservation's QFLOW_BUDGET_ALERT (budget.SpendLedger.reserve).
                if fraction is not None and fraction >= policy.alert_fraction:
                    alerts.append(period)
            row["alerts"] = alerts
            out.append(row)
        return out

    # -- degradation -----------------------------------------------------------------------------
    def fallbacks(self, now: datetime | None = None) -> dict[str, Any]:
        """Fallback tiers taken in the last day (counted per tier) and the latest events, each with
        its reason."""
        now = now or datetime.now(UTC)
        query = (
            sa.select(fallback_events.c.tier, fallback_events.c.tier_name, sa.func.count())
            .where(fallback_events.c.recorded_at >= now - WINDOW)
            .group_by(fallback_events.c.tier, fallback_events.c.tier_name)
            .order_by(fallback_events.c.tier)
        )
        with self._db.connect() as conn:
            counts = [{"tier": int(t), "tier_name": n, "events": int(c)} for t, n, c in conn.execute(query).all()]
        latest = FallbackLog(engine=self._db).events(limit=LATEST_ITEMS)
        return {
            "window_hours": WINDOW.total_seconds() / 3600,
            "counts": counts,
            "latest": [
                {
                    "dag_id": e.dag_id,
                    "run_id": e.run_id,
                    "task_id": e.task_id,
                    "backend": e.backend,
                    "tier": e.tier,
                    "tier_name": e.tier_name,
                    "reason": e.reason,
                    "recorded_at": _iso(e.recorded_at),
                }
                for e in latest
            ],
        }

    def quantum_value(self, points: int = VALUE_POINTS) -> list[dict[str, Any]]:
        """Per workload: its latest ``points`` quantum-value records in time order (quantum vs the
        best classical objective, and the difference, value added) and its latest routing decision."""
        with self._db.connect() as conn:
            workloads = [
                w for (w,) in conn.execute(sa.select(records.c.workload).distinct().order_by(records.c.workload))
            ]
            out = []
            for workload in workloads:
                rows = conn.execute(
                    sa.select(
                        records.c.run_id,
                        records.c.recorded_at,
                        records.c.quantum_objective,
                        records.c.classical_objective,
                        records.c.value_added,
                    )
                    .where(records.c.workload == workload)
                    .order_by(records.c.id.desc())
                    .limit(points)
                ).all()
                decision = conn.execute(
                    sa.select(decisions.c.route, decisions.c.reason, decisions.c.run_id, decisions.c.decided_at)
                    .where(decisions.c.workload == workload)
                    .order_by(decisions.c.id.desc())
                    .limit(1)
                ).first()
                total = conn.execute(sa.select(sa.func.count()).where(records.c.workload == workload)).scalar_one()
                out.append(
                    {
                        "workload": workload,
                        "runs_recorded": int(total),
                        "points": [
                            {
                                "run_id": r.run_id,
                                "recorded_at": _iso(r.recorded_at),
                                "quantum_objective": float(r.quantum_objective),
                                "classical_objective": float(r.classical_objective),
                                "value_added": float(r.value_added),
                            }
                            for r in reversed(rows)
                        ],
                        "latest_decision": None
                        if decision is None
                        else {
                            "route": decision.route,
                            "reason": decision.reason,
                            "run_id": decision.run_id,
                            "decided_at": _iso(decision.decided_at),
                        },
                    }
                )
        return out

    def pending(self) -> dict[str, Any]:
        """Pending work (tier 4) by state, and the items still to do (OPEN: due; RERUN: triggered,
        waiting for the run), oldest first."""
        with self._db.connect() as conn:
            counts = {
                str(s): int(n)
                for s, n in conn.execute(
                    sa.select(pending_work.c.state, sa.func.count()).group_by(pending_work.c.state)
                ).all()
            }
            rows = conn.execute(
                sa.select(
                    pending_work.c.id,
                    pending_work.c.dag_id,
                    pending_work.c.run_id,
                    pending_work.c.task_id,
                    pending_work.c.state,
                    pending_work.c.attempts,
                    pending_work.c.reason,
                    pending_work.c.created_at,
                )
                .where(pending_work.c.state.in_(["OPEN", "RERUN"]))
                .order_by(pending_work.c.id)
                .limit(LATEST_ITEMS)
            ).all()
        return {
            "by_state": counts,
            "to_do": counts.get("OPEN", 0) + counts.get("RERUN", 0),
            "items": [
                {
                    "id": int(r.id),
                    "dag_id": r.dag_id,
                    "run_id": r.run_id,
                    "task_id": r.task_id,
                    "state": r.state,
                    "attempts": int(r.attempts),
                    "reason": r.reason,
                    "created_at": _iso(r.created_at),
                }
                for r in rows
            ],
        }

    def snapshot(
        self, policy: Policy, store: ArtifactStore | None = None, now: datetime | None = None
    ) -> dict[str, Any]:
        """Every figure at once (the page asks for each separately)."""
        now = now or datetime.now(UTC)
        return {
            "at": now.isoformat(),
            "jobs_in_flight": self.jobs_in_flight(now),
            "errors": self.errors(now),
            "cost": self.cost_per_success(now),
            "budgets": self.budgets(policy, now),
            "fallbacks": self.fallbacks(now),
            "quantum_value": self.quantum_value(),
            "pending": self.pending(),
            "nightly": nightly(store) if store is not None else None,
        }


def nightly(store: ArtifactStore, nights_prefix: str | None = None) -> Mapping[str, Any] | None:
    """The latest nightly report's headline and where it is (``include.benchmark.collect``)."""
    from include.benchmark.collect import latest_report

    return latest_report(store, nights_prefix=nights_prefix)
