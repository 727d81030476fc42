"""Statistics of a night's results, across seeds: per cell, quantum value added, noise, trend.

* ``cell_statistics``: per cell (``CELL_COLUMNS``) across seeds.
* ``instance_value_added`` / ``quantum_value_added``: QAOA's approximation ratio (best sample)
  minus the best classical competitor's on the same instance — the best heuristic (greedy, local
  search, simulated annealing; *not* exact, which is the reference the ratio is measured against)
  or random bitstrings with the same shots, whichever is higher — then median/IQR per
  (family, n_nodes, QAOA configuration).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from include.benchmark.grid import IDEAL
from include.benchmark.report.labels import QAOA, method_labels
from include.benchmark.schema import NIGHT_RESULT_DTYPES
from include.problems.baselines import HEURISTICS, RANDOM_SAMPLING

INT_COLUMNS: tuple[str, ...] = tuple(c for c, t in NIGHT_RESULT_DTYPES.items() if t == "int64")
FLOAT_COLUMNS: tuple[str, ...] = tuple(c for c, t in NIGHT_RESULT_DTYPES.items() if t == "float64")

CELL_COLUMNS: tuple[str, ...] = ("family", "n_nodes", "method", "backend", "noise", "shots", "reps")
METRICS: tuple[str, ...] = ("approximation_ratio", "expected_approximation_ratio", "time_to_solution_seconds")
STATISTICS: tuple[str, ...] = ("count", "mean", "median", "q25", "q75", "iqr", "variance")

QAOA_CONFIG_COLUMNS: tuple[str, ...] = ("backend", "noise", "shots", "reps")
# A value added above this counts as QAOA beating the heuristic; ties (both at the optimum) do not.
WIN_TOLERANCE = 1e-9

TREND_COLUMNS: tuple[str, ...] = (
    "night",
    "night_date",
    "experiment_key",
    "family",
    "method",
    "backend",
    "noise",
    "shots",
    "reps",
    "approximation_ratio",
)


def validate_columns(frame: pd.DataFrame, required: Iterable[str], *, what: str = "results") -> None:
    """Raise ValueError naming every required column ``frame`` lacks."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} table is missing required column(s) {missing}")


def validate_results(results: pd.DataFrame, *, what: str = "results") -> None:
    """The tidy schema: every column present, numeric columns numeric (ValueError names offenders)."""
    validate_columns(results, NIGHT_RESULT_DTYPES, what=what)
    not_numeric = [c for c in INT_COLUMNS + FLOAT_COLUMNS if not pd.api.types.is_numeric_dtype(results[c])]
    if not_numeric:
        raise ValueError(f"{what} table column(s) {not_numeric} must be numeric")


def unique_experiments(results: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment_key: a duplicate (e.g. a reused copy) must not count twice."""
    return results.drop_duplicates(subset="experiment_key", keep="first")


def describe(values: pd.Series) -> dict[str, float]:
    """count/mean/median/quartiles/IQR/variance of the finite values (linear interpolation, as numpy)."""
    finite = pd.to_numeric(values, errors="coerce").astype("float64")
    finite = finite[np.isfinite(finite)]
    n = len(finite)
    if n == 0:
        return {"count": 0.0} | {s: float("nan") for s in STATISTICS[1:]}
    q25, median, q75 = (float(q) for q in finite.quantile([0.25, 0.5, 0.75]))
    return {
        "count": float(n),
        "mean": float(finite.mean()),
        "median": median,
        "q25": q25,
        "q75": q75,
        "iqr": q75 - q25,
        # Sample variance (ddof=1): NaN for a single value — one seed says nothing about spread.
        "variance": float(finite.var(ddof=1)) if n > 1 else float("nan"),
    }


def cell_statistics(results: pd.DataFrame) -> pd.DataFrame:
    """Per cell (``CELL_COLUMNS``) across seeds, for each metric in ``METRICS``: count, mean,
    median, q25, q75, iqr and variance, as columns ``<metric>_<statistic>``.

    Quartiles interpolate linearly (numpy's default). ``variance`` is the sample variance
    (ddof=1) and is NaN when a cell has a single value. Rows with a duplicated
    ``experiment_key`` count once. Also ``n_seeds``, ``n_rows`` and ``n_reused`` per cell.
    Raises ValueError naming any missing column of the tidy schema.
    """
    validate_results(results)
    rows = unique_experiments(results)
    columns = [*CELL_COLUMNS, "n_seeds", "n_rows", "n_reused"] + [f"{m}_{s}" for m in METRICS for s in STATISTICS]
    records: list[dict[str, Any]] = []
    for key, group in rows.groupby(list(CELL_COLUMNS), dropna=False, sort=True):
        record: dict[str, Any] = dict(zip(CELL_COLUMNS, key, strict=True))
        record["n_seeds"] = int(group["seed"].nunique())
        record["n_rows"] = len(group)
        record["n_reused"] = int(group["reused"].astype(bool).sum())
        for metric in METRICS:
            for stat, value in describe(group[metric]).items():
                record[f"{metric}_{stat}"] = value
        records.append(record)
    out = pd.DataFrame.from_records(records, columns=columns)
    for metric in METRICS:
        out[f"{metric}_count"] = out[f"{metric}_count"].astype("int64")
    return out.reset_index(drop=True)


def instance_value_added(results: pd.DataFrame) -> pd.DataFrame:
    """Per instance and QAOA configuration: QAOA's approximation_ratio (its best sample) minus the
    best classical competitor's on the same instance (matched by instance_hash): the best heuristic
    (``HEURISTICS``; never exact, the reference) or random sampling with the same shots
    (``RANDOM_SAMPLING`` rows, when present), whichever is higher.

    Instances without any heuristic row are left out (there is nothing to compare with).
    Columns: family, n_nodes, seed, instance_hash, backend, noise, shots, reps, qaoa_ratio,
    qaoa_expected_ratio, best_heuristic, best_heuristic_ratio, random_ratio, random_expected_ratio,
    best_classical, best_classical_ratio, value_added.
    """
    validate_results(results)
    rows = unique_experiments(results)
    columns = [
        "family",
        "n_nodes",
        "seed",
        "instance_hash",
        *QAOA_CONFIG_COLUMNS,
        "qaoa_ratio",
        "qaoa_expected_ratio",
        "best_heuristic",
        "best_heuristic_ratio",
        "random_ratio",
        "random_expected_ratio",
        "best_classical",
        "best_classical_ratio",
        "value_added",
    ]
    heuristic = rows[rows["method"].isin(HEURISTICS) & rows["approximation_ratio"].notna()]
    qaoa = rows[(rows["method"] == QAOA) & rows["approximation_ratio"].notna()]
    if heuristic.empty or qaoa.empty:
        return pd.DataFrame(columns=columns)
    # The best heuristic per instance (ties: the first in HEURISTICS order, for a stable name).
    order = {m: i for i, m in enumerate(HEURISTICS)}
    heuristic = heuristic.assign(_order=heuristic["method"].map(order)).sort_values(
        ["instance_hash", "approximation_ratio", "_order"], ascending=[True, False, True], kind="mergesort"
    )
    best = heuristic.drop_duplicates("instance_hash")[["instance_hash", "method", "approximation_ratio"]].rename(
        columns={"method": "best_heuristic", "approximation_ratio": "best_heuristic_ratio"}
    )
    random = (
        rows[rows["method"] == RANDOM_SAMPLING]
        .groupby(["instance_hash", "shots"])[["approximation_ratio", "expected_approximation_ratio"]]
        .mean()
        .rename(
            columns={"approximation_ratio": "random_ratio", "expected_approximation_ratio": "random_expected_ratio"}
        )
        .reset_index()
    )
    # Several rows of one instance and configuration (should not happen) are averaged, not cherry-picked.
    keys = ["family", "n_nodes", "seed", "instance_hash", *QAOA_CONFIG_COLUMNS]
    per_config = (
        qaoa.groupby(keys, dropna=False, sort=True)[["approximation_ratio", "expected_approximation_ratio"]]
        .mean()
        .rename(columns={"approximation_ratio": "qaoa_ratio", "expected_approximation_ratio": "qaoa_expected_ratio"})
    )
    merged = per_config.reset_index().merge(best, on="instance_hash", how="inner")
    merged = merged.merge(random, on=["instance_hash", "shots"], how="left")
    random_wins = merged["random_ratio"].notna() & (merged["random_ratio"] > merged["best_heuristic_ratio"])
    merged["best_classical"] = merged["best_heuristic"].where(~random_wins, RANDOM_SAMPLING)
    merged["best_classical_ratio"] = merged["best_heuristic_ratio"].where(~random_wins, merged["random_ratio"])
    merged["value_added"] = merged["qaoa_ratio"] - merged["best_classical_ratio"]
    return merged[columns].reset_index(drop=True)


def quantum_value_added(results: pd.DataFrame) -> pd.DataFrame:
    """Median/IQR (and count, mean, q25, q75, min, max) of the per-instance value added
    (``instance_value_added``) per (family, n_nodes, backend, noise, shots, reps), plus
    ``wins`` (instances where QAOA beat the best heuristic by more than ``WIN_TOLERANCE``)
    and ``adds_nothing`` (median value added <= 0)."""
    per_instance = instance_value_added(results)
    keys = ["family", "n_nodes", *QAOA_CONFIG_COLUMNS]
    columns = [*keys, "count", "mean", "median", "q25", "q75", "iqr", "min", "max", "wins", "adds_nothing"]
    records: list[dict[str, Any]] = []
    for key, group in per_instance.groupby(keys, dropna=False, sort=True):
        values = group["value_added"].astype("float64")
        stats = describe(values)
        record: dict[str, Any] = dict(zip(keys, key, strict=True))
        record |= {s: stats[s] for s in ("count", "mean", "median", "q25", "q75", "iqr")}
        record["count"] = int(stats["count"])
        record["min"] = float(values.min())
        record["max"] = float(values.max())
        record["wins"] = int((values > WIN_TOLERANCE).sum())
        record["adds_nothing"] = bool(stats["median"] <= WIN_TOLERANCE)
        records.append(record)
    return pd.DataFrame.from_records(records, columns=columns)


def noise_drop(results: pd.DataFrame) -> pd.DataFrame:
    """Per instance and noisy QAOA configuration: the ideal expected approximation ratio
    (mean over ideal rows of the same instance, shots and reps) minus the noisy one.
    Positive = noise made QAOA worse."""
    rows = unique_experiments(results)
    qaoa = rows[rows["method"] == QAOA]
    columns = ["family", "n_nodes", "instance_hash", *QAOA_CONFIG_COLUMNS, "ideal_ratio", "noisy_ratio", "drop"]
    ideal = (
        qaoa[qaoa["noise"] == IDEAL]
        .groupby(["instance_hash", "shots", "reps"])["expected_approximation_ratio"]
        .mean()
        .rename("ideal_ratio")
        .reset_index()
    )
    noisy = qaoa[qaoa["noise"] != IDEAL].rename(columns={"expected_approximation_ratio": "noisy_ratio"})
    if ideal.empty or noisy.empty:
        return pd.DataFrame(columns=columns)
    merged = noisy.merge(ideal, on=["instance_hash", "shots", "reps"], how="inner")
    merged["drop"] = merged["ideal_ratio"] - merged["noisy_ratio"]
    return merged[columns].reset_index(drop=True)


def trend_table(results: pd.DataFrame, history: pd.DataFrame, trend_nights: int) -> pd.DataFrame:
    """Median approximation ratio per (family, label, night_date) over the last ``trend_nights``
    distinct night dates of history plus tonight (rows of the same night and experiment count once)."""
    frames = [f[list(TREND_COLUMNS)] for f in (results, history) if len(f)]  # tonight wins a duplicate
    columns = ["family", "label", "night_date", "median", "q25", "q75", "count"]
    if not frames:
        return pd.DataFrame(columns=columns)
    rows = pd.concat(frames, ignore_index=True).drop_duplicates(subset=["night", "experiment_key"])
    rows = rows[rows["night_date"].notna()]
    dates = sorted(rows["night_date"].astype(str).unique())[-max(trend_nights, 1) :]
    rows = rows[rows["night_date"].astype(str).isin(dates)]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.assign(label=method_labels(rows).to_numpy(), night_date=rows["night_date"].astype(str))
    records = []
    for (family, label, date), part in rows.groupby(["family", "label", "night_date"], sort=True):
        stats = describe(part["approximation_ratio"])
        records.append({"family": family, "label": label, "night_date": date} | stats)
    return pd.DataFrame.from_records(records, columns=[*columns[:3], *STATISTICS])
