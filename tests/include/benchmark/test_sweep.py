"""The sweep core against the real SeaweedFS and Aer: grid validation, content keys, planning with
duplicates and stored results, batches that run once (also on retry), and a night's collection."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from include.benchmark.sweep import (
    RESULT_COLUMNS,
    BackendIdentity,
    SweepConfigError,
    SweepGrid,
    collect_night,
    experiment_key,
    instance_specs,
    plan_night,
    prepare_instance,
    run_batch,
)
from include.store.artifacts import ArtifactStore


@pytest.fixture
def sweep_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    root = f"tests/sweep-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("QFLOW_SWEEP_ROOT", root)
    yield root


def small_grid(**overrides: Any) -> SweepGrid:
    values: dict[str, Any] = {
        "families": ["maxcut_regular", "maxcut_erdos_renyi"],
        "sizes": [4, 6],
        "seeds_per_size": 2,
        "reps": [1],
        "shots": [128],
        "noise": ["ideal"],
        "backends": ["aer:statevector"],
        "angle_evaluations": 30,
        **overrides,
    }
    return SweepGrid.from_params(values)


def prepared_for(store: ArtifactStore, grid: SweepGrid) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    specs, skipped = instance_specs(grid)
    return [prepare_instance(store, s, grid.reps, angle_evaluations=grid.angle_evaluations) for s in specs], skipped


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("families", ["maxcut_torus"], "families"),
        ("sizes", [6, 40], "sizes"),
        ("sizes", [], "sizes"),
        ("reps", [0], "reps"),
        ("shots", ["many"], "shots"),
        ("noise", ["fake_nowhere"], "noise"),
        ("backends", ["ibm:ibm_kyiv"], "backends"),
        ("deduplicate", "maybe", "deduplicate"),
        ("colour", "blue", "unknown sweep Param"),
    ],
)
def test_bad_grid_values_name_the_param(field: str, value: Any, says: str) -> None:
    with pytest.raises(SweepConfigError, match=says):
        SweepGrid.from_params({field: value})


def test_grid_accepts_comma_separated_lists_and_lists_instances_smallest_first() -> None:
    grid = SweepGrid.from_params({"sizes": "8, 5, 6", "families": "maxcut_regular", "seeds_per_size": 2})
    specs, skipped = instance_specs(grid)
    assert [s["n_nodes"] for s in specs] == [6, 6, 8, 8]  # 3-regular on 5 nodes cannot exist...
    assert {s["n_nodes"] for s in skipped} == {5} and "n_nodes * degree must be even" in skipped[0]["reason"]


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


def test_preparation_is_shared_by_identical_instances_and_reused(store: ArtifactStore, sweep_root: str) -> None:
    grid = small_grid(sizes=[4])
    prepared, _ = prepared_for(store, grid)
    # K4 four times (two families x two seeds): one content hash, prepared once.
    assert len({p["instance_hash"] for p in prepared}) == 1
    assert [p["reused"] for p in prepared] == [False, True, True, True]
    assert {(p["family"], p["seed"]) for p in prepared} == {
        (f, s) for f in ("maxcut_regular", "maxcut_erdos_renyi") for s in (0, 1)
    }
    record = prepared[0]
    assert record["optimum"] == 4.0  # max cut of K4
    assert 0 < record["angles"]["1"]["expected_cut"] <= 4.0
    # A later night asking for more reps adds the level without redoing the rest.
    deeper = prepare_instance(store, {k: record[k] for k in ("family", "n_nodes", "seed", "degree", "weights")}, [1, 2])
    assert not deeper["reused"] and set(deeper["angles"]) == {"1", "2"}
    assert deeper["angles"]["1"] == record["angles"]["1"]
    assert deeper["angles"]["2"]["expected_cut"] >= record["angles"]["1"]["expected_cut"] - 1e-9


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


def test_collect_lists_what_did_not_run_and_keeps_rows_complete(store: ArtifactStore, sweep_root: str) -> None:
    grid = small_grid(sizes=[6], families=["maxcut_regular"], max_pubs_per_job=1)
    prepared, skipped = prepared_for(store, grid)
    night_prefix = f"{sweep_root}/night"
    plan = plan_night(store, night_prefix, grid, prepared, jobservice_url=None, skipped=skipped)
    first, *rest = plan["batches"]["qflow_aer"]
    assert rest, "the test needs two batches"
    run_batch(store, first, night="cut-short")  # the night ends after the first batch
    collected = collect_night(
        store, night_prefix, night="cut-short", night_date="2026-11-24", plan=plan, prepared=prepared
    )
    results = store.read_table(collected["results"]["uri"])
    not_run = store.read_table(collected["not_run"]["uri"])
    assert collected["missing"] == len(not_run) == len(rest)
    assert len(results[results["method"] == "qaoa"]) == 1
    assert len(results[results["tier"] == 2]) == 2 * 4
    assert list(results.columns) == list(RESULT_COLUMNS)
    assert results.drop(columns=["approximation_ratio"]).notna().all().all()
    history = store.read_table(collected["history"]["uri"])
    assert set(history["night"]) == {"cut-short"}
    # Re-collecting the same night replaces its rows in the history rather than doubling them.
    again = collect_night(store, night_prefix, night="cut-short", night_date="2026-11-24", plan=plan, prepared=prepared)
    assert len(store.read_table(again["history"]["uri"])) == len(history)


def test_a_batch_submitted_twice_is_one_job_on_the_service(
    store: ArtifactStore, sweep_root: str, tmp_path: Path
) -> None:
    """A retried submission (the task died after submitting) finds the same job: same key."""
    import httpx

    from include.benchmark.sweep import finish_batch, submit_batch
    from include.emulator.process import JobServiceProcess
    from include.quantum.backends.execute import wait_for_result

    env = {**os.environ, "QFLOW_JOBSERVICE_NOISE": "off"}
    with JobServiceProcess(tmp_path / "jobs.sqlite", backend="fake_kolkata", env=env) as service:
        grid = small_grid(
            sizes=[6], families=["maxcut_regular"], backends=["jobservice"], noise=["ideal", "fake_kolkata"]
        )
        prepared, skipped = prepared_for(store, grid)
        plan = plan_night(store, f"{sweep_root}/night", grid, prepared, jobservice_url=service.url, skipped=skipped)
        assert "noise model off" in store.read_table(plan["skipped"]["uri"])["reason"].iloc[-1]
        (batch,) = plan["batches"]["qflow_jobservice"]
        first, backend = submit_batch(store, batch, jobservice_url=service.url)
        again, _ = submit_batch(store, batch, jobservice_url=service.url)
        assert first is not None and again is not None
        assert (again.job_id, again.job_key) == (first.job_id, first.job_key)
        assert httpx.get(f"{service.url}/admin/stats").json()["jobs"]["total"] == 1
        outcome = finish_batch(store, batch, first, wait_for_result(backend, first.job_id), night="n")
        assert outcome.executed == len(batch["experiment_ids"]) == 2
        # Everything stored: a third attempt submits nothing at all.
        assert submit_batch(store, batch, jobservice_url=service.url)[0] is None


def test_specs_that_make_the_same_graph_are_prepared_together(store: ArtifactStore, sweep_root: str) -> None:
    from include.benchmark.sweep import group_by_content, prepare_group

    grid = small_grid(sizes=[4, 6])
    specs, _ = instance_specs(grid)
    groups = group_by_content(specs)
    k4 = [g for g in groups if g[0]["n_nodes"] == 4]
    assert len(k4) == 1 and len(k4[0]) == 4  # both families, both seeds: one graph
    assert sorted(s["seed"] for g in groups for s in g) == sorted(s["seed"] for s in specs)  # nothing lost
    records = prepare_group(store, k4[0], grid.reps, angle_evaluations=grid.angle_evaluations)
    assert [r["reused"] for r in records] == [False, True, True, True]
    assert len({r["instance_hash"] for r in records}) == 1
