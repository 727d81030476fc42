"""The classifier workload in the sweep: its grid, keys, skips, batches through the protocol,
collection beside MaxCut, dedup across nights, and its report section."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from include.benchmark.batches import run_batch
from include.benchmark.collect import collect_night
from include.benchmark.grid import SweepConfigError, SweepGrid
from include.benchmark.plan import plan_night
from include.benchmark.workloads import workload
from include.benchmark.workloads.vqc import comparisons, report_section
from include.store.artifacts import ArtifactStore
from tests.include.benchmark.conftest import prepared_for, small_grid

VQC_GRID: dict[str, Any] = {
    "workloads": ["maxcut", "vqc_classifier"],
    "families": ["maxcut_regular"],
    "sizes": [4],
    "seeds_per_size": 1,
    "vqc_datasets": ["iris"],
    "vqc_encodings": ["angle", "dense_angle"],
    "vqc_reps": [1],
    "vqc_shots": 64,
    "vqc_max_iterations": 4,
}


def _prepared(store: ArtifactStore, grid: SweepGrid) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """MaxCut's instances and the classifier's, prepared as the DAG's prepare tasks do."""
    prepared, skipped = prepared_for(store, grid)
    entry = workload("vqc_classifier")
    specs, more_skipped = entry.instance_specs(grid)
    return prepared + [entry.prepare(store, spec, grid) for spec in specs], skipped + more_skipped


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"workloads": ["maxcut", "portfolio"]}, "workloads"),
        ({"vqc_datasets": ["mnist"]}, "vqc_datasets"),
        ({"vqc_encodings": ["angle", "fourier"]}, "vqc_encodings"),
        ({"vqc_reps": [0]}, "vqc_reps"),
        ({"vqc_max_iterations": 0}, "vqc_max_iterations"),
    ],
)
def test_bad_classifier_params_name_the_param(change: dict[str, Any], named: str) -> None:
    with pytest.raises(SweepConfigError, match=named):
        small_grid(**change)


def test_classifier_cells_keyed_skipped_run_collected_and_reused(store: ArtifactStore, sweep_root: str) -> None:
    grid = small_grid(**VQC_GRID, backends=["aer:statevector", "braket:local", "jobservice"], noise=["ideal"])
    prepared, skipped = _prepared(store, grid)
    vqc_records = [r for r in prepared if r.get("workload") == "vqc_classifier"]
    assert len(vqc_records) == 1 and vqc_records[0]["n_train"] + vqc_records[0]["n_test"] == 100  # iris, 2 classes
    # The job service (unreachable here) holds no training loop: skipped with the reason, never "not run".
    plan = plan_night(
        store, f"{sweep_root}/night-1", grid, prepared, jobservice_url="http://127.0.0.1:9", skipped=skipped
    )
    frame = store.read_table(plan["plan"]["uri"])
    vqc = frame[frame["workload"] == "vqc_classifier"]
    assert sorted(zip(vqc["variant"], vqc["backend"], vqc["n_nodes"], strict=True)) == [
        ("angle", "aer:statevector", 4),
        ("angle", "braket:local", 4),
        ("dense_angle", "aer:statevector", 2),
        ("dense_angle", "braket:local", 2),
    ]
    assert vqc["experiment_key"].nunique() == 4  # distinct per encoding and backend
    skips = store.read_table(plan["skipped"]["uri"])
    vqc_skips = skips[skips["family"] == "vqc_iris"]
    assert list(vqc_skips["backend"]) == ["jobservice", "jobservice"]
    assert vqc_skips["reason"].str.contains("in-process backends only").all()
    not_run = store.read_table(plan["not_run"]["uri"])
    assert set(not_run["family"]) == {"maxcut_regular"}  # MaxCut's jobservice rows: unreachable, not run
    # Stable keys: planning the same grid again gives the same keys.
    again = store.read_table(
        plan_night(store, f"{sweep_root}/night-1b", grid, prepared, jobservice_url=None, skipped=skipped)["plan"]["uri"]
    )
    assert list(again[again["workload"] == "vqc_classifier"]["experiment_key"]) == list(vqc["experiment_key"])

    vqc_batches = [b for batches in plan["batches"].values() for b in batches if b["workload"] == "vqc_classifier"]
    assert len(vqc_batches) == 4 and all(len(b["experiment_ids"]) == 1 for b in vqc_batches)  # a loop per batch
    assert {b["pool"] for b in vqc_batches} == {"qflow_aer"}
    outcomes = [run_batch(store, b, night="night-1") for batches in plan["batches"].values() for b in batches]
    assert sum(o.executed for o in outcomes) == plan["to_run"]
    vqc_outcomes = [
        o
        for o, b in zip(outcomes, [b for bs in plan["batches"].values() for b in bs], strict=True)
        if b["workload"] == "vqc_classifier"
    ]
    assert all(o.pubs == 4 + 1 for o in vqc_outcomes)  # 4 training evaluations + the held-out split, each a job
    collected = collect_night(
        store, f"{sweep_root}/night-1", night="night-1", night_date="2026-12-07", plan=plan, prepared=prepared
    )
    results = store.read_table(collected["results"]["uri"])
    rows = results[results["workload"] == "vqc_classifier"]
    assert sorted(rows["method"].unique()) == ["logistic_regression", "rbf_svm", "vqc"]
    trained = rows[rows["method"] == "vqc"]
    assert len(trained) == 4 and trained["objective"].between(0, 1).all()
    assert trained["expected_objective"].between(0, 1).all() and trained["optimum"].isna().all()
    baselines = rows[rows["method"] != "vqc"]
    assert len(baselines) == 2 and (baselines["backend"] == "classical").all()
    assert set(results[results["workload"] == "maxcut"]["method"]) >= {"qaoa", "exact"}
    assert not results["reused"].any()

    second = plan_night(store, f"{sweep_root}/night-2", grid, prepared, jobservice_url=None, skipped=skipped)
    assert second["to_run"] == 0 and not second["batches"]  # nothing recomputed, the classifier included
    later = store.read_table(second["plan"]["uri"])
    assert (later[later["workload"] == "vqc_classifier"]["status"] == "reused").all()
    # Its preparation is reused too.
    assert workload("vqc_classifier").prepare(store, workload("vqc_classifier").instance_specs(grid)[0][0], grid)[
        "reused"
    ]


def _rows(accuracies: dict[str, float], instance: str = "i1") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "experiment_key": f"{instance}-{method}",
                "instance_hash": instance,
                "workload": "vqc_classifier",
                "family": "vqc_iris",
                "method": method,
                "variant": "angle" if method == "vqc" else "",
                "reps": 1 if method == "vqc" else 0,
                "backend": "aer:statevector" if method == "vqc" else "classical",
                "noise": "ideal" if method == "vqc" else "none",
                "shots": 64 if method == "vqc" else 0,
                "seed": 0,
                "n_nodes": 4,
                "objective": value,
            }
            for method, value in accuracies.items()
        ]
    )


def test_the_report_section_says_where_the_vqc_adds_nothing_from_the_figures() -> None:
    worse = report_section(_rows({"vqc": 0.80, "logistic_regression": 0.96, "rbf_svm": 1.0}))
    assert any(
        "never beat" in line and "quantum added nothing here" in line and "0.800 vs 1.000" in line
        for line in worse.headline
    )
    assert "1 of 1" in worse.headline[-1] and "Where the VQC adds nothing" in worse.html
    assert math.isclose(float(worse.statistics["gap"].iloc[0]), -0.2)
    better = report_section(_rows({"vqc": 0.92, "logistic_regression": 0.88, "rbf_svm": 0.84}))
    assert not any("quantum added nothing" in line for line in better.headline)
    assert any("beat the better classical baseline in 1 of 1" in line for line in better.headline)
    assert "0 of 1" in better.headline[-1]
    # A tie is not a win.
    tie = comparisons(_rows({"vqc": 1.0, "logistic_regression": 1.0, "rbf_svm": 1.0}))
    assert float(tie["gap"].iloc[0]) == 0.0
    assert any(
        "never beat" in line
        for line in report_section(_rows({"vqc": 1.0, "logistic_regression": 1.0, "rbf_svm": 1.0})).headline
    )
    nothing = report_section(_rows({"logistic_regression": 1.0, "rbf_svm": 1.0}))
    assert "no VQC results" in nothing.headline[0]
