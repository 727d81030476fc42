"""The plan: content keys, duplicates and stored results marked, batches cut cheapest first."""

from __future__ import annotations

from typing import Any

from include.benchmark.batches import run_batch
from include.benchmark.plan import BackendIdentity, experiment_key, plan_night
from include.store.artifacts import ArtifactStore
from tests.include.benchmark.conftest import prepared_for, small_grid


def test_experiment_key_changes_with_everything_that_runs() -> None:
    identity = BackendIdentity("aer:statevector", "ideal", "aer:statevector", "ideal", "cal")
    base: dict[str, Any] = {
        "structure": "s",
        "parameters": [0.1, 0.2],
        "shots": 100,
        "identity": identity,
        "instance": "i",
    }
    key = experiment_key(**base)
    assert key == experiment_key(**base)
    other_identity = BackendIdentity("aer:statevector", "fake_kolkata", "x", "fake_kolkata", "cal")
    changes: list[dict[str, Any]] = [
        {"structure": "t"},
        {"parameters": [0.1, 0.3]},
        {"shots": 101},
        {"identity": other_identity},
        {"instance": "j"},
    ]
    for change in changes:
        assert experiment_key(**{**base, **change}) != key, change


def _run_all(store: ArtifactStore, plan: dict[str, Any], night: str) -> list[Any]:
    return [run_batch(store, b, night=night) for batches in plan["batches"].values() for b in batches]


def test_duplicates_run_once_and_a_second_night_reuses_everything(store: ArtifactStore, sweep_root: str) -> None:
    grid = small_grid(backends=["aer:statevector", "aer:matrix_product_state"])
    prepared, skipped = prepared_for(store, grid)
    plan = plan_night(store, f"{sweep_root}/night-1", grid, prepared, jobservice_url=None, skipped=skipped)
    frame = store.read_table(plan["plan"]["uri"])
    assert plan["experiments"] == len(frame) == 8 * 2
    assert plan["to_run"] == frame["experiment_key"].nunique()
    assert plan["duplicates"] == len(frame) - frame["experiment_key"].nunique() >= 6  # the K4 copies
    outcomes = _run_all(store, plan, "night-1")
    assert sum(o.executed for o in outcomes) == plan["to_run"]
    # A retried batch finds its results stored and runs nothing.
    assert all(run_batch(store, b, night="retry").executed == 0 for b in plan["batches"]["qflow_aer"])

    second = plan_night(store, f"{sweep_root}/night-2", grid, prepared, jobservice_url=None, skipped=skipped)
    assert second["to_run"] == 0 and second["reused"] == second["experiments"] and not second["batches"]


def test_batches_hold_at_most_max_pubs_and_run_cheapest_first(store: ArtifactStore, sweep_root: str) -> None:
    grid = small_grid(sizes=[6, 8], max_pubs_per_job=3)
    prepared, skipped = prepared_for(store, grid)
    plan = plan_night(store, f"{sweep_root}/night", grid, prepared, jobservice_url=None, skipped=skipped)
    batches = plan["batches"]["qflow_aer"]
    assert all(len(b["experiment_ids"]) <= 3 for b in batches)
    assert [b["max_nodes"] for b in batches] == sorted(b["max_nodes"] for b in batches)
    assert [b["batch"] for b in batches] == list(range(len(batches)))


def test_without_deduplication_every_row_runs(store: ArtifactStore, sweep_root: str) -> None:
    grid = small_grid(sizes=[4], deduplicate=False, max_pubs_per_job=1)
    prepared, skipped = prepared_for(store, grid)
    plan = plan_night(store, f"{sweep_root}/night", grid, prepared, jobservice_url=None, skipped=skipped)
    assert plan["to_run"] == plan["experiments"] == 4 and plan["duplicates"] == 0
    assert len(plan["batches"]["qflow_aer"]) == 4  # one circuit per job
    assert sum(o.executed for o in _run_all(store, plan, "n")) == 4
