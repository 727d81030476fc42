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


def test_braket_local_runs_ideal_and_skips_the_ibm_noise_models_with_the_reason(
    store: ArtifactStore, sweep_root: str
) -> None:
    from include.benchmark.collect import collect_night

    grid = small_grid(
        families=["maxcut_regular"],
        sizes=[4],
        seeds_per_size=1,
        noise=["ideal", "fake_manila"],
        backends=["aer:statevector", "braket:local"],
    )
    prepared, skipped = prepared_for(store, grid)
    plan = plan_night(store, f"{sweep_root}/night", grid, prepared, jobservice_url=None, skipped=skipped)
    frame = store.read_table(plan["plan"]["uri"])
    braket = frame[frame["backend"] == "braket:local"]
    assert list(braket["noise"]) == ["ideal"] and list(braket["spec"]) == ["braket:local"]
    # Its own key: not the Aer experiment's, although the circuit and the shots are the same.
    aer_ideal = frame[(frame["backend"] == "aer:statevector") & (frame["noise"] == "ideal")]
    assert set(braket["experiment_key"]).isdisjoint(aer_ideal["experiment_key"])
    skips = store.read_table(plan["skipped"]["uri"])
    braket_skips = skips[skips["backend"] == "braket:local"]
    assert list(braket_skips["noise"]) == ["fake_manila"]
    assert "noise-free" in braket_skips["reason"].iloc[0] and "Aer only" in braket_skips["reason"].iloc[0]
    assert not len(skips[skips["backend"] == "aer:statevector"])  # Aer takes the fake noise model
    assert {b["spec"] for b in plan["batches"]["qflow_aer"]} == {
        "braket:local",
        "aer:statevector",
        "aer:statevector:fake_manila",
    }
    outcomes = _run_all(store, plan, "night")
    assert sum(o.executed for o in outcomes) == plan["to_run"] == 3
    collected = collect_night(
        store, f"{sweep_root}/night", night="night", night_date="2026-12-07", plan=plan, prepared=prepared
    )
    results = store.read_table(collected["results"]["uri"])
    row = results[(results["method"] == "qaoa") & (results["backend"] == "braket:local")]
    assert len(row) == 1 and 0 < float(row["approximation_ratio"].iloc[0]) <= 1 and collected["missing"] == 0
