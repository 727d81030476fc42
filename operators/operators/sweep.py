"""The nightly sweep's Airflow layer: the store, the job service URL and budget admission from
connections and the policy, and the report operator with its "Benchmark report" link.

The work itself is in ``include.sweep``; these functions only supply what Airflow owns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from operators.hooks.artifact_store import ArtifactStoreHook
from operators.hooks.quantum import QuantumBackendHook
from operators.links import ArtifactManifestLink, BenchmarkReportLink
from operators.operators.base import ArtifactStageOperator

if TYPE_CHECKING:
    from include.artifacts import ArtifactRef, ArtifactStore

QUANTUM_CONN_ID = "qflow_quantum"


def sweep_store() -> ArtifactStore:
    return ArtifactStoreHook().get_store()


def jobservice_url() -> str | None:
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return QuantumBackendHook("jobservice", QUANTUM_CONN_ID).service_url()
    except AirflowNotFoundException:  # no connection: the environment's QFLOW_JOBSERVICE_URL
        return QuantumBackendHook("jobservice").service_url()


def budget_admission() -> tuple[Callable[[str, str, int], Any], Callable[[str, str, int, float | None], float]]:
    """Reserve before a batch job is submitted, settle after: the same spend ledger and policy as
    every other quantum submission (a retried batch reuses its reservation, keyed by the job)."""
    from airflow.sdk import Variable

    from include.budget import SpendLedger
    from include.policy import current_environment_name, load_policy

    policy = load_policy()
    name, environment = policy.environment(
        current_environment_name(policy, Variable.get("qflow_environment", default=None))
    )
    ledger = SpendLedger()

    def admit(key: str, spec: str, shots: int) -> Any:
        return ledger.reserve(
            key,
            environment_name=name,
            environment=environment,
            backend=spec,
            shots=shots,
            cost_model=policy.cost_model(spec),
            alert_fraction=policy.alert_fraction,
        )

    def settle(key: str, spec: str, shots: int, usage_seconds: float | None) -> float:
        cost = policy.cost_model(spec).settle(shots, usage_seconds)
        ledger.settle(key, cost)
        return cost

    return admit, settle


def run_sweep_batch(batch: Mapping[str, Any], *, night: str) -> dict[str, Any]:
    """One mapped batch of the sweep: admitted against the budget, run as one job, stored."""
    from include.sweep import run_batch

    admit, settle = budget_admission()
    outcome = run_batch(sweep_store(), batch, jobservice_url=jobservice_url(), admit=admit, settle=settle, night=night)
    return outcome.to_xcom()


class SweepReportOperator(ArtifactStageOperator):
    """Statistics and the HTML report of one night, stored beside its results table."""

    template_fields = ("collected", "plan")
    operator_extra_links: tuple[Any, ...] = (ArtifactManifestLink(), BenchmarkReportLink())

    def __init__(self, *, collected: Any, plan: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.collected = collected
        self.plan = plan

    def execute(self, context: Any) -> dict[str, str | None]:
        from include.sweep import report_index_uri

        value = super().execute(context)
        value["report_uri"] = report_index_uri(self.ref(value))
        self.log.info("benchmark report: %s", value["report_uri"])
        return value

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.sweep import night_prefix_for, store_report

        night = str(context["run_id"])
        return store_report(store, night_prefix_for(night), night=night, collected=self.collected, plan=self.plan)


def night_of(context: Mapping[str, Any]) -> tuple[str, str]:
    """(night id, ISO date) of a DAG run: its run id, and the date it ran for."""
    run = context["dag_run"]
    when = context.get("logical_date") or getattr(run, "run_after", None) or getattr(run, "start_date", None)
    return str(context["run_id"]), when.date().isoformat() if when is not None else ""
