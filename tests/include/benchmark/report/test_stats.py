"""The report's statistics (include/benchmark/report/stats.py): across seeds, value added vs heuristics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.benchmark.report.html import render_report
from include.benchmark.report.stats import (
    CELL_COLUMNS,
    METRICS,
    cell_statistics,
    instance_value_added,
    quantum_value_added,
)
from include.problems.baselines import HEURISTICS


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


def test_value_added_is_qaoa_minus_the_best_heuristic_or_random_never_exact(results: pd.DataFrame) -> None:
    per_instance = instance_value_added(results)
    qaoa = results[results["method"] == "qaoa"]
    assert len(per_instance) == len(qaoa)
    for _, q in qaoa.iterrows():
        instance = results["instance_hash"] == q["instance_hash"]
        same = results[instance & results["method"].isin(HEURISTICS)]
        random = results[instance & (results["method"] == "random_sampling") & (results["shots"] == q["shots"])]
        assert len(random) == 1  # the same-shots random baseline of this instance
        expected = q["approximation_ratio"] - max(
            same["approximation_ratio"].max(), random["approximation_ratio"].item()
        )
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


def test_random_sampling_counts_as_a_competitor_when_it_beats_the_heuristics(results: pd.DataFrame) -> None:
    """Handicap the heuristics: random bitstrings with the same shots are then what QAOA must beat."""
    from include.benchmark.report.headline import random_baseline_sentences

    tweaked = results.copy()
    tweaked.loc[tweaked["method"].isin(HEURISTICS), "approximation_ratio"] = 0.1
    per_instance = instance_value_added(tweaked)
    assert set(per_instance["best_classical"]) == {"random_sampling"}
    assert (per_instance["value_added"] == per_instance["qaoa_ratio"] - per_instance["random_ratio"]).all()
    without = instance_value_added(tweaked[tweaked["method"] != "random_sampling"])
    assert (without["value_added"] > per_instance["value_added"]).all()  # random made the bar higher
    first, second = random_baseline_sentences(per_instance)
    assert first.startswith("Expected cut (QAOA's headline figure") and "uniform random bitstrings" in first
    assert "random bitstrings with the same shots" in second
