"""nightly_benchmark: every night, quantum against classical across sizes, noise, shots and backends.

grid → prepare (mapped: one pass per instance — MaxCut: graph, GX validation, classical baselines,
QAOA angles; the classifier: data set, GX suites, features, logistic regression and RBF SVM; the
portfolio: a market window of real prices, GX price suite, μ and Ledoit–Wolf Σ, exact / greedy /
local search / simulated annealing / random sampling; reused across nights) → plan (key every
experiment by the content hash of what would run; duplicates and stored results are reused) →
run_aer / run_jobservice (mapped batches: a MaxCut batch is one job, a classifier or portfolio batch
one loop; each backend in its own pool, cheapest batches first) → collect (one tidy Parquet table per
night, appended to the history) → report (statistics and an HTML report with plots, linked from
the task as "Benchmark report") → verdict (fails the run if any planned experiment has no result).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import Param, dag, task

from operators.operators.sweep import SweepBatchOperator, SweepReportOperator
from operators.retries import INFRASTRUCTURE_RETRIES

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
        ["aer:statevector", "aer:matrix_product_state", "jobservice", "braket:local"],
        title="Backends",
        type="array",
        items={
            "type": "string",
            "enum": ["aer:statevector", "aer:matrix_product_state", "aer", "jobservice", "braket:local"],
        },
        description="simulators and the local job service; braket:local is Amazon Braket's local simulator "
        "(noise=ideal only: the IBM fake noise models are skipped on it, with the reason)",
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
        300, type="integer", minimum=20, description="noise-free evaluations per reps", title="Angle-search evaluations"
    ),
    "workloads": Param(
        ["maxcut", "vqc_classifier", "portfolio_optimisation"],
        title="Workloads",
        type="array",
        items={"type": "string", "enum": ["maxcut", "vqc_classifier", "portfolio_optimisation"]},
        description="MaxCut (families × sizes × seeds), the classifier (data sets × encodings × ansatz reps) "
        "and/or the portfolio (N assets × K chosen × risk aversion q × market windows)",
    ),
    "vqc_datasets": Param(
        ["iris"],
        title="Classifier data sets",
        type="array",
        items={"type": "string", "enum": ["iris", "wine", "breast_cancer"]},
        description="built-in data sets (first two classes), offline",
    ),
    "vqc_encodings": Param(
        ["angle"],
        title="Classifier encodings",
        type="array",
        items={"type": "string", "enum": ["basis", "angle", "dense_angle", "amplitude", "zz", "iqp"]},
    ),
    "vqc_reps": Param(
        [1], type="array", items={"type": "integer", "minimum": 1, "maximum": 6}, title="Classifier ansatz reps"
    ),
    "vqc_shots": Param(128, type="integer", minimum=1, title="Classifier shots per sample"),
    "vqc_max_iterations": Param(
        12, type="integer", minimum=1, description="optimiser evaluations per training", title="Classifier iterations"
    ),
    "vqc_features": Param(4, type="integer", minimum=1, description="features kept (PCA)", title="Classifier features"),
    "vqc_seeds": Param(1, type="integer", minimum=1, description="train/test splits per data set", title="Splits"),
    "portfolio_sizes": Param(
        [6, 8],
        type="array",
        items={"type": "integer", "minimum": 2, "maximum": 20},
        description="N: the first N tickers of skfolio's S&P 500 prices (one qubit each)",
        title="Portfolio assets",
    ),
    "portfolio_ks": Param(
        [0],
        type="array",
        items={"type": "integer", "minimum": 0, "maximum": 20},
        description="K assets chosen; 0 = N/2 (K > N is skipped with the reason)",
        title="Portfolio K",
    ),
    "portfolio_risk_aversions": Param(
        [5.0], type="array", items={"type": "number", "minimum": 0}, title="Portfolio risk aversion q"
    ),
    "portfolio_windows": Param(
        1,
        type="integer",
        minimum=1,
        maximum=200,
        description="market windows per (N, K, q): 0 = the most recent year, each 63 trading days earlier",
        title="Portfolio windows",
    ),
    "portfolio_reps": Param(
        [1], type="array", items={"type": "integer", "minimum": 1, "maximum": 6}, title="Portfolio QAOA reps"
    ),
    "portfolio_mixers": Param(
        ["x"], type="array", items={"type": "string", "enum": ["x", "xy"]}, title="Portfolio QAOA mixers"
    ),
    "portfolio_shots": Param(256, type="integer", minimum=1, title="Portfolio shots per evaluation"),
    "portfolio_max_iterations": Param(
        20, type="integer", minimum=1, description="COBYLA evaluations per QAOA loop", title="Portfolio iterations"
    ),
}


@dag(
    dag_id="nightly_benchmark",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=INFRASTRUCTURE_RETRIES,  # a killed worker or an outage retries; bad data fails at once
    max_active_runs=1,  # nights append to one history in turn
    params=GRID_PARAMS,
    tags=["qflow", "benchmark", "nightly"],
    doc_md=__doc__,
)
def nightly_benchmark() -> None:
    # Every task returns artifact refs only (include.benchmark.night stores what they pass on), each
    # as one XCom: multiple_outputs=False, or a dict annotation would also push its keys one by one.
    @task(priority_weight=50, weight_rule="absolute", multiple_outputs=False)
    def grid(params: dict[str, Any] | None = None, **context: Any) -> dict[str, Any]:
        from include.benchmark.night import grid_task
        from operators.operators.sweep import sweep_store

        values = {k: v for k, v in (params or {}).items() if k in GRID_PARAMS}
        return grid_task(sweep_store(), str(context["run_id"]), values)

    @task
    def instances(grid_ref: Any) -> list[dict[str, Any]]:
        """One ref per distinct graph: the specs (family, size, seed) that generate it."""
        from include.benchmark.night import instance_groups
        from operators.operators.sweep import sweep_store

        return instance_groups(sweep_store(), grid_ref)

    @task(priority_weight=40, weight_rule="absolute", multiple_outputs=False)
    def prepare(instance: Any, grid_ref: Any, **context: Any) -> dict[str, Any]:
        from include.benchmark.night import prepare_task
        from operators.operators.sweep import sweep_store

        return prepare_task(sweep_store(), str(context["run_id"]), instance, grid_ref)

    @task(multiple_outputs=False)
    def plan_night(grid_ref: Any, prepared: Any, **context: Any) -> dict[str, Any]:
        from include.benchmark.night import plan_task
        from operators.operators.sweep import jobservice_url, sweep_store

        return plan_task(
            sweep_store(), str(context["run_id"]), grid_ref, list(prepared), jobservice_url=jobservice_url()
        )

    @task
    def batches_for(planned: Any, pool: str) -> list[dict[str, Any]]:
        """The batch refs one pool runs (dynamic task mapping needs a list per mapped task)."""
        from include.benchmark.night import pool_batches
        from operators.operators.sweep import sweep_store

        return pool_batches(sweep_store(), planned, pool)

    @task(trigger_rule="all_done", multiple_outputs=False)
    def collect(plan: Any, prepared: Any, **context: Any) -> dict[str, Any]:
        from include.benchmark.night import collect_task
        from operators.operators.sweep import night_of, sweep_store

        night, night_date = night_of(context)
        return collect_task(sweep_store(), night, night_date, plan, list(prepared))

    @task(trigger_rule="all_done", multiple_outputs=False)
    def verdict(collected: Any, report: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from include.benchmark.collect import verdict_failure
        from include.benchmark.night import optional_document
        from operators.operators.sweep import sweep_store

        failure = verdict_failure(optional_document(sweep_store(), collected))
        if failure:
            raise AirflowFailException(failure)
        if not report:
            raise AirflowFailException("every experiment ran, but the report task wrote no report")
        return dict(report)

    settings = grid()
    prepared = prepare.partial(grid_ref=settings).expand(instance=instances(settings))
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
