"""The report page (include/benchmark/report/html.py) and its headline: says where quantum adds nothing,
escapes every cell, renders thin and empty nights."""

from __future__ import annotations

import pandas as pd
import pytest

from include.benchmark.report.html import BenchmarkReport, render_report
from include.benchmark.report.plots import IMAGES
from include.benchmark.report.stats import cell_statistics, quantum_value_added
from include.problems.baselines import HEURISTICS
from tests.include.benchmark.report.conftest import assert_valid_png, build_results


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
    heuristic = small & tweaked["method"].isin([*HEURISTICS, "random_sampling"])  # every competitor
    tweaked.loc[heuristic, "approximation_ratio"] = 0.5
    tweaked.loc[small & (tweaked["method"] == "qaoa"), "approximation_ratio"] = 1.0
    report = render_report(tweaked, pd.DataFrame(), night="night-3")
    sizes = sorted(results["n_nodes"].unique())
    text = " ".join(report.headline)
    assert f"on any instance of size ≥ {sizes[1]}" in text
    assert "QAOA beat the best classical heuristic or random sampling in" in text
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
        assert_valid_png(data)
    if case == "no_qaoa_at_all":
        assert any("No QAOA results" in line for line in report.headline)
    if case == "family_without_qaoa":
        assert set(quantum_value_added(results)["family"]) == {"maxcut_regular"}
        assert any("No QAOA results for maxcut_erdos_renyi" in line for line in report.headline)


def test_history_of_only_tonight_renders(results: pd.DataFrame) -> None:
    """First night: the history the DAG passes is just tonight's table (counted once in the trend)."""
    report = render_report(results, results, night="night-3")
    assert_valid_png(report.images["trend.png"])
    assert "nights in the trend: 1" in report.html


def test_empty_history_and_empty_results_render() -> None:
    empty = build_results().iloc[0:0]
    report = render_report(empty, pd.DataFrame(), night="<empty & night>")
    assert "&lt;empty &amp; night&gt;" in report.html and "<empty" not in report.html
    assert set(report.images) == set(IMAGES)
    for data in report.images.values():
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert "rows: 0" in report.html
