"""The nightly sweep's tables: the tidy results (one row per experiment, in this column order),
and the skipped / not-run lists.

Its own light module (pandas only), because both the sweep that writes the tables and the report
that reads them use it. Not to be confused with ``include.quantum.backends.results.JOB_RESULT_DTYPES``
(one row per bitstring of a job's normalised result).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

NIGHT_RESULT_DTYPES: dict[str, str] = {
    "night": "string",  # the night's id (its DAG run id)
    "night_date": "string",  # ISO date of the night, for the trend
    "experiment_key": "string",  # sha256 of what ran
    "instance_hash": "string",  # content hash of the problem instance
    "workload": "string",  # maxcut | vqc_classifier (include.benchmark.workloads.WORKLOADS)
    "family": "string",  # maxcut_regular | maxcut_erdos_renyi | vqc_<data set>
    "n_nodes": "int64",  # MaxCut: nodes (= qubits); VQC: qubits of the encoding (classical: features)
    "seed": "int64",  # MaxCut: the graph's seed; VQC: the train/test split's seed
    # qaoa | exact | greedy | local_search | simulated_annealing | random_sampling; vqc | logistic_regression | rbf_svm
    "method": "string",
    "variant": "string",  # the workload's configuration beyond reps: VQC its encoding; "" for MaxCut
    "backend": "string",  # aer:statevector, aer:matrix_product_state, jobservice, ...; classical
    "noise": "string",  # ideal or a fake-backend noise model that really applied; none (classical)
    "shots": "int64",  # 0 for classical
    "reps": "int64",  # QAOA p; 0 for classical
    # best cut found (QAOA: the best sampled bitstring's cut); VQC and its baselines: held-out accuracy
    "objective": "float64",
    "expected_objective": "float64",  # QAOA: mean cut over shots; VQC: training accuracy; classical: = objective
    "optimum": "float64",  # exact max cut; NaN where there is none (the classifier)
    "approximation_ratio": "float64",
    "expected_approximation_ratio": "float64",
    # Portfolio: the share of sampled bitstrings holding exactly K assets (at the optimiser's best θ;
    # random sampling: of its draws; the selection heuristics: 1). NaN for the other workloads.
    "feasible_share": "float64",
    "angle_seconds": "float64",
    "compile_seconds": "float64",
    "queue_seconds": "float64",
    "execute_seconds": "float64",  # classical: its run time
    "postprocess_seconds": "float64",
    "time_to_solution_seconds": "float64",  # sum of the stage timings
    "cost": "float64",  # spend in the policy's currency
    "tier": "int64",  # 1 quantum, 2 classical
    "reused": "bool",  # came from the store (an earlier night, or a duplicate tonight)
}
# The per-experiment part of a result row (stored per experiment; a night adds the night columns).
EXPERIMENT_RESULT_COLUMNS: tuple[str, ...] = tuple(
    c for c in NIGHT_RESULT_DTYPES if c not in ("night", "night_date", "reused")
)
# The stage timings whose sum is time_to_solution_seconds.
EXPERIMENT_TIMING_COLUMNS: tuple[str, ...] = (
    "angle_seconds",
    "compile_seconds",
    "queue_seconds",
    "execute_seconds",
    "postprocess_seconds",
)
# Combinations of the grid that were not attempted, and planned experiments with no result.
SKIPPED_COLUMNS: tuple[str, ...] = ("family", "n_nodes", "seed", "backend", "noise", "reason")
NOT_RUN_COLUMNS: tuple[str, ...] = (*SKIPPED_COLUMNS, "experiment_key")


# Defaults of the columns added with the second workload, for tables written before them.
ADDED_COLUMN_DEFAULTS: dict[str, Any] = {"workload": "maxcut", "variant": "", "feasible_share": math.nan}


def with_added_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A results table (or history, or stored result) written before ``workload``/``variant``/
    ``feasible_share`` existed: those rows are MaxCut's (or the classifier's), with no variant and no
    feasible share."""
    missing = {c: v for c, v in ADDED_COLUMN_DEFAULTS.items() if c not in frame.columns}
    return frame.assign(**missing) if missing else frame


def classical_result_row(
    record: Mapping[str, Any],
    *,
    experiment_key: str,
    workload: str,
    method: str,
    objective: float,
    optimum: float,
    seconds: float,
    reused: bool,
    shots: int = 0,
    expected_objective: float | None = None,
    feasible_share: float = math.nan,
) -> dict[str, Any]:
    """A classical baseline's result row on a prepared instance (``record``: its hash, family,
    size and seed): tier 2, no quantum stages, its run time as the execute time."""
    expected = objective if expected_objective is None else expected_objective
    return {
        "experiment_key": experiment_key,
        "instance_hash": record["instance_hash"],
        "workload": workload,
        "family": record["family"],
        "n_nodes": int(record["n_nodes"]),
        "seed": int(record["seed"]),
        "method": method,
        "variant": "",
        "backend": "classical",
        "noise": "none",
        "shots": shots,
        "reps": 0,
        "objective": objective,
        "expected_objective": expected,
        "optimum": optimum,
        "approximation_ratio": objective / optimum if optimum > 0 else math.nan,
        "expected_approximation_ratio": expected / optimum if optimum > 0 else math.nan,
        "feasible_share": feasible_share,
        "angle_seconds": 0.0,
        "compile_seconds": 0.0,
        "queue_seconds": 0.0,
        "execute_seconds": seconds,
        "postprocess_seconds": 0.0,
        "time_to_solution_seconds": seconds,
        "cost": 0.0,
        "tier": 2,
        "reused": reused,
    }


def skipped_row(family: str, n_nodes: int, seed: int, backend: str, noise: str, reason: str) -> dict[str, Any]:
    """One row of the skipped (``SKIPPED_COLUMNS``) or, with its key, not-run list."""
    return {"family": family, "n_nodes": n_nodes, "seed": seed, "backend": backend, "noise": noise, "reason": reason}


def empty_frame(columns: Mapping[str, str]) -> pd.DataFrame:
    """An empty table with these columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
