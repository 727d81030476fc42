"""Spend control: reserve before submit, settle with the real usage after, atomically.

Every reservation runs in one transaction that first takes the environment's budget lock (an
UPDATE of its row: a row lock on PostgreSQL, the database write lock on SQLite), then sums what
is already reserved or spent today / this month and inserts the new reservation only if every
budget still holds. Two workers racing for the last of a budget are serialised by that lock, so
at most one wins. Reservations are keyed by the job's idempotency key: a retried task reuses
its reservation instead of reserving twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from include.governance.ledger import ledger_engine
from include.governance.policy import CostModel, Environment, Policy, PolicyError
from include.quantum.backends.errors import QuotaQuantumError

metadata = sa.MetaData()
budget_locks = sa.Table(
    "qflow_budget_lock",
    metadata,
    sa.Column("environment", sa.String(64), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False, default=0),
)
spend = sa.Table(
    "qflow_spend",
    metadata,
    sa.Column("reservation_key", sa.String(128), primary_key=True),
    sa.Column("environment", sa.String(64), nullable=False, index=True),
    sa.Column("backend", sa.String(200), nullable=False),
    sa.Column("shots", sa.BigInteger, nullable=False),
    sa.Column("estimated_cost", sa.Float, nullable=False),
    sa.Column("settled_cost", sa.Float, nullable=True),
    sa.Column("state", sa.String(16), nullable=False),  # RESERVED | SETTLED | RELEASED
    sa.Column("day", sa.String(10), nullable=False, index=True),
    sa.Column("month", sa.String(7), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


class BudgetExceeded(QuotaQuantumError):
    """A submission would pass a budget or quota; the message gives budget, spent and cost."""


@dataclass(frozen=True)
class Reservation:
    key: str
    environment: str
    backend: str
    shots: int
    estimated_cost: float
    alerts: list[str] = field(default_factory=list)
    reused: bool = False


@dataclass(frozen=True)
class SpendRow:
    """One reservation as the ledger holds it."""

    key: str
    environment: str
    backend: str
    shots: int
    estimated_cost: float
    settled_cost: float | None
    state: str  # RESERVED | SETTLED | RELEASED

    @property
    def held(self) -> float:
        """What it counts against the budgets: nothing once released, else the settled cost or
        (until settled) the estimate."""
        if self.state == "RELEASED":
            return 0.0
        return self.settled_cost if self.settled_cost is not None else self.estimated_cost


@dataclass(frozen=True)
class Usage:
    shots_today: int
    jobs_today: int
    spend_today: float
    spend_month: float


def spend_row(
    environment: str, backend: str, shots: int, cost: float, settled_cost: float | None, now: datetime
) -> dict[str, Any]:
    """A spend-ledger row's values (without its key): RESERVED at its estimate, or SETTLED at
    ``settled_cost``; booked on ``now``'s day and month."""
    return dict(
        environment=environment,
        backend=backend,
        shots=shots,
        estimated_cost=cost,
        settled_cost=settled_cost,
        state="RESERVED" if settled_cost is None else "SETTLED",
        day=now.strftime("%Y-%m-%d"),
        month=now.strftime("%Y-%m"),
        created_at=now,
    )


class SpendLedger:
    def __init__(self, url: str | None = None, engine: sa.Engine | None = None) -> None:
        self.engine = engine or ledger_engine(url)
        metadata.create_all(self.engine)

    def _ensure_lock_row(self, environment: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(budget_locks.insert().values(environment=environment, version=0))
        except IntegrityError:
            pass

    @staticmethod
    def _usage(conn: sa.Connection, environment: str, day: str, month: str) -> Usage:
        live = spend.c.state != "RELEASED"
        cost = sa.func.coalesce(spend.c.settled_cost, spend.c.estimated_cost)
        today = conn.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(spend.c.shots), 0),
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(cost), 0.0),
            ).where(spend.c.environment == environment, spend.c.day == day, live)
        ).one()
        month_cost = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(cost), 0.0)).where(
                spend.c.environment == environment, spend.c.month == month, live
            )
        ).scalar_one()
        return Usage(int(today[0]), int(today[1]), float(today[2]), float(month_cost))

    def reservation(self, key: str) -> SpendRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(spend).where(spend.c.reservation_key == key)).first()
        if row is None:
            return None
        return SpendRow(
            row.reservation_key,
            row.environment,
            row.backend,
            int(row.shots),
            float(row.estimated_cost),
            None if row.settled_cost is None else float(row.settled_cost),
            row.state,
        )

    def usage(self, environment: str, now: datetime | None = None) -> Usage:
        now = now or datetime.now(UTC)
        with self.engine.connect() as conn:
            return self._usage(conn, environment, now.strftime("%Y-%m-%d"), now.strftime("%Y-%m"))

    def reserve(
        self,
        key: str,
        *,
        environment_name: str,
        environment: Environment,
        backend: str,
        shots: int,
        cost_model: CostModel,
        alert_fraction: float = 0.8,
        now: datetime | None = None,
        jobs: int = 1,
        job_shots: int | None = None,
    ) -> Reservation:
        """Reserve ``shots`` (estimated by ``cost_model``) for ``jobs`` jobs of ``job_shots`` each
        (a loop reserves all its evaluations at once: the per-job limit applies to each job, the
        day's and month's budgets to the whole)."""
        if not environment.allows(backend):
            raise PolicyError(
                f"backend {backend!r} is not allowed in environment {environment_name!r} "
                f"(allowed: {environment.allowed_backends}); choose another backend or environment"
            )
        per_job = shots if job_shots is None else job_shots
        if per_job > environment.shots_per_job:
            raise BudgetExceeded(
                f"{per_job} shots exceed the per-job budget of {environment.shots_per_job} in {environment_name!r}",
                hint="lower shots or split the job",
            )
        now = now or datetime.now(UTC)
        day, month = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m")
        cost = cost_model.estimate(per_job) * jobs if job_shots is not None else cost_model.estimate(shots)
        self._ensure_lock_row(environment_name)
        with self.engine.begin() as conn:
            # Take the environment's budget lock before reading what is spent.
            conn.execute(
                budget_locks.update()
                .where(budget_locks.c.environment == environment_name)
                .values(version=budget_locks.c.version + 1)
            )
            existing = conn.execute(sa.select(spend).where(spend.c.reservation_key == key)).first()
            if existing is not None and existing.state != "RELEASED":
                return Reservation(
                    key, environment_name, backend, int(existing.shots), float(existing.estimated_cost), reused=True
                )
            used = self._usage(conn, environment_name, day, month)
            checks = [
                ("shots today", "shots_per_day", used.shots_today, shots, environment.shots_per_day),
                ("jobs today", "jobs_per_day", used.jobs_today, jobs, environment.jobs_per_day),
                ("spend today", "spend_per_day", used.spend_today, cost, environment.spend_per_day),
                ("spend this month", "spend_per_month", used.spend_month, cost, environment.spend_per_month),
            ]
            for label, field_name, spent, needed, budget in checks:
                if spent + needed > budget + 1e-12:
                    raise BudgetExceeded(
                        f"{environment_name}: {label} budget {budget:g}, already used {spent:g}, "
                        f"this job needs {needed:g}",
                        hint=f"wait for the next period, raise environments.{environment_name}.{field_name} in the "
                        "policy file, or use a cheaper backend",
                    )
            values = spend_row(environment_name, backend, shots, cost, None, now)
            if existing is not None:
                conn.execute(spend.update().where(spend.c.reservation_key == key).values(**values))
            else:
                conn.execute(spend.insert().values(reservation_key=key, **values))
        alerts = [
            f"QFLOW_BUDGET_ALERT environment={environment_name} {label}={spent + needed:g} of {budget:g} "
            f"({(spent + needed) / budget:.0%})"
            for label, _field, spent, needed, budget in checks
            if budget > 0 and (spent + needed) / budget >= alert_fraction
        ]
        return Reservation(key, environment_name, backend, shots, cost, alerts)

    def settle(self, key: str, cost: float) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(
                spend.update().where(spend.c.reservation_key == key).values(settled_cost=cost, state="SETTLED")
            ).rowcount
        if not updated:
            raise KeyError(f"no reservation {key!r} to settle")

    def carve(self, parent: str, key: str, shots: int, cost: float, now: datetime | None = None) -> bool:
        """Move one job's share (``shots``, estimated ``cost``) out of a loop's up-front reservation
        ``parent`` into its own reservation ``key``, in one transaction; True if newly carved, False
        if ``key`` was carved before (a replayed or retried evaluation). Raises BudgetExceeded when
        what is left of the loop's reservation cannot pay for the job: the loop stops before it
        submits, and never spends more than it reserved."""
        now = now or datetime.now(UTC)
        with self.engine.begin() as conn:
            existing = conn.execute(sa.select(spend.c.state).where(spend.c.reservation_key == key)).first()
            if existing is not None and existing.state != "RELEASED":
                return False
            loop = conn.execute(sa.select(spend).where(spend.c.reservation_key == parent)).first()
            if loop is None or loop.state != "RESERVED":
                raise BudgetExceeded(
                    f"the loop's reservation {parent[:16]}… is {'missing' if loop is None else loop.state}",
                    hint="the loop must be admitted (its whole budget reserved) before its first job",
                )
            if loop.estimated_cost + 1e-12 < cost or int(loop.shots) < shots:
                raise BudgetExceeded(
                    f"the loop's reserved budget is spent: {float(loop.estimated_cost):g} and {int(loop.shots)} shots "
                    f"left, the next job needs {cost:g} and {shots} shots",
                    hint="raise max_iterations' budget in the policy, lower shots, or resume on a cheaper backend",
                )
            conn.execute(
                spend.update()
                .where(spend.c.reservation_key == parent)
                .values(estimated_cost=spend.c.estimated_cost - cost, shots=spend.c.shots - shots)
            )
            values = spend_row(loop.environment, loop.backend, shots, cost, None, now)
            if existing is not None:
                conn.execute(spend.update().where(spend.c.reservation_key == key).values(**values))
            else:
                conn.execute(spend.insert().values(reservation_key=key, **values))
        return True

    def settle_carved(self, parent: str, key: str, cost: float) -> None:
        """Settle a carved job at its real cost; what it cost beyond its estimate comes out of what
        is left of the loop's reservation (so the loop's total stays within what it reserved)."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(spend).where(spend.c.reservation_key == key)).first()
            if row is None:
                raise KeyError(f"no reservation {key!r} to settle")
            if row.state == "SETTLED":  # a replayed evaluation collects its job again: settle once
                return
            excess = cost - float(row.estimated_cost)
            conn.execute(
                spend.update().where(spend.c.reservation_key == key).values(settled_cost=cost, state="SETTLED")
            )
            if excess > 0:
                conn.execute(
                    spend.update()
                    .where(spend.c.reservation_key == parent, spend.c.state == "RESERVED")
                    .values(estimated_cost=sa.func.max(spend.c.estimated_cost - excess, 0.0))
                    if self.engine.dialect.name == "sqlite"
                    else spend.update()
                    .where(spend.c.reservation_key == parent, spend.c.state == "RESERVED")
                    .values(estimated_cost=sa.func.greatest(spend.c.estimated_cost - excess, 0.0))
                )

    def return_carved(self, parent: str, key: str) -> None:
        """A carved job was never submitted: its share goes back to the loop's reservation."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(spend).where(spend.c.reservation_key == key)).first()
            if row is None or row.state != "RESERVED":
                return
            conn.execute(spend.update().where(spend.c.reservation_key == key).values(state="RELEASED"))
            conn.execute(
                spend.update()
                .where(spend.c.reservation_key == parent, spend.c.state == "RESERVED")
                .values(estimated_cost=spend.c.estimated_cost + row.estimated_cost, shots=spend.c.shots + row.shots)
            )

    def settle_carved_many(self, parent: str, jobs: list[tuple[str, int, float]], now: datetime | None = None) -> None:
        """Carve and settle many finished jobs ((key, shots, cost)) in one transaction — the held
        loop on a free, in-process backend books its evaluations in batches, not one by one."""
        if not jobs:
            return
        now = now or datetime.now(UTC)
        with self.engine.begin() as conn:
            loop = conn.execute(sa.select(spend).where(spend.c.reservation_key == parent)).first()
            if loop is None:
                raise KeyError(f"no loop reservation {parent!r}")
            known = {
                r.reservation_key
                for r in conn.execute(
                    sa.select(spend.c.reservation_key).where(spend.c.reservation_key.in_([k for k, _, _ in jobs]))
                )
            }
            fresh = [(k, n, c) for k, n, c in jobs if k not in known]
            if not fresh:
                return
            conn.execute(
                spend.insert(),
                [
                    dict(reservation_key=k, **spend_row(loop.environment, loop.backend, n, c, c, now))
                    for k, n, c in fresh
                ],
            )
            conn.execute(
                spend.update()
                .where(spend.c.reservation_key == parent)
                .values(
                    estimated_cost=spend.c.estimated_cost - sum(c for _, _, c in fresh),
                    shots=spend.c.shots - sum(n for _, n, _ in fresh),
                )
            )

    def release(self, key: str) -> None:
        """The job was never submitted: give the reservation back."""
        with self.engine.begin() as conn:
            conn.execute(
                spend.update()
                .where(spend.c.reservation_key == key, spend.c.state == "RESERVED")
                .values(state="RELEASED")
            )


@dataclass
class Admission:
    """Budget admission in one environment, the one path every submission takes: reserve before
    submitting (approval checked), settle with the real usage after, release if nothing ran."""

    policy: Policy
    environment_name: str
    ledger: SpendLedger
    approved: bool = False

    def admit(self, key: str, backend: str, shots: int, *, jobs: int = 1, job_shots: int | None = None) -> Reservation:
        name, environment = self.policy.environment(self.environment_name)
        if environment.needs_approval(backend) and not self.approved:
            raise PolicyError(
                f"backend {backend!r} needs approval in environment {name!r}; put an approval task "
                "(ApprovalOperator) upstream and pass approved=True"
            )
        return self.ledger.reserve(
            key,
            environment_name=name,
            environment=environment,
            backend=backend,
            shots=shots,
            cost_model=self.policy.cost_model(backend),
            alert_fraction=self.policy.alert_fraction,
            jobs=jobs,
            job_shots=job_shots,
        )

    def settle(self, key: str, backend: str, shots: int, usage_seconds: float | None) -> float:
        """Settle at the real cost (usage-based where the cost model is); returns it."""
        cost = self.policy.cost_model(backend).settle(shots, usage_seconds)
        self.ledger.settle(key, cost)
        return cost

    def release(self, key: str) -> None:
        self.ledger.release(key)
