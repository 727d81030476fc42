"""portfolio_optimisation: real daily prices (skfolio's offline S&P 500 extract, or a Parquet/CSV in
S3) → GX price validation → returns, expected returns and a Ledoit–Wolf covariance with a held-out
window → choose K of N assets (risk aversion q) as a QUBO / Ising Hamiltonian with a checked
cardinality penalty → the QAOA loop on the loop backend (one job per evaluation; deferred between
evaluations on queued backends) → the optimum sampled on the sampling backend (the same fallback
tiers) → exact / greedy / local search / simulated annealing / continuous mean-variance → objective,
feasibility, approximation gap, out-of-sample return and volatility, quantum value added. Every
stage is stored in S3 with a lineage manifest."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.providers.standard.operators.python import BranchPythonOperator
from airflow.sdk import Param, dag

from include.quantum.backends.catalogue import LOOP_BACKENDS, loop_backend_param
from operators.operators.datasets import DatasetVersionOperator, dataset_asset, from_dataset_version
from operators.operators.policy import HardwareReadinessOperator, approval_branch
from operators.operators.portfolio import (
    PortfolioAggregateOperator,
    PortfolioBaselinesOperator,
    PortfolioEncodeOperator,
    PortfolioModelOperator,
    PortfolioOptimiseOperator,
    PortfolioPricesOperator,
    PortfolioValidateOperator,
)
from operators.operators.quantum_submit import QuantumSubmitOperator
from operators.retries import INFRASTRUCTURE_RETRIES

PARAMS = {
    "tickers": Param(
        None,
        type=["null", "string"],
        title="Tickers (comma-separated, optional)",
        description="Columns of the price table, e.g. AAPL,JNJ,KO,XOM; their count must equal n_assets. "
        "Empty: the table's first n_assets tickers (skfolio's S&P 500 extract: AAPL, AMD, BAC, BBY, CVX, GE, "
        "HD, JNJ, JPM, KO, LLY, MRK, MSFT, PEP, PFE, PG, RRC, UNH, WMT, XOM).",
    ),
    "n_assets": Param(8, type="integer", minimum=2, maximum=20, title="Number of assets N (qubits)"),
    "k": Param(4, type="integer", minimum=1, maximum=20, title="Assets to hold K (1 <= K <= N)"),
    "risk_aversion": Param(
        5.0,
        type="number",
        minimum=0,
        maximum=1000,
        title="Risk aversion q",
        description="The objective is q·wᵀΣw − μᵀw (annualised), w = 1/K on each held asset.",
    ),
    "lookback_days": Param(
        252, type="integer", minimum=30, maximum=8000, title="Estimation window (trading days of returns)"
    ),
    "holdout_days": Param(63, type="integer", minimum=2, maximum=2000, title="Held-out window after it (trading days)"),
    "max_gap_days": Param(
        7, type="integer", minimum=1, maximum=60, title="Largest calendar gap between two price rows"
    ),
    "reps": Param(2, type="integer", minimum=1, maximum=8, title="QAOA reps p"),
    "mixer": Param(
        "x",
        enum=["x", "xy"],
        title="QAOA mixer",
        description="x: the transverse field from |+>^N (the penalty keeps K assets); xy: the constraint-preserving "
        "XY ring mixer from a K-hot state (every ideal sample holds K assets).",
    ),
    "shots": Param(1024, type="integer", minimum=1, maximum=100_000, title="Shots per evaluation"),
    "optimiser": Param("COBYLA", enum=["COBYLA", "Nelder-Mead", "Powell"], title="Classical optimiser"),
    "max_iterations": Param(40, type="integer", minimum=1, maximum=2000, title="Max objective evaluations"),
    "loop_backend": Param(**loop_backend_param("QAOA loop", "one job each")),
    "backend": Param(
        "aer",
        enum=list(LOOP_BACKENDS),
        title="Backend for the final sampling",
        description="The optimum the loop found is sampled here (noisy fake backends model hardware).",
    ),
    "seed": Param(7, type="integer", minimum=0, title="Seed (simulator, transpiler, heuristics)"),
    "data_uri": Param(
        None,
        type=["null", "string"],
        title="Price table in S3 (optional)",
        description="s3://bucket/key.parquet or .csv with a 'date' column and one price column per ticker; "
        "empty: skfolio's bundled S&P 500 daily prices (1990-2022, read offline).",
    ),
}

FALLBACK_TIERS = (1, 2, 3, 4)  # quantum → classical heuristic → cached → result pending
QUEUE_SLA_SECONDS = 600.0  # a queued job waiting longer than this falls back
# Quantum value is judged per workload: the same problem shape on the same backend.
WORKLOAD = "portfolio_optimisation:{{ params.n_assets }}:{{ params.k }}:{{ params.risk_aversion }}:{{ params.backend }}"

APPROVED = "{{ (ti.xcom_pull(task_ids='approve') or {}).get('chosen_options') == ['Approve'] }}"
# Each field is rendered natively, so operators receive ints and strings, not text.
# A published portfolio_prices version (the asset-triggered run) sets the price table.
FROM_DATASET = ("data_uri",)
PROBLEM = {name: from_dataset_version(name) if name in FROM_DATASET else "{{ params." + name + " }}" for name in PARAMS}


@dag(
    dag_id="portfolio_optimisation",
    # Re-optimises when a new portfolio_prices version is published (debounced, de-duplicated by
    # content hash: docs/datasets.md); the form and the REST API still trigger it by hand.
    schedule=[dataset_asset("portfolio_prices")],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=INFRASTRUCTURE_RETRIES,  # a killed worker or an outage retries; bad data fails at once
    params=PARAMS,
    render_template_as_native_obj=True,
    tags=["qflow", "qaoa", "portfolio"],
    doc_md=__doc__,
)
def portfolio_optimisation() -> None:
    version = DatasetVersionOperator(task_id="dataset_version", dataset="portfolio_prices")
    prices = PortfolioPricesOperator(task_id="prices", problem=PROBLEM)
    version >> prices
    validation = PortfolioValidateOperator(task_id="validate", problem=PROBLEM, prices=prices.output)
    model = PortfolioModelOperator(task_id="model", problem=PROBLEM, prices=prices.output, validation=validation.output)
    encoding = PortfolioEncodeOperator(
        task_id="encode", problem=PROBLEM, model=model.output, validation=validation.output
    )
    optimise = PortfolioOptimiseOperator(
        task_id="optimise",
        trigger_rule="none_failed_min_one_success",  # after the approval gate, approved or not needed
        problem=PROBLEM,
        model=model.output,
        encoding=encoding.output,
        loop_backend="{{ params.loop_backend }}",
        approved=APPROVED,
    )
    baselines = PortfolioBaselinesOperator(
        task_id="baselines", problem=PROBLEM, model=model.output, validation=validation.output
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
        subject="Approve portfolio_optimisation: the loop on {{ params.loop_backend }}, "
        "the sample on {{ params.backend }}?",
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
        # Graceful degradation: quantum, then the best classical heuristic's selection, then a cached
        # result, then "result pending" (re-run later by pending_rerun). See docs/fallback.md.
        fallback_tiers=FALLBACK_TIERS,
        classical_source=baselines.output,
        queue_sla_seconds=QUEUE_SLA_SECONDS,
        workload=WORKLOAD,
    )
    readiness >> gate >> [approve, optimise]
    approve >> [optimise, sample]
    PortfolioAggregateOperator(
        task_id="aggregate",
        workload=WORKLOAD,
        stages={
            "sample": sample.output,
            "prices": prices.output,
            "validate": validation.output,
            "model": model.output,
            "encode": encoding.output,
            "optimise": optimise.output,
            "baselines": baselines.output,
        },
    )


portfolio_optimisation()
