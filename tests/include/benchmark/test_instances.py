"""Instances against the real SeaweedFS: identical content is prepared once, together, and reused."""

from __future__ import annotations

from include.benchmark.instances import group_by_content, instance_specs, prepare_group, prepare_instance
from include.store.artifacts import ArtifactStore
from tests.include.benchmark.conftest import prepared_for, small_grid


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


def test_specs_that_make_the_same_graph_are_prepared_together(store: ArtifactStore, sweep_root: str) -> None:
    grid = small_grid(sizes=[4, 6])
    specs, _ = instance_specs(grid)
    groups = group_by_content(specs)
    k4 = [g for g in groups if g[0]["n_nodes"] == 4]
    assert len(k4) == 1 and len(k4[0]) == 4  # both families, both seeds: one graph
    assert sorted(s["seed"] for g in groups for s in g) == sorted(s["seed"] for s in specs)  # nothing lost
    records = prepare_group(store, k4[0], grid.reps, angle_evaluations=grid.angle_evaluations)
    assert [r["reused"] for r in records] == [False, True, True, True]
    assert len({r["instance_hash"] for r in records}) == 1
