"""fallback_drill: a weekly chaos drill against the local job service.

A small QAOA workload is submitted under each injected fault: outage, 429 storm, transient 5xx
burst, a queue that never drains, and an exhausted budget. Each scenario checks that the
expected fallback tier produced the result, that exactly the expected number of jobs reached the
service (none when admission refuses), that the scenario's reservation is not left held and holds
no more than its jobs could cost, and that the result is complete and labelled. The job service comes from
QFLOW_JOBSERVICE_URL (`make up` starts one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import chain, dag, task

from operators.operators.maxcut import (
    GraphValidateOperator,
    MaxCutBaselinesOperator,
    MaxCutGraphOperator,
    QAOAEncodeOperator,
    QAOAOptimiseOperator,
)
from operators.operators.quantum_submit import QuantumSubmitOperator
from operators.retries import INFRASTRUCTURE_RETRIES

PROBLEM = {"n_nodes": 4, "degree": 2, "reps": 1, "shots": 256, "max_iterations": 6, "seed": 3}
SHOTS = 256
# scenario -> (faults to inject, operator settings, what must happen: tier, jobs reaching the service
# (min, max), and whether admission must refuse). See include.emulator.drill.Expectation.
SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "outage": ({"outage_seconds": 600}, {}, {"tier": 2, "max_jobs": 0}),
    "rate_limit_storm": ({"rate_limit_per_second": 0.02}, {}, {"tier": 2, "max_jobs": 1}),
    "transient_5xx_burst": ({"error_rate": 1.0, "seed": 1}, {}, {"tier": 2, "max_jobs": 0}),
    "queue_never_drains": ({"queue_delay_seconds": 3600}, {"queue_sla_seconds": 5.0}, {"tier": 2, "min_jobs": 1}),
    "budget_exhausted": ({}, {"environment": "drill_exhausted"}, {"tier": 2, "max_jobs": 0, "refused": True}),
}


@dag(
    dag_id="fallback_drill",
    schedule="@weekly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=INFRASTRUCTURE_RETRIES,  # a killed worker or an outage retries; bad data fails at once
    max_active_runs=1,
    tags=["qflow", "fallback", "chaos"],
    doc_md=__doc__,
)
def fallback_drill() -> None:
    graph = MaxCutGraphOperator(task_id="graph", problem=PROBLEM)
    validation = GraphValidateOperator(task_id="validate", graph=graph.output)
    encoding = QAOAEncodeOperator(task_id="encode", problem=PROBLEM, graph=graph.output, validation=validation.output)
    optimise = QAOAOptimiseOperator(task_id="optimise", problem=PROBLEM, graph=graph.output, encoding=encoding.output)
    baselines = MaxCutBaselinesOperator(
        task_id="baselines", problem=PROBLEM, graph=graph.output, validation=validation.output
    )

    @task
    def inject(scenario: str) -> int:
        """Set the scenario's faults; returns how many jobs the service held before."""
        from include.emulator.drill import inject_faults

        return inject_faults(SCENARIOS[scenario][0])

    @task
    def check(scenario: str, result: Any, jobs_before: Any) -> dict[str, Any]:
        """Judge the scenario against the store the operators wrote to (the same connection) and
        the spend ledger they reserved in."""
        from airflow.sdk.exceptions import AirflowFailException

        from include.emulator.drill import Expectation, check_scenario
        from operators.hooks.artifact_store import ArtifactStoreHook
        from operators.operators.policy import current_policy_environment

        _, settings, expected = SCENARIOS[scenario]
        # The environment the submit task admitted in: pinned by the scenario, else as the operator picks it.
        policy, environment = current_policy_environment(settings.get("environment"))
        try:
            return check_scenario(
                scenario,
                result,
                int(jobs_before),
                Expectation(**expected),
                SHOTS,
                environment,
                store=ArtifactStoreHook().get_store(),
                policy=policy,
            )
        except AssertionError as exc:  # a drill that failed its checks: retrying cannot change that
            raise AirflowFailException(str(exc)) from exc

    # Scenarios run one after another: faults are global to the service.
    previous: Any = [optimise, baselines]
    for scenario, (_, settings, _) in SCENARIOS.items():
        before = inject.override(task_id=f"{scenario}_inject")(scenario)
        submit = QuantumSubmitOperator(
            task_id=f"{scenario}_submit",
            circuit=encoding.output,
            parameter_source=optimise.output,
            backend="jobservice:fake_manila",
            shots=SHOTS,
            seed=3,
            fallback_tiers=(1, 2),
            classical_source=baselines.output,
            retry_attempts=3,
            retry_base_seconds=0.2,
            poll_interval=0.5,
            **settings,
        )
        verdict = check.override(task_id=f"{scenario}_check")(scenario, submit.output, before)
        previous >> before
        chain(before, submit, verdict)
        previous = verdict


fallback_drill()
