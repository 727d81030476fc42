"""The portfolio workload in the sweep: its grid (N × K × q × windows), skipped combinations with
their reasons, stable distinct keys, loops through the protocol, collection beside MaxCut, dedup
across nights, and its report section's computed "quantum adds nothing" sentence both ways."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from include.benchmark.batches import run_batch
from include.benchmark.collect import collect_night
from include.benchmark.grid import SweepConfigError, SweepGrid
from include.benchmark.plan import plan_night
from include.benchmark.report.html import render_report
from include.benchmark.workloads import workload
from include.benchmark.workloads.portfolio import NAME, comparisons, report_section
from include.store.artifacts import ArtifactStore
from tests.include.benchmark.conftest import prepared_for, small_grid

PORTFOLIO_GRID: dict[str, Any] = {
    "workloads": ["maxcut", NAME],
    "families": ["maxcut_regular"],
    "sizes": [4],
    "seeds_per_size": 1,
    "portfolio_sizes": [4],
    "portfolio_ks": [0],
    "portfolio_risk_aversions": [5.0],
    "portfolio_windows": 1,
    "portfolio_reps": [1],
    "portfolio_mixers": ["x", "xy"],
    "portfolio_shots": 64,
    "portfolio_max_iterations": 4,
}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"portfolio_sizes": [6, 21]}, "portfolio_sizes"),
        ({"portfolio_ks": [-1]}, "portfolio_ks"),
        ({"portfolio_risk_aversions": ["high"]}, "portfolio_risk_aversions"),
        ({"portfolio_risk_aversions": [-1]}, "portfolio_risk_aversions"),
        ({"portfolio_mixers": ["grover"]}, "portfolio_mixers"),
        ({"portfolio_windows": 0}, "portfolio_windows"),
        ({"portfolio_max_iterations": 0}, "portfolio_max_iterations"),
    ],
)
def test_bad_portfolio_params_name_the_param(change: dict[str, Any], named: str) -> None:
    with pytest.raises(SweepConfigError, match=named):
        small_grid(**change)


def test_the_default_grid_has_small_portfolio_cells() -> None:
    grid = SweepGrid()
    assert NAME in grid.workloads
    specs, skipped = workload(NAME).instance_specs(grid)
    assert [(s["n_assets"], s["k"], s["window"]) for s in specs] == [(6, 3, 0), (8, 4, 0)] and not skipped


def test_grid_expands_n_k_q_windows_dedups_and_skips_with_reasons() -> None:
    grid = small_grid(
        workloads=[NAME],
        portfolio_sizes=[6, 4],
        portfolio_ks=[0, 2, 5],
        portfolio_risk_aversions=[1, 5],
        portfolio_windows=2,
    )
    specs, skipped = workload(NAME).instance_specs(grid)
    cells = [(s["n_assets"], s["k"], s["risk_aversion"], s["window"]) for s in specs]
    assert len(cells) == len(set(cells))  # K=0 on N=4 is K=2: one instance, not two
    assert sorted({(n, k) for n, k, _, _ in cells}) == [(4, 2), (6, 2), (6, 3), (6, 5)]
    assert {w for *_, w in cells} == {0, 1} and {q for _, _, q, _ in cells} == {1.0, 5.0}
    assert [s["n_assets"] for s in specs] == sorted(s["n_assets"] for s in specs)  # smallest first
    # K=5 > N=4: skipped, once per (q, window), with the Param and the fix named.
    assert len(skipped) == 4 and {(r["n_nodes"], r["family"]) for r in skipped} == {
        (4, "portfolio_k5_q1"),
        (4, "portfolio_k5_q5"),
    }
    assert all("portfolio_ks=5" in r["reason"] and "1 <= k <= n" in r["reason"] for r in skipped)
    # skfolio's 8,313 daily prices hold (8313 - 316) // 63 + 1 = 127 windows of 252 + 63 returns.
    too_early = small_grid(workloads=[NAME], portfolio_sizes=[4], portfolio_windows=130)
    specs, skipped = workload(NAME).instance_specs(too_early)
    assert [r["seed"] for r in skipped] == [127, 128, 129] and len(specs) == 127
    assert all("ends before 316 daily prices" in r["reason"] and "portfolio_windows" in r["reason"] for r in skipped)


def _prepared(store: ArtifactStore, grid: SweepGrid) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """MaxCut's instances and the portfolio's, prepared as the DAG's prepare tasks do."""
    prepared, skipped = prepared_for(store, grid)
    entry = workload(NAME)
    specs, more_skipped = entry.instance_specs(grid)
    return prepared + [entry.prepare(store, spec, grid) for spec in specs], skipped + more_skipped


def test_portfolio_cells_keyed_skipped_run_collected_and_reused(store: ArtifactStore, sweep_root: str) -> None:
    grid = small_grid(**PORTFOLIO_GRID, backends=["aer:statevector", "braket:local", "jobservice"], noise=["ideal"])
    prepared, skipped = _prepared(store, grid)
    (record,) = [r for r in prepared if r.get("workload") == NAME]
    assert record["n_nodes"] == 4 and record["k"] == 2 and record["family"] == "portfolio_k2_q5"
    assert record["worst_objective"] > record["optimum"]  # a gap has a scale
    plan = plan_night(
        store, f"{sweep_root}/night-1", grid, prepared, jobservice_url="http://127.0.0.1:9", skipped=skipped
    )
    frame = store.read_table(plan["plan"]["uri"])
    rows = frame[frame["workload"] == NAME]
    assert sorted(zip(rows["variant"], rows["backend"], rows["n_nodes"], strict=True)) == [
        ("x", "aer:statevector", 4),
        ("x", "braket:local", 4),
        ("xy", "aer:statevector", 4),
        ("xy", "braket:local", 4),
    ]
    assert rows["experiment_key"].nunique() == 4  # distinct per mixer and backend
    skips = store.read_table(plan["skipped"]["uri"])
    mine = skips[skips["family"] == "portfolio_k2_q5"]
    assert list(mine["backend"]) == ["jobservice", "jobservice"]
    assert mine["reason"].str.contains("in-process backends only").all()
    again = store.read_table(
        plan_night(store, f"{sweep_root}/night-1b", grid, prepared, jobservice_url=None, skipped=skipped)["plan"]["uri"]
    )
    assert list(again[again["workload"] == NAME]["experiment_key"]) == list(rows["experiment_key"])  # stable
    other = small_grid(**{**PORTFOLIO_GRID, "portfolio_shots": 32}, noise=["ideal"])
    other_prepared, _ = _prepared(store, other)
    other_plan = store.read_table(
        plan_night(store, f"{sweep_root}/night-1c", other, other_prepared, jobservice_url=None)["plan"]["uri"]
    )
    assert not set(other_plan["experiment_key"]) & set(rows["experiment_key"])  # other shots, other keys

    batches = [b for bs in plan["batches"].values() for b in bs]
    mine_batches = [b for b in batches if b["workload"] == NAME]
    assert len(mine_batches) == 4 and all(len(b["experiment_ids"]) == 1 for b in mine_batches)
    assert {b["pool"] for b in mine_batches} == {"qflow_aer"}
    outcomes = [run_batch(store, b, night="night-1") for b in batches]
    assert sum(o.executed for o in outcomes) == plan["to_run"]
    loops = [o for o, b in zip(outcomes, batches, strict=True) if b["workload"] == NAME]
    assert all(1 <= o.pubs <= 4 for o in loops)  # one job per COBYLA evaluation, at most max_iterations

    collected = collect_night(
        store, f"{sweep_root}/night-1", night="night-1", night_date="2026-12-07", plan=plan, prepared=prepared
    )
    results = store.read_table(collected["results"]["uri"])
    part = results[results["workload"] == NAME]
    assert sorted(part["method"].unique()) == sorted(
        ["exact", "greedy", "local_search", "simulated_annealing", "random_sampling", "qaoa"]
    )
    qaoa = part[part["method"] == "qaoa"]
    assert len(qaoa) == 4 and qaoa["feasible_share"].between(0, 1).all()
    assert (qaoa.loc[qaoa["variant"] == "xy", "feasible_share"] == 1.0).all()  # the XY mixer keeps K
    found = qaoa[qaoa["objective"].notna()]
    assert len(found) and (found["objective"] >= found["optimum"] - 1e-12).all()  # nothing beats exact
    assert found["approximation_ratio"].between(0, 1).all()
    exact = part[part["method"] == "exact"].iloc[0]
    assert exact["approximation_ratio"] == 1.0 and exact["objective"] == exact["optimum"]
    random = part[part["method"] == "random_sampling"].iloc[0]
    assert random["shots"] == 64 * 4 and 0 < random["feasible_share"] < 1  # the loop's whole shot budget
    assert results.loc[results["workload"] == "maxcut", "feasible_share"].isna().all()
    report = render_report(results, results.iloc[0:0], night="night-1")
    assert "Portfolio (portfolio_optimisation)" in report.html and "gap to exact" in report.html
    assert any(line.startswith("portfolio_k2_q5: QAOA") for line in report.headline)

    second = plan_night(store, f"{sweep_root}/night-2", grid, prepared, jobservice_url=None, skipped=skipped)
    assert second["to_run"] == 0 and not second["batches"]  # nothing recomputed, the portfolio included
    later = store.read_table(second["plan"]["uri"])
    assert (later[later["workload"] == NAME]["status"] == "reused").all()
    assert workload(NAME).prepare(store, workload(NAME).instance_specs(grid)[0][0], grid)["reused"]


def _rows(objectives: dict[str, float], *, exact: float = -0.30, worst: float = 0.10) -> pd.DataFrame:
    """One instance's rows: QAOA and the baselines with these objectives (lower is better)."""
    spread = worst - exact
    return pd.DataFrame(
        [
            {
                "experiment_key": f"i1-{method}",
                "instance_hash": "i1",
                "workload": NAME,
                "family": "portfolio_k3_q5",
                "method": method,
                "variant": "x" if method == "qaoa" else "",
                "reps": 1 if method == "qaoa" else 0,
                "backend": "aer:statevector" if method == "qaoa" else "classical",
                "noise": "ideal" if method == "qaoa" else "none",
                "shots": 256 if method == "qaoa" else 0,
                "seed": 0,
                "n_nodes": 6,
                "objective": value,
                "optimum": exact,
                "approximation_ratio": 1.0 - (value - exact) / spread,
                "feasible_share": 0.4 if method == "qaoa" else 1.0,
            }
            for method, value in {"exact": exact, **objectives}.items()
        ]
    )


def test_the_report_section_says_where_qaoa_adds_nothing_from_the_figures() -> None:
    heuristics = {"greedy": -0.30, "local_search": -0.30, "simulated_annealing": -0.30, "random_sampling": -0.28}
    worse = report_section(_rows({"qaoa": -0.26, **heuristics}))
    (line,) = [s for s in worse.headline if s.startswith("portfolio_k3_q5")]
    assert "never beat" in line and "quantum added nothing here" in line
    assert "median gap to exact 0.100" in line and "feasible share 0.400" in line  # (−0.26 + 0.30) / 0.40
    assert "exact optimum in 0 and the best heuristic in 1 of 1" in line
    assert "never beat the best heuristic in 1 of 1" in worse.headline[-1] and "Where QAOA adds nothing" in worse.html
    # A tie with the heuristics (QAOA found the optimum too) is not a win.
    tie = comparisons(_rows({"qaoa": -0.30, **heuristics}))
    assert float(tie["advantage"].iloc[0]) == 0.0 and float(tie["gap"].iloc[0]) == 0.0
    assert "quantum added nothing" in report_section(_rows({"qaoa": -0.30, **heuristics})).headline[0]
    # Heuristics that miss the optimum QAOA finds: the sentence says QAOA beat them, with the count.
    weak = {"greedy": -0.20, "local_search": -0.25, "simulated_annealing": -0.22, "random_sampling": -0.18}
    better = report_section(_rows({"qaoa": -0.30, **weak}))
    assert not any("quantum added nothing" in s for s in better.headline)
    assert any("beat every heuristic and random sampling in 1 of 1" in s for s in better.headline)
    assert "never beat the best heuristic in 0 of 1" in better.headline[-1]
    assert math.isclose(float(better.statistics["gap"].iloc[0]), 0.0, abs_tol=1e-12)
    # No feasible sample: no advantage, and the sentence says so.
    none = report_section(_rows({"qaoa": math.nan, **weak}))
    assert any("no feasible sample in 1" in s and "quantum added nothing" in s for s in none.headline)
    assert "no QAOA results" in report_section(_rows(heuristics)).headline[0]
