"""The fallback tiers of a quantum submission, as the Airflow layer runs them.

When quantum fails for a reason a fallback may cover (include.governance.fallback decides which),
the configured tiers give a classical, cached or pending result, stored in the shared result
schema and labelled with its tier, reason and attempts. Structural and auth errors — and tasks
configured with tier 1 only — fail the task instead (AirflowFailException: no retry).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from include.store.artifacts import ArtifactRef, ArtifactStore


class FallbackTiersMixin:
    """For QuantumSubmitOperator: ``fallback_tiers``, ``classical_source`` and ``_store_result``
    come from the operator."""

    fallback_tiers: tuple[int, ...]
    classical_source: Any
    backend: str
    dag_id: str
    task_id: str
    log: Any

    if TYPE_CHECKING:  # provided by the operator (declared only for the type checker: no shadowing)

        def ref(self, value: Any) -> Any: ...

        def _store_result(self, *args: Any, **kwargs: Any) -> ArtifactRef: ...

    def _fallback(
        self,
        store: ArtifactStore,
        prefix: str,
        context: Any,
        details: Mapping[str, Any],
        error: Any,
        route_to_classical: str | None = None,
    ) -> ArtifactRef:
        """Quantum failed for a reason a fallback may cover: try the configured tiers, label the result.
        Structural and auth errors (and runs configured with tier 1 only) fail the task instead."""
        from include.governance.fallback import FallbackLog, FallbackTier, ResultCache, classical_counts, run_tiers
        from include.governance.pending import PendingQueue

        tiers = FallbackTierSet(self.fallback_tiers)
        if route_to_classical is None and (
            not tiers.falls_back or (not error.retryable and error.error_class.value != "quota")
        ):
            raise (AirflowException if error.retryable else AirflowFailException)(str(error)) from error
        used: list[Any] = []

        def quantum() -> Any:
            raise error

        def classical() -> Any:
            if self.classical_source is None:
                return None
            source = self.ref(self.classical_source)
            used.append(source)
            return classical_counts(store.read_table(source), int(details["shots"]), details["transpiler"])

        def cached() -> Any:
            hit = ResultCache(store).lookup(details["content_key"])
            if hit is None:
                return None
            used.append(hit[0])
            return hit[1]

        def pending(reason: str) -> None:
            from operators.operators.datasets import effective_params

            PendingQueue().add(self.dag_id, context["run_id"], self.task_id, effective_params(context), reason)

        outcome = run_tiers(
            quantum=quantum,
            classical=classical,
            cached=cached,
            pending=pending,
            tiers=tiers.tiers,
            route_to_classical=route_to_classical,
        )
        self.log.warning("fallback: tier %d (%s) — %s", int(outcome.tier), outcome.tier.name.lower(), outcome.reason)
        # Queryable beside the other ledgers (the operations view lists the tiers taken and why).
        FallbackLog().record(
            outcome, dag_id=self.dag_id, run_id=str(context["run_id"]), task_id=self.task_id, backend=self.backend
        )
        produced_by = {
            FallbackTier.CLASSICAL: "classical",
            FallbackTier.CACHED: "cache",
            FallbackTier.PENDING: "pending",
        }.get(outcome.tier, self.backend)
        return self._store_result(store, prefix, details, outcome, produced_by, {}, extra_inputs=tuple(used))


class FallbackTierSet:
    """The operator's configured tiers (validated by the core); a bad chain fails the task at once."""

    def __init__(self, tiers: tuple[int, ...]) -> None:
        from include.governance.fallback import FallbackConfigError, configured_tiers

        try:
            self.tiers = configured_tiers(tiers)
        except FallbackConfigError as exc:
            raise AirflowFailException(str(exc)) from exc

    @property
    def falls_back(self) -> bool:
        return len(self.tiers) > 1
