"""Graceful degradation: explicit fallback tiers, each result labelled with its tier and reason.

    1 quantum    the selected backend
    2 classical  the classical heuristic already computed for the same input (include.problems.baselines)
    3 cached     a stored result for the same input hash, if one exists
    4 pending    the work is recorded for a later run; the run finishes with that status

A tier is entered only for a fallback trigger: backend unavailable or in an outage, queue wait
beyond the run's SLA, budget or quota exhausted, transient errors past their retry limit, or a
quantum-value decision to route to classical. Structural and auth errors are never papered over:
they propagate. See docs/fallback.md for each tier's expected accuracy and latency.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from include.governance.ledger import ledger_engine
from include.quantum.backends.errors import ErrorClass, QuantumError, TransientQuantumError

if TYPE_CHECKING:
    from include.store.artifacts import ArtifactRef, ArtifactStore

T = TypeVar("T")


class FallbackTier(enum.IntEnum):
    QUANTUM = 1
    CLASSICAL = 2
    CACHED = 3
    PENDING = 4


class QueueSLAExceeded(TransientQuantumError):
    """The job is still waiting, but past the run's SLA: a reason to fall back, not a failure."""


FALLBACK_ERROR_CLASSES = {ErrorClass.TRANSIENT, ErrorClass.QUOTA}


@dataclass(frozen=True)
class Attempt:
    tier: FallbackTier
    outcome: str  # "ok" | "failed" | "skipped" | "unavailable"
    reason: str


@dataclass
class TieredOutcome(Generic[T]):
    tier: FallbackTier
    reason: str
    value: T | None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return self.tier is FallbackTier.PENDING

    def label(self) -> dict[str, object]:
        """What every result artifact carries: its tier, why, and the attempts before it."""
        return {
            "tier": int(self.tier),
            "tier_name": self.tier.name.lower(),
            "reason": self.reason,
            "attempts": [{"tier": int(a.tier), "outcome": a.outcome, "reason": a.reason} for a in self.attempts],
        }


def run_tiers(
    *,
    quantum: Callable[[], T],
    classical: Callable[[], T | None] | None = None,
    cached: Callable[[], T | None] | None = None,
    pending: Callable[[str], None] | None = None,
    tiers: Sequence[FallbackTier] = tuple(FallbackTier),
    route_to_classical: str | None = None,
) -> TieredOutcome[T]:
    """Try the configured tiers in order. ``route_to_classical`` (a quantum-value decision's
    reason) skips tier 1 without trying it."""
    attempts: list[Attempt] = []
    reason = ""
    for tier in tiers:
        if tier is FallbackTier.QUANTUM:
            if route_to_classical:
                attempts.append(Attempt(tier, "skipped", route_to_classical))
                reason = route_to_classical
                continue
            try:
                return TieredOutcome(tier, "quantum result", quantum(), attempts)
            except QuantumError as exc:
                if exc.error_class not in FALLBACK_ERROR_CLASSES:
                    raise  # structural and auth errors fail loudly
                reason = f"{type(exc).__name__}: {exc}"
                attempts.append(Attempt(tier, "failed", reason))
        elif tier is FallbackTier.CLASSICAL and classical is not None:
            value = classical()
            if value is not None:
                return TieredOutcome(tier, f"classical heuristic after: {reason}", value, attempts)
            attempts.append(Attempt(tier, "unavailable", "no classical heuristic result"))
        elif tier is FallbackTier.CACHED and cached is not None:
            value = cached()
            if value is not None:
                return TieredOutcome(tier, f"cached result for the same input after: {reason}", value, attempts)
            attempts.append(Attempt(tier, "unavailable", "no cached result for this input hash"))
        elif tier is FallbackTier.PENDING and pending is not None:
            pending(reason)
            return TieredOutcome(tier, f"result pending (queued for a later run) after: {reason}", None, attempts)
    raise TransientQuantumError(
        f"every configured fallback tier was exhausted ({[int(t) for t in tiers]}); last reason: {reason}",
        hint="add a later tier (classical, cached or pending) to the DAG's fallback configuration",
    )


metadata = sa.MetaData()
fallback_events = sa.Table(
    "qflow_fallback_event",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("task_id", sa.String(250), nullable=False),
    sa.Column("backend", sa.String(200), nullable=False),
    sa.Column("tier", sa.Integer, nullable=False),
    sa.Column("tier_name", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("attempts", sa.Text, nullable=False),  # JSON: the label's attempts before this tier
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.UniqueConstraint("dag_id", "run_id", "task_id", name="uq_fallback_task"),
)


@dataclass(frozen=True)
class FallbackEvent:
    dag_id: str
    run_id: str
    task_id: str
    backend: str
    tier: int
    tier_name: str
    reason: str
    attempts: list[dict[str, Any]]
    recorded_at: datetime


class FallbackLog:
    """Where each run's fallback tier is recorded beside the other ledgers (the result artifact
    carries the same label; this makes it queryable: the operations view counts and lists them).
    One row per task instance: a retried task that falls back again replaces its row."""

    def __init__(self, url: str | None = None, engine: sa.Engine | None = None) -> None:
        self.engine = engine or ledger_engine(url)
        metadata.create_all(self.engine)

    def record(
        self,
        outcome: TieredOutcome[Any],
        *,
        dag_id: str,
        run_id: str,
        task_id: str,
        backend: str,
    ) -> None:
        label = outcome.label()
        values: dict[str, Any] = dict(
            backend=backend,
            tier=int(outcome.tier),
            tier_name=str(label["tier_name"]),
            reason=outcome.reason,
            attempts=json.dumps(label["attempts"]),
            recorded_at=datetime.now(UTC),
        )
        where = (
            fallback_events.c.dag_id == dag_id,
            fallback_events.c.run_id == run_id,
            fallback_events.c.task_id == task_id,
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(fallback_events.insert().values(dag_id=dag_id, run_id=run_id, task_id=task_id, **values))
        except IntegrityError:  # this task instance fell back before (a retry): its latest outcome stands
            with self.engine.begin() as conn:
                conn.execute(fallback_events.update().where(*where).values(**values))

    def events(self, limit: int = 100) -> list[FallbackEvent]:
        """The latest ``limit`` events, newest first."""
        query = sa.select(fallback_events).order_by(fallback_events.c.recorded_at.desc(), fallback_events.c.id.desc())
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [
            FallbackEvent(
                r.dag_id,
                r.run_id,
                r.task_id,
                r.backend,
                int(r.tier),
                r.tier_name,
                r.reason,
                json.loads(r.attempts),
                r.recorded_at,
            )
            for r in rows
        ]


class FallbackConfigError(ValueError):
    """The configured tiers are not a valid fallback chain; the message says what is allowed."""


def configured_tiers(tiers: Sequence[int]) -> tuple[FallbackTier, ...]:
    """A DAG's ``fallback_tiers``, validated: known tiers, starting with tier 1 (quantum)."""
    try:
        chain = tuple(FallbackTier(int(t)) for t in tiers)
    except ValueError as exc:
        raise FallbackConfigError(
            f"fallback_tiers={list(tiers)}: tiers are 1 quantum, 2 classical, 3 cached, 4 pending"
        ) from exc
    if not chain or chain[0] is not FallbackTier.QUANTUM:
        raise FallbackConfigError(f"fallback_tiers={list(tiers)} must start with tier 1 (quantum)")
    return chain


class ResultCache:
    """Tier 3: pointers from a content key (same circuit, parameters, shots, backend — any run) to
    the stored quantum result; reading one verifies the result against its manifest."""

    def __init__(self, store: ArtifactStore, prefix: str = "cache/results") -> None:
        self.store = store
        self.prefix = prefix

    def _uri(self, content_key: str) -> str:
        return self.store.uri(f"{self.prefix}/{content_key}.json")

    def remember(self, content_key: str, ref: ArtifactRef) -> None:
        self.store.put_bytes(self._uri(content_key), json.dumps(ref.to_xcom()).encode(), "application/json")

    def lookup(self, content_key: str) -> tuple[ArtifactRef, Any] | None:
        """(ref, verified table) of the cached result, or None if there is none (or it is damaged)."""
        from include.store.artifacts import ArtifactError, ArtifactRef

        try:
            ref = ArtifactRef.from_xcom(json.loads(self.store.get_bytes(self._uri(content_key))))
            return ref, self.store.read_table(ref)
        except ArtifactError:
            return None


def classical_counts(heuristics: Any, shots: int, transpiler: Mapping[str, Any]) -> Any:
    """Tier 2 in the shared result schema: the best heuristic's bitstring as a delta distribution.
    The best is the highest ``score`` where the table has one (a minimised objective's negation:
    the portfolio's baselines), else the highest ``cut`` (MaxCut's)."""
    import pandas as pd

    from include.problems.baselines import HEURISTICS
    from include.quantum.backends.results import JOB_RESULT_DTYPES

    rows = heuristics[heuristics["method"].isin(HEURISTICS)] if "method" in heuristics else heuristics
    if rows.empty:
        return None
    best = rows.sort_values(["score" if "score" in rows else "cut"], ascending=False, kind="mergesort").iloc[0]
    frame = pd.DataFrame(
        {
            "kind": ["counts"],
            "pub_index": [0],
            "parameter_set": [0],
            "bitstring": [str(best["bitstring"])],
            "count": [shots],
            "observable": [pd.NA],
            "expectation_value": [pd.NA],
            "shots": [shots],
            "backend": [f"classical:{best['method']}"],
            "provider_job_id": [""],
            "transpiler_settings": [json.dumps(dict(transpiler), sort_keys=True)],
            "calibration_hash": [""],
            "compile_seconds": [0.0],
            "queue_seconds": [0.0],
            "execute_seconds": [float(best.get("seconds", 0.0))],
            "postprocess_seconds": [0.0],
        }
    )
    return frame[list(JOB_RESULT_DTYPES)].astype(JOB_RESULT_DTYPES)
