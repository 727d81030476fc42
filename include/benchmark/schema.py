"""The nightly sweep's tidy results schema: one row per experiment, in this column order.

Its own light module (pandas dtypes only), because both the sweep that writes the table and
the report that reads it use it.
"""

from __future__ import annotations

RESULT_COLUMNS: dict[str, str] = {
    "night": "string",  # the night's id (its DAG run id)
    "night_date": "string",  # ISO date of the night, for the trend
    "experiment_key": "string",  # sha256 of what ran
    "instance_hash": "string",  # content hash of the problem instance
    "family": "string",  # maxcut_regular | maxcut_erdos_renyi
    "n_nodes": "int64",
    "seed": "int64",
    "method": "string",  # qaoa | exact | greedy | local_search | simulated_annealing
    "backend": "string",  # aer:statevector, aer:matrix_product_state, jobservice, ...; classical
    "noise": "string",  # ideal or a fake-backend noise model that really applied; none (classical)
    "shots": "int64",  # 0 for classical
    "reps": "int64",  # QAOA p; 0 for classical
    "objective": "float64",  # best cut found (QAOA: the best sampled bitstring's cut)
    "expected_objective": "float64",  # QAOA: mean cut over shots; classical: = objective
    "optimum": "float64",  # exact max cut
    "approximation_ratio": "float64",
    "expected_approximation_ratio": "float64",
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
TIMING_COLUMNS: tuple[str, ...] = (
    "angle_seconds",
    "compile_seconds",
    "queue_seconds",
    "execute_seconds",
    "postprocess_seconds",
)
# Combinations of the grid that were not attempted, and planned experiments with no result.
SKIPPED_COLUMNS: tuple[str, ...] = ("family", "n_nodes", "seed", "backend", "noise", "reason")
NOT_RUN_COLUMNS: tuple[str, ...] = (*SKIPPED_COLUMNS, "experiment_key")
