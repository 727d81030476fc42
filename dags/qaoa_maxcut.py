"""qaoa_maxcut: a seeded (or uploaded) graph → GX validation → Ising/QAOA encoding → the QAOA loop
on the loop backend (one job per evaluation; deferred between evaluations on queued backends) → the
optimum sampled on the sampling backend → classical baselines → approximation ratio and quantum
value added, every stage stored in S3 with a lineage manifest. Trigger it from the web UI's form or
with `airflow dags test`."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.providers.standard.operators.python import BranchPythonOperator
from airflow.sdk import Param, dag

from include.quantum.backends.catalogue import LOOP_BACKENDS, loop_backend_param
from operators.operators.datasets import (
    DatasetVersionOperator,
    dataset_asset,
    dataset_version_expression,
    from_dataset_version,
)
from operators.operators.maxcut import (
    GraphValidateOperator,
    MaxCutAggregateOperator,
    MaxCutBaselinesOperator,
    MaxCutGraphOperator,
    QAOAEncodeOperator,
    QAOAOptimiseOperator,
)
from operators.operators.policy import HardwareReadinessOperator, approval_branch
from operators.operators.quantum_submit import QuantumSubmitOperator
from operators.retries import INFRASTRUCTURE_RETRIES

PARAMS = {
    "n_nodes": Param(10, type="integer", minimum=2, maximum=24, title="Number of nodes (qubits)"),
    "graph_kind": Param("regular", enum=["regular", "erdos_renyi", "complete"], title="Graph kind"),
    "degree": Param(
        3,
        type="integer",
        minimum=1,
        title="Degree",
        description="Regular: every node's degree; "
        "Erdős–Rényi: the expected degree (edge probability degree/(n-1)); ignored for complete graphs.",
    ),
    "weights": Param("unit", enum=["unit", "uniform"], title="Edge weights (unit, or seeded uniform in [0.1, 1])"),
    "seed": Param(7, type="integer", minimum=0, title="Seed (graph, simulator, transpiler, heuristics)"),
    "reps": Param(2, type="integer", minimum=1, maximum=8, title="QAOA reps p"),
    "shots": Param(1024, type="integer", minimum=1, maximum=100_000, title="Shots per evaluation"),
    "optimiser": Param("COBYLA", enum=["COBYLA", "Nelder-Mead", "Powell"], title="Classical optimiser"),
    "max_iterations": Param(60, type="integer", minimum=1, maximum=2000, title="Max objective evaluations"),
    "loop_backend": Param(**loop_backend_param("optimiser loop", "one job each")),
    "backend": Param(
        "aer",
        enum=list(LOOP_BACKENDS),
        title="Backend for the final sampling",
        description="The optimum the loop found is sampled here (noisy fake backends model hardware).",
    ),
    "resume_from": Param(
        None,
        type=["null", "string"],
        title="Continue another run's loop (run id, optional)",
        description="The run id of an earlier qaoa_maxcut run on the same problem: its evaluations are kept and "
        "the loop continues on this run's loop backend (re-transpiled for it) up to max_iterations.",
    ),
    "edge_list_uri": Param(
        None,
        type=["null", "string"],
        title="Edge-list Parquet in S3 (optional)",
        description="s3://bucket/key of a Parquet with columns u, v, weight; empty to generate a graph. "
        "n_nodes is then the declared node count.",
    ),
}

FALLBACK_TIERS = (1, 2, 3, 4)  # quantum → classical heuristic → cached → result pending
QUEUE_SLA_SECONDS = 600.0  # a queued job waiting longer than this falls back
# Quantum value is judged per workload: the same problem family and size on the same backend.
WORKLOAD = (
    "qaoa_maxcut:{{ params.graph_kind }}:{{ "
    + dataset_version_expression("n_nodes")
    + " }}:{{ params.degree }}:{{ params.backend }}"
)

APPROVED = "{{ (ti.xcom_pull(task_ids='approve') or {}).get('chosen_options') == ['Approve'] }}"
# Each field is rendered natively, so operators receive ints and strings, not text.
# A published maxcut_graph version (the asset-triggered run) sets the edge list and its node count.
FROM_DATASET = ("edge_list_uri", "n_nodes")
PROBLEM = {name: from_dataset_version(name) if name in FROM_DATASET else "{{ params." + name + " }}" for name in PARAMS}


@dag(
    dag_id="qaoa_maxcut",
    # Re-optimises when a new maxcut_graph version is published (debounced, de-duplicated by content
    # hash: docs/datasets.md); the form and the REST API still trigger it by hand.
    schedule=[dataset_asset("maxcut_graph")],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=INFRASTRUCTURE_RETRIES,  # a killed worker or an outage retries; bad data fails at once
    params=PARAMS,
    render_template_as_native_obj=True,
    tags=["qflow", "qaoa", "maxcut"],
    doc_md=__doc__,
)
def qaoa_maxcut() -> None:
    version = DatasetVersionOperator(task_id="dataset_version", dataset="maxcut_graph")
    graph = MaxCutGraphOperator(task_id="graph", problem=PROBLEM)
    version >> graph
    validation = GraphValidateOperator(task_id="validate", graph=graph.output)
    encoding = QAOAEncodeOperator(task_id="encode", problem=PROBLEM, graph=graph.output, validation=validation.output)
    optimise = QAOAOptimiseOperator(
        task_id="optimise",
        trigger_rule="none_failed_min_one_success",  # after the approval gate, approved or not needed
        problem=PROBLEM,
        graph=graph.output,
        encoding=encoding.output,
        loop_backend="{{ params.loop_backend }}",
        approved=APPROVED,
    )
    baselines = MaxCutBaselinesOperator(
        task_id="baselines", problem=PROBLEM, graph=graph.output, validation=validation.output
    )
    # Premium backends (per the policy's environment) need a ready checklist and a human approval.
    readiness = HardwareReadinessOperator(
        task_id="readiness",
        validation=validation.output,
        baseline=baselines.output,
        backend="{{ params.backend }}",
        shots="{{ params.shots }}",
        loop_backend="{{ params.loop_backend }}",
        loop_shots="{{ params.shots * params.max_iterations }}",
        fallback_tiers=FALLBACK_TIERS,
    )
    gate = BranchPythonOperator(
        task_id="approval_gate",
        python_callable=approval_branch,
        op_kwargs={
            "backend": ["{{ params.loop_backend }}", "{{ params.backend }}"],
            "approval_task_id": "approve",
            "next_task_id": "optimise",
        },
        do_xcom_push=False,  # XCom carries artifact references only
    )
    approve = ApprovalOperator(
        task_id="approve",
        subject="Approve qaoa_maxcut: the loop on {{ params.loop_backend }}, the sample on {{ params.backend }}?",
        body="Readiness checklist: {{ ti.xcom_pull(task_ids='readiness')['uri'] }}",
    )
    sample = QuantumSubmitOperator(
        task_id="sample",
        trigger_rule="none_failed_min_one_success",
        approved=APPROVED,
        circuit=encoding.output,
        parameter_source=optimise.output,
        backend="{{ params.backend }}",
        shots="{{ params.shots }}",
        seed="{{ params.seed }}",
        # Graceful degradation: quantum, then the best classical heuristic, then a cached result,
        # then "result pending" (re-run later by pending_rerun). See docs/fallback.md.
        fallback_tiers=FALLBACK_TIERS,
        classical_source=baselines.output,
        queue_sla_seconds=QUEUE_SLA_SECONDS,
        workload=WORKLOAD,
    )
    readiness >> gate >> [approve, optimise]
    approve >> [optimise, sample]
    MaxCutAggregateOperator(
        task_id="aggregate",
        workload=WORKLOAD,
        stages={
            "sample": sample.output,
            "graph": graph.output,
            "validate": validation.output,
            "encode": encoding.output,
            "optimise": optimise.output,
            "baselines": baselines.output,
        },
    )


qaoa_maxcut()
