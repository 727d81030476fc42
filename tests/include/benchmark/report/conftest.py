"""Shared builders of the report tests: a tidy night (real classical rows, seeded fabricated QAOA
rows), its history, and one rendered report."""

from __future__ import annotations

import hashlib
import io
import json
import math
from functools import cache

import numpy as np
import pandas as pd
import pytest

from include.benchmark.report.html import BenchmarkReport, render_report
from include.benchmark.schema import NIGHT_RESULT_DTYPES
from include.problems.baselines import random_sampling, run_baselines
from include.problems.maxcut import GraphSpec, make_graph

FAMILIES = {"maxcut_regular": ("regular", "unit"), "maxcut_erdos_renyi": ("erdos_renyi", "uniform")}
# (backend, noise, shots, reps): an ideal sweep over p and a noisy twin of p=2.
QAOA_CONFIGS = [
    ("aer:statevector", "ideal", 1024, 1),
    ("aer:statevector", "ideal", 1024, 2),
    ("aer:matrix_product_state", "fake_kolkata", 1024, 2),
]


def _key(payload: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@cache
def _instance(family: str, n_nodes: int, seed: int) -> tuple[str, tuple[tuple[str, float, float], ...]]:
    """(instance_hash, ((method, cut, seconds), ...)) from really running the baselines."""
    kind, weights = FAMILIES[family]
    edges = make_graph(GraphSpec(n_nodes, kind, 3, weights, seed))
    instance_hash = hashlib.sha256(edges.to_csv(index=False).encode()).hexdigest()
    runs = tuple((r.method, r.cut, r.seconds) for r in run_baselines(edges, n_nodes, seed))
    return instance_hash, runs


@cache
def _random(family: str, n_nodes: int, seed: int, shots: int) -> tuple[float, float, float]:
    """(best cut, mean cut, seconds) of REAL seeded random sampling with ``shots`` bitstrings."""
    kind, weights = FAMILIES[family]
    result = random_sampling(make_graph(GraphSpec(n_nodes, kind, 3, weights, seed)), n_nodes, shots, seed)
    return result.cut, result.expected_cut, result.seconds


def build_results(
    *,
    night: str = "night-3",
    night_date: str = "2025-01-03",
    sizes: tuple[int, ...] = (6, 8, 10),
    seeds: tuple[int, ...] = (1, 2, 3),
    families: tuple[str, ...] = tuple(FAMILIES),
    qaoa_configs: list[tuple[str, str, int, int]] | None = None,
    qaoa_families: tuple[str, ...] | None = None,
    rng_seed: int = 0,
    reused: bool = False,
    with_random: bool = True,
) -> pd.DataFrame:
    """A tidy results table of one night.

    Classical rows are REAL: seeded graphs from include.problems.maxcut.make_graph, solved by
    include.problems.baselines.run_baselines (exact, greedy, local_search, simulated_annealing) with
    their measured run times, and (``with_random``) random_sampling with each QAOA shot count.
    QAOA rows are FABRICATED with seeded randomness (numpy
    default_rng(rng_seed)): the best sampled cut is the optimum minus a random shortfall that
    grows with size and noise, the expected cut a random fraction below it, stage timings
    random but positive. Nothing here fixes an expected statistic; the tests recompute them.
    """
    rng = np.random.default_rng(rng_seed)
    configs = QAOA_CONFIGS if qaoa_configs is None else qaoa_configs
    quantum_families = families if qaoa_families is None else qaoa_families
    rows: list[dict[str, object]] = []
    for family in families:
        for n in sizes:
            for seed in seeds:
                instance_hash, runs = _instance(family, n, seed)
                optimum = next(cut for method, cut, _ in runs if method == "exact")
                base = {
                    "night": night,
                    "night_date": night_date,
                    "instance_hash": instance_hash,
                    "family": family,
                    "n_nodes": n,
                    "seed": seed,
                    "optimum": optimum,
                    "reused": reused,
                }
                for method, cut, seconds in runs:
                    rows.append(
                        base
                        | {
                            "experiment_key": _key({"i": instance_hash, "m": method}),
                            "method": method,
                            "backend": "classical",
                            "noise": "none",
                            "shots": 0,
                            "reps": 0,
                            "objective": cut,
                            "expected_objective": cut,
                            "angle_seconds": 0.0,
                            "compile_seconds": 0.0,
                            "queue_seconds": 0.0,
                            "execute_seconds": seconds,
                            "postprocess_seconds": 0.0,
                            "cost": 0.0,
                            "tier": 2,
                        }
                    )
                if family not in quantum_families:
                    continue
                for shots in sorted({c[2] for c in configs}) if with_random else []:
                    cut, mean, seconds = _random(family, n, seed, shots)
                    rows.append(
                        base
                        | {
                            "experiment_key": _key({"i": instance_hash, "m": "random_sampling", "s": shots}),
                            "method": "random_sampling",
                            "backend": "classical",
                            "noise": "none",
                            "shots": shots,
                            "reps": 0,
                            "objective": cut,
                            "expected_objective": mean,
                            "angle_seconds": 0.0,
                            "compile_seconds": 0.0,
                            "queue_seconds": 0.0,
                            "execute_seconds": seconds,
                            "postprocess_seconds": 0.0,
                            "cost": 0.0,
                            "tier": 2,
                        }
                    )
                for backend, noise, shots, reps in configs:
                    penalty = 0.04 * (n - 4) / reps + (0.08 if noise != "ideal" else 0.0)
                    best = optimum * (1.0 - rng.uniform(0.0, penalty))
                    expected = best * rng.uniform(0.6, 0.85) * (0.85 if noise != "ideal" else 1.0)
                    timings = rng.uniform([0.5, 0.05, 0.0, 0.2, 0.01], [3.0, 0.4, 0.1, 2.0, 0.05]) * (n / 6)
                    rows.append(
                        base
                        | {
                            "experiment_key": _key({"i": instance_hash, "c": [backend, noise, shots, reps]}),
                            "method": "qaoa",
                            "backend": backend,
                            "noise": noise,
                            "shots": shots,
                            "reps": reps,
                            "objective": best,
                            "expected_objective": expected,
                            "angle_seconds": timings[0],
                            "compile_seconds": timings[1],
                            "queue_seconds": timings[2],
                            "execute_seconds": timings[3],
                            "postprocess_seconds": timings[4],
                            "cost": 0.0,
                            "tier": 1,
                        }
                    )
    frame = pd.DataFrame(rows)
    frame["approximation_ratio"] = frame["objective"] / frame["optimum"]
    frame["expected_approximation_ratio"] = frame["expected_objective"] / frame["optimum"]
    stages = ["angle_seconds", "compile_seconds", "queue_seconds", "execute_seconds", "postprocess_seconds"]
    frame["time_to_solution_seconds"] = frame[stages].sum(axis=1)
    for col in ("n_nodes", "seed", "shots", "reps", "tier"):
        frame[col] = frame[col].astype("int64")
    frame["reused"] = frame["reused"].astype(bool)
    frame["workload"], frame["variant"] = "maxcut", ""
    frame["feasible_share"] = math.nan  # a portfolio figure; MaxCut rows have none
    return frame[list(NIGHT_RESULT_DTYPES)]


def build_history(nights: int, **kwargs: object) -> pd.DataFrame:
    """Earlier nights: the same grid re-run with a different QAOA rng seed per night, classical reused."""
    frames = [
        build_results(night=f"night-{i}", night_date=f"2025-01-{i:02d}", rng_seed=100 + i, reused=True, **kwargs)  # type: ignore[arg-type]
        for i in range(1, nights + 1)
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return build_results()


@pytest.fixture(scope="module")
def report(results: pd.DataFrame) -> BenchmarkReport:
    skipped = pd.DataFrame(
        [
            {
                "family": "maxcut_regular",
                "n_nodes": 40,
                "seed": 0,
                "backend": "aer:statevector",
                "noise": "ideal",
                "reason": "<too big>",
            }
        ]
    )
    not_run = skipped.assign(reason="budget exhausted", experiment_key="abc123")
    return render_report(results, build_history(2), night="night-3", skipped=skipped, not_run=not_run)


# --- statistics ---------------------------------------------------------------------------------


def assert_valid_png(data: bytes) -> None:
    from matplotlib.image import imread

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
    pixels = imread(io.BytesIO(data), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 300 and pixels.shape[1] > 500
    assert float(pixels[..., :3].var()) > 0.0  # not blank
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - PIL is optional
        return
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
