"""Shared fixtures of the nightly sweep tests: a fresh sweep root per test and a small grid."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from include.benchmark.grid import SweepGrid
from include.benchmark.instances import instance_specs, prepare_instance
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


def planned_batches(
    store: ArtifactStore, sweep_root: str, jobservice_url: str | None = None, **grid_overrides: Any
) -> dict[str, Any]:
    """The night's plan of ``small_grid(**grid_overrides)`` with its instances prepared."""
    from include.benchmark.plan import plan_night

    grid = small_grid(**grid_overrides)
    prepared, skipped = prepared_for(store, grid)
    return plan_night(store, f"{sweep_root}/night", grid, prepared, jobservice_url=jobservice_url, skipped=skipped)


def one_small_batch(store: ArtifactStore, sweep_root: str, pool: str, jobservice_url: str | None = None) -> Any:
    """The single batch of a one-instance night (one 4-node regular MaxCut) in ``pool``."""
    backends = ["jobservice"] if pool == "qflow_jobservice" else ["aer:statevector"]
    plan = planned_batches(
        store, sweep_root, jobservice_url, sizes=[4], families=["maxcut_regular"], seeds_per_size=1, backends=backends
    )
    (batch,) = plan["batches"][pool]
    return batch
