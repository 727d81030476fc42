"""The nightly benchmark's statistics and report (include/benchmark/report.py)."""

from __future__ import annotations

import hashlib
import io
import json
import re
from functools import cache

import numpy as np
import pandas as pd
import pytest

from include.benchmark.report import (
    CELL_COLUMNS,
    IMAGES,
    METRICS,
    RESULT_COLUMNS,
    BenchmarkReport,
    cell_statistics,
    instance_value_added,
    quantum_value_added,
    render_report,
)
from include.problems.baselines import HEURISTICS, run_baselines
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
) -> pd.DataFrame:
    """A tidy results table of one night.

    Classical rows are REAL: seeded graphs from include.problems.maxcut.make_graph, solved by
    include.problems.baselines.run_baselines (exact, greedy, local_search, simulated_annealing) with
    their measured run times. QAOA rows are FABRICATED with seeded randomness (numpy
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
    return frame[list(RESULT_COLUMNS)]


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


def test_cell_statistics_match_numpy_across_seeds(results: pd.DataFrame) -> None:
    stats = cell_statistics(results)
    assert len(stats) == results.groupby(list(CELL_COLUMNS)).ngroups
    for _, cell in stats.iterrows():
        mask = np.ones(len(results), dtype=bool)
        for col in CELL_COLUMNS:
            mask &= (results[col] == cell[col]).to_numpy()
        assert cell["n_seeds"] == len(set(results.loc[mask, "seed"]))
        for metric in METRICS:
            values = results.loc[mask, metric].to_numpy(dtype=float)
            assert cell[f"{metric}_count"] == len(values)
            assert cell[f"{metric}_median"] == pytest.approx(np.median(values))
            assert cell[f"{metric}_mean"] == pytest.approx(np.mean(values))
            q25, q75 = np.percentile(values, [25, 75])
            assert cell[f"{metric}_q25"] == pytest.approx(q25)
            assert cell[f"{metric}_q75"] == pytest.approx(q75)
            assert cell[f"{metric}_iqr"] == pytest.approx(q75 - q25)
            assert cell[f"{metric}_variance"] == pytest.approx(np.var(values, ddof=1))


def test_a_single_seed_has_nan_variance_and_duplicates_count_once(results: pd.DataFrame) -> None:
    one_seed = results[results["seed"] == 1]
    doubled = pd.concat([one_seed, one_seed.assign(reused=True)], ignore_index=True)
    stats = cell_statistics(doubled)
    assert (stats["approximation_ratio_count"] == 1).all()
    assert stats["approximation_ratio_variance"].isna().all()
    assert (stats["approximation_ratio_iqr"] == 0).all()


@pytest.mark.parametrize("function", [cell_statistics, quantum_value_added, instance_value_added])
def test_a_missing_column_is_named(results: pd.DataFrame, function: object) -> None:
    broken = results.drop(columns=["approximation_ratio", "noise"])
    with pytest.raises(ValueError, match=r"approximation_ratio") as error:
        function(broken)  # type: ignore[operator]
    assert "'noise'" in str(error.value)


def test_render_report_names_missing_columns_of_every_input(results: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="reps"):
        render_report(results.drop(columns=["reps"]), results, night="n")
    with pytest.raises(ValueError, match=r"history.*night_date"):
        render_report(results, results.drop(columns=["night_date"]), night="n")
    with pytest.raises(ValueError, match=r"skipped.*reason"):
        render_report(results, results, night="n", skipped=pd.DataFrame({"family": ["x"]}))


def test_value_added_is_qaoa_minus_the_best_heuristic_never_exact(results: pd.DataFrame) -> None:
    per_instance = instance_value_added(results)
    qaoa = results[results["method"] == "qaoa"]
    assert len(per_instance) == len(qaoa)
    for _, q in qaoa.iterrows():
        same = results[(results["instance_hash"] == q["instance_hash"]) & results["method"].isin(HEURISTICS)]
        expected = q["approximation_ratio"] - same["approximation_ratio"].max()
        match = per_instance[
            (per_instance["instance_hash"] == q["instance_hash"])
            & (per_instance["backend"] == q["backend"])
            & (per_instance["noise"] == q["noise"])
            & (per_instance["reps"] == q["reps"])
        ]
        assert match["value_added"].item() == pytest.approx(expected)
        assert match["best_heuristic"].item() in HEURISTICS
    summary = quantum_value_added(results)
    for _, cell in summary.iterrows():
        values = per_instance[
            (per_instance["family"] == cell["family"])
            & (per_instance["n_nodes"] == cell["n_nodes"])
            & (per_instance["backend"] == cell["backend"])
            & (per_instance["reps"] == cell["reps"])
        ]["value_added"].to_numpy(dtype=float)
        q25, q75 = np.percentile(values, [25, 75])
        assert cell["median"] == pytest.approx(np.median(values))
        assert cell["iqr"] == pytest.approx(q75 - q25)
        assert cell["wins"] == int((values > 1e-9).sum())


def test_exact_is_the_reference_not_a_competitor(results: pd.DataFrame) -> None:
    """Remove every heuristic: nothing is left to compare QAOA with, even though exact is there."""
    only_exact = results[~results["method"].isin(HEURISTICS)]
    assert instance_value_added(only_exact).empty
    assert quantum_value_added(only_exact).empty


# --- the report ---------------------------------------------------------------------------------


def _assert_valid_png(data: bytes) -> None:
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


def test_report_images_are_real_pngs_referenced_by_the_html(report: BenchmarkReport) -> None:
    assert set(report.images) == set(IMAGES)
    for name, data in report.images.items():
        _assert_valid_png(data)
        assert f"src='{name}'" in report.html
    # Self-contained: no scripts, no external resources beyond the PNGs beside it.
    assert "<script" not in report.html
    assert set(re.findall(r"src='([^']+)'", report.html)) == set(IMAGES)


def test_report_says_where_quantum_adds_nothing(results: pd.DataFrame, report: BenchmarkReport) -> None:
    value = quantum_value_added(results)
    assert (value["median"] <= 0).any()  # the fixture's heuristics reach the optimum at these sizes
    assert any("never beat the best classical heuristic" in line for line in report.headline)
    assert "never beat the best classical heuristic" in report.html
    assert "Where quantum adds nothing" in report.html
    assert len(report.statistics) == len(cell_statistics(results))


def test_report_says_where_qaoa_won_and_from_which_size_it_stopped(results: pd.DataFrame) -> None:
    """Handicap the heuristics at the smallest size so QAOA (boosted to the optimum) wins there only."""
    tweaked = results.copy()
    small = tweaked["n_nodes"] == tweaked["n_nodes"].min()
    heuristic = small & tweaked["method"].isin(HEURISTICS)
    tweaked.loc[heuristic, "approximation_ratio"] = 0.5
    tweaked.loc[small & (tweaked["method"] == "qaoa"), "approximation_ratio"] = 1.0
    report = render_report(tweaked, pd.DataFrame(), night="night-3")
    sizes = sorted(results["n_nodes"].unique())
    text = " ".join(report.headline)
    assert f"on any instance of size ≥ {sizes[1]}" in text
    assert "QAOA beat the best classical heuristic in" in text
    value = quantum_value_added(tweaked)
    assert not value[value["n_nodes"] == sizes[0]]["adds_nothing"].any()
    assert value[value["n_nodes"] > sizes[0]]["adds_nothing"].all()


def test_report_tables_counts_and_escaping(results: pd.DataFrame, report: BenchmarkReport) -> None:
    assert "&lt;too big&gt;" in report.html and "<too big>" not in report.html
    assert "budget exhausted" in report.html and "abc123" in report.html
    assert f"rows: {len(results)}" in report.html
    assert "reused results (from the store): 0" in report.html
    assert "variance" in report.html and "IQR" in report.html
    assert any("0 of them reused" in line for line in report.headline)


THIN_CASES = {
    "one_night_single_size": dict(sizes=(8,)),
    "no_noisy_rows": dict(qaoa_configs=[("aer:statevector", "ideal", 1024, 1)]),
    "family_without_qaoa": dict(qaoa_families=("maxcut_regular",)),
    "no_qaoa_at_all": dict(qaoa_configs=[]),
    "one_family_one_seed": dict(families=("maxcut_erdos_renyi",), seeds=(4,), sizes=(6,)),
}


@pytest.mark.parametrize("case", sorted(THIN_CASES))
def test_thin_data_renders_without_crashing(case: str) -> None:
    kwargs = THIN_CASES[case]
    results = build_results(**kwargs)  # type: ignore[arg-type]
    report = render_report(results, build_results(night="night-1", night_date="2025-01-01", **kwargs), night="x")  # type: ignore[arg-type]
    for data in report.images.values():
        _assert_valid_png(data)
    if case == "no_qaoa_at_all":
        assert any("No QAOA results" in line for line in report.headline)
    if case == "family_without_qaoa":
        assert set(quantum_value_added(results)["family"]) == {"maxcut_regular"}
        assert any("No QAOA results for maxcut_erdos_renyi" in line for line in report.headline)


def test_history_of_only_tonight_renders(results: pd.DataFrame) -> None:
    """First night: the history the DAG passes is just tonight's table (counted once in the trend)."""
    report = render_report(results, results, night="night-3")
    _assert_valid_png(report.images["trend.png"])
    assert "nights in the trend: 1" in report.html


def test_empty_history_and_empty_results_render() -> None:
    empty = build_results().iloc[0:0]
    report = render_report(empty, pd.DataFrame(), night="<empty & night>")
    assert "&lt;empty &amp; night&gt;" in report.html and "<empty" not in report.html
    assert set(report.images) == set(IMAGES)
    for data in report.images.values():
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert "rows: 0" in report.html
