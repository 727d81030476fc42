"""nightly_benchmark: every night, quantum against classical across sizes, noise, shots and backends.

grid → prepare (mapped: one pass per instance — graph, GX validation, classical baselines, QAOA
angles; reused across nights) → plan (key every experiment by the content hash of what would run;
duplicates and stored results are reused) → run_aer / run_jobservice (mapped batches, one job per
batch, each backend in its own pool, cheapest batches first) → collect (one tidy Parquet table per
night, appended to the history) → report (statistics and an HTML report with plots, linked from
the task as "Benchmark report") → verdict (fails the run if any planned experiment has no result).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import Param, dag, task

from operators.operators.sweep import SweepBatchOperator, SweepReportOperator

GRID_PARAMS: dict[str, Param] = {
    "families": Param(
        ["maxcut_regular", "maxcut_erdos_renyi"],
        title="Problem families",
        type="array",
        items={"type": "string", "enum": ["maxcut_regular", "maxcut_erdos_renyi"]},
        description="problem families: MaxCut on 3-regular and on Erdős–Rényi graphs",
    ),
    "sizes": Param(
        [6, 8, 10, 12, 14, 16, 18, 20],
        type="array",
        items={"type": "integer"},
        description="nodes",
        title="Sizes (nodes)",
    ),
    "seeds_per_size": Param(
        5, type="integer", minimum=1, maximum=100, description="instances per size", title="Seeds per size"
    ),
    "reps": Param(
        [1, 2],
        type="array",
        items={"type": "integer", "minimum": 1, "maximum": 6},
        description="QAOA p",
        title="QAOA reps (p)",
    ),
    "shots": Param([1024], type="array", items={"type": "integer", "minimum": 1}, title="Shots"),
    "noise": Param(
        ["ideal", "fake_kolkata"],
        title="Noise models",
        type="array",
        items={"type": "string"},
        description="'ideal' and/or IBM fake-backend noise models (fake_kolkata, fake_manila, ...)",
    ),
    "backends": Param(
        ["aer:statevector", "aer:matrix_product_state", "jobservice"],
        title="Backends",
        type="array",
        items={"type": "string", "enum": ["aer:statevector", "aer:matrix_product_state", "aer", "jobservice"]},
    ),
    "degree": Param(
        3, type="integer", minimum=1, description="regular: degree; Erdős–Rényi: expected degree", title="Degree"
    ),
    "weights": Param("unit", type="string", enum=["unit", "uniform"], title="Edge weights"),
    "noise_max_nodes": Param(
        10, type="integer", minimum=0, description="noisy simulation only up to this size", title="Largest noisy size"
    ),
    "max_pubs_per_job": Param(
        50, type="integer", minimum=1, description="circuits per job (1 = one at a time)", title="Circuits per job"
    ),
    "deduplicate": Param(
        True, type="boolean", description="run each experiment key once, across nights too", title="De-duplicate"
    ),
    "angle_evaluations": Param(
        300, type="integer", minimum=10, description="noise-free evaluations per reps", title="Angle-search evaluations"
    ),
}


@dag(
    dag_id="nightly_benchmark",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # nights append to one history in turn
    params=GRID_PARAMS,
    tags=["qflow", "benchmark", "nightly"],
    doc_md=__doc__,
)
def nightly_benchmark() -> None:
    @task(priority_weight=50, weight_rule="absolute")
    def grid(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from include.benchmark.grid import SweepGrid
        from include.benchmark.instances import group_by_content, instance_specs

        sweep = SweepGrid.from_params({k: v for k, v in (params or {}).items() if k in GRID_PARAMS})
        specs, skipped = instance_specs(sweep)
        return {"grid": sweep.to_params(), "instances": group_by_content(specs), "skipped": skipped}

    @task
    def instances(plan: Any) -> list[list[dict[str, Any]]]:
        """One entry per distinct graph: the specs (family, size, seed) that generate it."""
        return list(plan["instances"])

    @task(priority_weight=40, weight_rule="absolute")
    def prepare(instance: Any, plan: Any) -> list[dict[str, Any]]:
        from include.benchmark.instances import prepare_group
        from operators.operators.sweep import sweep_store

        settings = plan["grid"]
        return prepare_group(sweep_store(), instance, settings["reps"], angle_evaluations=settings["angle_evaluations"])

    @task
    def plan_night(plan: Any, prepared: Any, **context: Any) -> dict[str, Any]:
        from include.benchmark.grid import SweepGrid, night_prefix_for
        from include.benchmark.plan import plan_night as plan_experiments
        from operators.operators.sweep import jobservice_url, sweep_store

        return plan_experiments(
            sweep_store(),
            night_prefix_for(str(context["run_id"])),
            SweepGrid.from_params(plan["grid"]),
            [record for group in prepared for record in group],
            jobservice_url=jobservice_url(),
            skipped=plan["skipped"],
        )

    @task
    def batches_for(planned: Any, pool: str) -> list[dict[str, Any]]:
        """The batches one pool runs (dynamic task mapping needs a list per mapped task)."""
        return list(planned["batches"].get(pool, []))

    @task(trigger_rule="all_done")
    def collect(plan: Any, prepared: Any, **context: Any) -> dict[str, Any]:
        from include.benchmark.collect import collect_night
        from include.benchmark.grid import night_prefix_for
        from operators.operators.sweep import night_of, sweep_store

        night, night_date = night_of(context)
        return collect_night(
            sweep_store(),
            night_prefix_for(night),
            night=night,
            night_date=night_date,
            plan=plan,
            prepared=[record for group in prepared for record in group],
        )

    @task(trigger_rule="all_done")
    def verdict(collected: Any, report: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from include.benchmark.collect import verdict_failure

        failure = verdict_failure(collected)
        if failure:
            raise AirflowFailException(failure)
        return {"rows": collected["rows"], "report_uri": report["report_uri"]}

    settings = grid()
    prepared = prepare.partial(plan=settings).expand(instance=instances(settings))
    planned = plan_night(settings, prepared)
    # One pool per backend family (sized in include/governance/policy.yaml); in-process Aer first: cheaper.
    # Map index order is start order, and the plan sorts batches cheapest first.
    ran_aer = SweepBatchOperator.partial(
        task_id="run_aer", pool="qflow_aer", priority_weight=30, weight_rule="absolute"
    ).expand(batch=batches_for.override(task_id="aer_batches")(planned, "qflow_aer"))
    ran_jobservice = SweepBatchOperator.partial(
        task_id="run_jobservice", pool="qflow_jobservice", priority_weight=20, weight_rule="absolute"
    ).expand(batch=batches_for.override(task_id="jobservice_batches")(planned, "qflow_jobservice"))
    collected = collect(planned, prepared)
    [ran_aer, ran_jobservice] >> collected
    report = SweepReportOperator(task_id="report", collected=collected, plan=planned, trigger_rule="all_done")
    verdict(collected, report.output)


nightly_benchmark()
