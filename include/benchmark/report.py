"""Statistics and the static HTML report of the nightly MaxCut benchmark (no Airflow, no S3).

Input is the tidy results table of one night (one row per experiment; the schema is
``RESULT_COLUMNS``) and the history of earlier nights in the same schema. Everything is
reported across seeds — median, quartiles, IQR, variance, mean — never only the best run.

* ``cell_statistics``: per cell (``CELL_COLUMNS``) across seeds.
* ``instance_value_added`` / ``quantum_value_added``: QAOA's approximation ratio minus the best
  classical heuristic's (greedy, local search, simulated annealing; *not* exact, which is the
  reference the ratio is measured against) on the same instance, then median/IQR per
  (family, n_nodes, QAOA configuration).
* ``render_report``: PNG plots plus a self-contained HTML page that references them by
  relative file name, and headline sentences that say plainly where quantum adds nothing.

matplotlib is imported inside the plotting functions (Agg canvas, no pyplot state), so
importing this module stays light.
"""

from __future__ import annotations

import html
import io
import itertools
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from include.benchmark.schema import NIGHT_RESULT_DTYPES as RESULT_DTYPES
from include.benchmark.schema import NOT_RUN_COLUMNS, SKIPPED_COLUMNS
from include.problems.baselines import HEURISTICS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# --- the contract -------------------------------------------------------------------------------

RESULT_COLUMNS: tuple[str, ...] = tuple(RESULT_DTYPES)
INT_COLUMNS: tuple[str, ...] = tuple(c for c, t in RESULT_DTYPES.items() if t == "int64")
FLOAT_COLUMNS: tuple[str, ...] = tuple(c for c, t in RESULT_DTYPES.items() if t == "float64")

CELL_COLUMNS: tuple[str, ...] = ("family", "n_nodes", "method", "backend", "noise", "shots", "reps")
METRICS: tuple[str, ...] = ("approximation_ratio", "expected_approximation_ratio", "time_to_solution_seconds")
STATISTICS: tuple[str, ...] = ("count", "mean", "median", "q25", "q75", "iqr", "variance")

QAOA = "qaoa"
EXACT = "exact"
QAOA_CONFIG_COLUMNS: tuple[str, ...] = ("backend", "noise", "shots", "reps")
IDEAL = "ideal"
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

IMAGE_RATIO = "ratio_vs_size.png"
IMAGE_TIME = "time_to_solution_vs_size.png"
IMAGE_VALUE = "value_added_vs_size.png"
IMAGE_NOISE = "noise_sensitivity.png"
IMAGE_TREND = "trend.png"
IMAGES: tuple[str, ...] = (IMAGE_RATIO, IMAGE_TIME, IMAGE_VALUE, IMAGE_NOISE, IMAGE_TREND)


def validate_columns(frame: pd.DataFrame, required: Iterable[str], *, what: str = "results") -> None:
    """Raise ValueError naming every required column ``frame`` lacks."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} table is missing required column(s) {missing}")


def validate_results(results: pd.DataFrame, *, what: str = "results") -> None:
    """The tidy schema: every column present, numeric columns numeric (ValueError names offenders)."""
    validate_columns(results, RESULT_COLUMNS, what=what)
    not_numeric = [c for c in INT_COLUMNS + FLOAT_COLUMNS if not pd.api.types.is_numeric_dtype(results[c])]
    if not_numeric:
        raise ValueError(f"{what} table column(s) {not_numeric} must be numeric")


def _unique_experiments(results: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment_key: a duplicate (e.g. a reused copy) must not count twice."""
    return results.drop_duplicates(subset="experiment_key", keep="first")


# --- statistics ---------------------------------------------------------------------------------


def _describe(values: pd.Series) -> dict[str, float]:
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
    rows = _unique_experiments(results)
    columns = [*CELL_COLUMNS, "n_seeds", "n_rows", "n_reused"] + [f"{m}_{s}" for m in METRICS for s in STATISTICS]
    records: list[dict[str, Any]] = []
    for key, group in rows.groupby(list(CELL_COLUMNS), dropna=False, sort=True):
        record: dict[str, Any] = dict(zip(CELL_COLUMNS, key, strict=True))
        record["n_seeds"] = int(group["seed"].nunique())
        record["n_rows"] = len(group)
        record["n_reused"] = int(group["reused"].astype(bool).sum())
        for metric in METRICS:
            for stat, value in _describe(group[metric]).items():
                record[f"{metric}_{stat}"] = value
        records.append(record)
    out = pd.DataFrame.from_records(records, columns=columns)
    for metric in METRICS:
        out[f"{metric}_count"] = out[f"{metric}_count"].astype("int64")
    return out.reset_index(drop=True)


def instance_value_added(results: pd.DataFrame) -> pd.DataFrame:
    """Per instance and QAOA configuration: QAOA's approximation_ratio minus the best classical
    heuristic's (``HEURISTICS``; never exact) on the same instance (matched by instance_hash).

    Instances without any heuristic row are left out (there is nothing to compare with).
    Columns: family, n_nodes, seed, instance_hash, backend, noise, shots, reps, qaoa_ratio,
    best_heuristic, best_heuristic_ratio, value_added.
    """
    validate_results(results)
    rows = _unique_experiments(results)
    columns = [
        "family",
        "n_nodes",
        "seed",
        "instance_hash",
        *QAOA_CONFIG_COLUMNS,
        "qaoa_ratio",
        "best_heuristic",
        "best_heuristic_ratio",
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
    # Several rows of one instance and configuration (should not happen) are averaged, not cherry-picked.
    keys = ["family", "n_nodes", "seed", "instance_hash", *QAOA_CONFIG_COLUMNS]
    per_config = qaoa.groupby(keys, dropna=False, sort=True)["approximation_ratio"].mean().rename("qaoa_ratio")
    merged = per_config.reset_index().merge(best, on="instance_hash", how="inner")
    merged["value_added"] = merged["qaoa_ratio"] - merged["best_heuristic_ratio"]
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
        stats = _describe(values)
        record: dict[str, Any] = dict(zip(keys, key, strict=True))
        record |= {s: stats[s] for s in ("count", "mean", "median", "q25", "q75", "iqr")}
        record["count"] = int(stats["count"])
        record["min"] = float(values.min())
        record["max"] = float(values.max())
        record["wins"] = int((values > WIN_TOLERANCE).sum())
        record["adds_nothing"] = bool(stats["median"] <= WIN_TOLERANCE)
        records.append(record)
    return pd.DataFrame.from_records(records, columns=columns)


# --- labels -------------------------------------------------------------------------------------


def method_labels(frame: pd.DataFrame, *, varying: pd.DataFrame | None = None) -> pd.Series:
    """A plot label per row: method + backend + noise for QAOA, with ``p=<reps>`` and
    ``<shots> shots`` when ``varying`` (default: ``frame``) has more than one value of them
    among its QAOA rows. Classical rows are labelled by the method alone."""
    reference = frame if varying is None else varying
    quantum = reference[reference["method"] == QAOA]
    show_reps = quantum["reps"].nunique() > 1
    show_shots = quantum["shots"].nunique() > 1

    def label(row: pd.Series) -> str:
        if row["method"] != QAOA:
            return str(row["method"])
        head = "qaoa"
        if show_reps:
            head += f" p={int(row['reps'])}"
        if show_shots:
            head += f" {int(row['shots'])} shots"
        return f"{head} · {row['backend']} · {row['noise']}"

    if frame.empty:
        return pd.Series([], index=frame.index, dtype="object")
    return frame.apply(label, axis=1).astype("object")


@dataclass
class _Style:
    """Consistent colours and line styles for labels across every plot of one report."""

    labels: list[str]
    styles: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        classical = {
            "exact": {"color": "black", "linestyle": ":", "marker": "s"},
            "greedy": {"color": "#8c564b", "linestyle": "--", "marker": "v"},
            "local_search": {"color": "#7f7f7f", "linestyle": "--", "marker": "^"},
            "simulated_annealing": {"color": "#bcbd22", "linestyle": "--", "marker": "D"},
        }
        palette = [
            "#1f77b4",
            "#d62728",
            "#2ca02c",
            "#9467bd",
            "#ff7f0e",
            "#17becf",
            "#e377c2",
            "#393b79",
            "#8c6d31",
            "#637939",
        ]
        markers = ["o", "P", "X", "*", "h", "p", "<", ">"]
        i = 0
        for label in self.labels:
            if label in classical:
                self.styles[label] = classical[label]
            elif label not in self.styles:
                self.styles[label] = {
                    "color": palette[i % len(palette)],
                    "linestyle": "-",
                    "marker": markers[(i // len(palette)) % len(markers)],
                }
                i += 1

    def __call__(self, label: str) -> dict[str, Any]:
        return self.styles.get(label, {"color": "grey", "linestyle": "-", "marker": "o"})


def _label_order(labels: Iterable[str]) -> list[str]:
    """QAOA labels first (sorted), then classical methods in a fixed order."""
    classical_order = [EXACT, *HEURISTICS]
    unique = sorted(set(labels))
    quantum = [x for x in unique if x not in classical_order]
    return quantum + [x for x in classical_order if x in unique]


# --- plotting helpers ---------------------------------------------------------------------------


def _new_figure(n_panels: int, *, rows: int = 1, height: float = 4.2) -> tuple[Figure, list[list[Axes]]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = max(n_panels, 1)
    fig = Figure(figsize=(max(6.4 * cols, 7.5), height * rows + 1.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, [list(r) for r in axes]


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _no_data(ax: Axes, message: str) -> None:
    ax.text(
        0.5,
        0.5,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=11,
        color="#555555",
        wrap=True,
        bbox={"boxstyle": "round", "facecolor": "#f3f3f3", "edgecolor": "#cccccc"},
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _size_axis(ax: Axes, sizes: Sequence[int]) -> None:
    ax.set_xlabel("problem size n (nodes)")
    if len(sizes):
        ax.set_xticks(sorted(set(int(s) for s in sizes)))
        lo, hi = min(sizes), max(sizes)
        pad = max((hi - lo) * 0.08, 0.6)
        ax.set_xlim(lo - pad, hi + pad)
    ax.grid(True, alpha=0.3)


def _dodge(sizes: Sequence[int], n_series: int) -> float:
    """Horizontal offset between series so markers at equal values do not hide each other."""
    unique = sorted(set(sizes))
    gap = float(min(np.diff(unique))) if len(unique) > 1 else 1.0
    return 0.25 * gap / max(n_series - 1, 1) if n_series > 1 else 0.0


def _band_series(
    ax: Axes,
    table: pd.DataFrame,
    labels: list[str],
    style: _Style,
    *,
    median: str = "median",
    q25: str = "q25",
    q75: str = "q75",
    positive_only: bool = False,
) -> list[str]:
    """Median line with markers and a shaded q25–q75 band per label (``table`` has columns
    label, n_nodes and the three statistics). Returns the points left out because they were
    not positive (for log axes), as "label (n=...)"."""
    dropped: list[str] = []
    sizes = table["n_nodes"].astype(int).tolist()
    step = _dodge(sizes, len(labels))
    for i, label in enumerate(labels):
        part = table[table["label"] == label].sort_values("n_nodes")
        if positive_only:
            keep = part[median] > 0
            if not keep.all():
                sizes_out = ", ".join(str(int(n)) for n in part.loc[~keep, "n_nodes"])
                dropped.append(f"{label} (n={sizes_out})")
            part = part[keep]
        if part.empty:
            continue
        x = part["n_nodes"].to_numpy(dtype=float) + (i - (len(labels) - 1) / 2) * step
        y = part[median].to_numpy(dtype=float)
        lo = part[q25].to_numpy(dtype=float)
        hi = part[q75].to_numpy(dtype=float)
        if positive_only:
            lo = np.where(lo > 0, lo, y)
        s = style(label)
        ax.plot(x, y, label=label, color=s["color"], linestyle=s["linestyle"], marker=s["marker"], markersize=5)
        if len(x) > 1:
            ax.fill_between(x, lo, hi, color=s["color"], alpha=0.15, linewidth=0)
        else:  # a band needs two sizes: show the IQR as an error bar instead
            ax.errorbar(x, y, yerr=[y - lo, hi - y], color=s["color"], capsize=4, linestyle="none")
    return dropped


def _figure_legend(fig: Figure, axes: Iterable[Axes], title: str | None = None) -> None:
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if not handles:
        return
    ordered = _label_order(k for k in handles if k != REFERENCE_LABEL)
    if REFERENCE_LABEL in handles:
        ordered.append(REFERENCE_LABEL)
    # As many columns as fit the figure's width (about 0.075 in per character at 9 pt, plus the handle).
    column_inches = 0.075 * max(len(x) for x in ordered) + 0.7
    ncol = max(1, min(len(ordered), 4, int(fig.get_figwidth() // column_inches)))
    fig.legend(
        [handles[k] for k in ordered],
        ordered,
        loc="outside lower center",
        ncol=ncol,
        fontsize=9,
        title=title,
        title_fontsize=9,
        frameon=False,
    )


REFERENCE_LABEL = "exact optimum (ratio 1, the reference)"


def _seeds_phrase(stats: pd.DataFrame) -> str:
    """'3 seeds' or '2–3 seeds' per plotted point, from cell statistics."""
    if stats.empty or "n_seeds" not in stats.columns:
        return "seeds"
    lo, hi = int(stats["n_seeds"].min()), int(stats["n_seeds"].max())
    return f"{lo} seed{'s' if hi > 1 else ''}" if lo == hi else f"{lo}–{hi} seeds"


def _families(*frames: pd.DataFrame) -> list[str]:
    names: set[str] = set()
    for frame in frames:
        if "family" in frame.columns:
            names.update(str(x) for x in frame["family"].dropna().unique())
    return sorted(names)


def _family_title(family: str) -> str:
    return family.replace("maxcut_", "MaxCut ").replace("_", "-")


# --- the five plots -----------------------------------------------------------------------------


def _with_labels(stats: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    if stats.empty:
        return stats.assign(label=pd.Series(dtype="object"))
    return stats.assign(label=method_labels(stats, varying=results).to_numpy())


def _metric_panels(
    stats: pd.DataFrame, families: list[str], axes: Any, metric: str
) -> Iterator[tuple[Axes, pd.DataFrame]]:
    """Each family's titled panel with its cells, ``metric``'s median/q25/q75 renamed to
    median/q25/q75 (the columns ``_band_series`` draws)."""
    for ax, family in zip(axes[0], families or ["(none)"], strict=True):
        ax.set_title(_family_title(family))
        yield (
            ax,
            stats[stats["family"] == family].rename(
                columns={f"{metric}_median": "median", f"{metric}_q25": "q25", f"{metric}_q75": "q75"}
            ),
        )


def plot_ratio_vs_size(stats: pd.DataFrame, families: list[str], style: _Style) -> bytes:
    fig, axes = _new_figure(len(families))
    metric = "approximation_ratio"
    for ax, part in _metric_panels(stats, families, axes, metric):
        if part.empty or part["median"].isna().all():
            _no_data(ax, "no data")
            continue
        ax.axhline(1.0, color="black", linewidth=1.0, linestyle=":", label=REFERENCE_LABEL)
        _band_series(ax, part, [x for x in _label_order(part["label"]) if x != EXACT], style)
        _size_axis(ax, part["n_nodes"].astype(int).tolist())
        ax.set_ylabel("approximation ratio (cut / exact optimum)")
    fig.suptitle(
        f"Approximation ratio vs size: median across {_seeds_phrase(stats)}, band = interquartile range (q25–q75)"
    )
    _figure_legend(fig, (a for row in axes for a in row))
    return _png(fig)


def plot_time_vs_size(stats: pd.DataFrame, families: list[str], style: _Style) -> bytes:
    fig, axes = _new_figure(len(families))
    metric = "time_to_solution_seconds"
    for ax, part in _metric_panels(stats, families, axes, metric):
        if part.empty or not (part["median"] > 0).any():
            _no_data(ax, "no data" if part.empty else "no positive times to show on a log scale")
            continue
        dropped = _band_series(ax, part, _label_order(part["label"]), style, positive_only=True)
        _size_axis(ax, part["n_nodes"].astype(int).tolist())
        ax.set_yscale("log")
        ax.set_ylabel("time to solution (seconds, log scale)")
        if dropped:  # under the axis, where it cannot cover data
            ax.set_xlabel(
                "problem size n (nodes)\n"
                + textwrap.fill("not shown (a zero median time cannot sit on a log scale): " + "; ".join(dropped), 90),
                fontsize=9,
            )
    fig.suptitle(f"Time to solution vs size (sum of stage timings): median across {_seeds_phrase(stats)}, band = IQR")
    _figure_legend(fig, (a for row in axes for a in row))
    return _png(fig)


def _value_table(per_instance: pd.DataFrame, results: pd.DataFrame, group: list[str], value: str) -> pd.DataFrame:
    """Median/q25/q75 of ``value`` per ``group`` (+ n_nodes), with a label column."""
    records: list[dict[str, Any]] = []
    for key, part in per_instance.groupby(group, dropna=False, sort=True):
        stats = _describe(part[value])
        records.append(dict(zip(group, key, strict=True)) | stats)
    table = pd.DataFrame.from_records(records, columns=[*group, *STATISTICS])
    if table.empty:
        return table.assign(label=pd.Series(dtype="object"))
    return table.assign(label=method_labels(table.assign(method=QAOA), varying=results).to_numpy())


def plot_value_added(per_instance: pd.DataFrame, results: pd.DataFrame, families: list[str], style: _Style) -> bytes:
    fig, axes = _new_figure(len(families))
    table = _value_table(per_instance, results, ["family", "n_nodes", *QAOA_CONFIG_COLUMNS], "value_added")
    for ax, family in zip(axes[0], families or ["(none)"], strict=True):
        ax.set_title(_family_title(family))
        part = table[table["family"] == family]
        if part.empty:
            has_qaoa = bool(((results["family"] == family) & (results["method"] == QAOA)).any())
            _no_data(ax, "no data: no heuristic baseline rows" if has_qaoa else "no data: no QAOA rows")
            continue
        _band_series(ax, part, _label_order(part["label"]), style)
        _size_axis(ax, part["n_nodes"].astype(int).tolist())
        ax.axhline(0.0, color="black", linewidth=1.2)
        low, high = ax.get_ylim()
        span = max(high - low, 0.02)
        ax.set_ylim(min(low, -0.1 * span), max(high, 0.1 * span))
        ax.text(0.99, 0.98, "QAOA better ↑", transform=ax.transAxes, ha="right", va="top", fontsize=9)
        ax.text(0.99, 0.02, "best heuristic better ↓", transform=ax.transAxes, ha="right", va="bottom", fontsize=9)
        ax.set_ylabel("value added (QAOA ratio − best heuristic ratio)")
    fig.suptitle(
        "Quantum value added vs size: QAOA minus the best of greedy / local search / simulated annealing\n"
        "on the same instance; median across seeds, band = IQR, zero = no value added"
    )
    _figure_legend(fig, (a for row in axes for a in row))
    return _png(fig)


def noise_drop(results: pd.DataFrame) -> pd.DataFrame:
    """Per instance and noisy QAOA configuration: the ideal expected approximation ratio
    (mean over ideal rows of the same instance, shots and reps) minus the noisy one.
    Positive = noise made QAOA worse."""
    rows = _unique_experiments(results)
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


def plot_noise(results: pd.DataFrame, families: list[str], style: _Style) -> bytes:
    fig, axes = _new_figure(len(families), rows=2, height=3.8)
    rows = _unique_experiments(results)
    qaoa = rows[rows["method"] == QAOA]
    # Where noisy rows exist, compare like with like: only the ideal (shots, p) that have a noisy twin.
    noisy_pairs = qaoa.loc[qaoa["noise"] != IDEAL, ["family", "shots", "reps"]].drop_duplicates()
    twin = pd.MultiIndex.from_frame(qaoa[["family", "shots", "reps"]]).isin(pd.MultiIndex.from_frame(noisy_pairs))
    shown = qaoa[~qaoa["family"].isin(noisy_pairs["family"]).to_numpy() | twin]
    ratio = _value_table(shown, results, ["family", "n_nodes", *QAOA_CONFIG_COLUMNS], "expected_approximation_ratio")
    drops = _value_table(noise_drop(results), results, ["family", "n_nodes", *QAOA_CONFIG_COLUMNS], "drop")
    any_noisy = bool((qaoa["noise"] != IDEAL).any())
    for col, family in enumerate(families or ["(none)"]):
        top, bottom = axes[0][col], axes[1][col]
        top.set_title(f"{_family_title(family)}: QAOA expected ratio per noise model")
        bottom.set_title(f"{_family_title(family)}: drop from ideal (same instance, shots, p)")
        part = ratio[ratio["family"] == family]
        if part.empty:
            _no_data(top, "no data: no QAOA rows")
        else:
            _band_series(top, part, _label_order(part["label"]), style)
            _size_axis(top, part["n_nodes"].astype(int).tolist())
            top.set_ylabel("mean sampled cut / optimum")
        part = drops[drops["family"] == family]
        if part.empty:
            family_qaoa = qaoa[qaoa["family"] == family]
            if family_qaoa.empty:
                reason = "no QAOA rows"
            elif not (family_qaoa["noise"] != IDEAL).any():
                reason = "no noisy QAOA rows" + ("" if any_noisy else " this night")
            else:
                reason = "no noisy row has an ideal twin\n(same instance, shots and p)"
            _no_data(bottom, f"no data: {reason}")
        else:
            _band_series(bottom, part, _label_order(part["label"]), style)
            _size_axis(bottom, part["n_nodes"].astype(int).tolist())
            bottom.axhline(0.0, color="black", linewidth=1.0)
            bottom.set_ylabel("ideal − noisy ratio (higher = worse)")
    fig.suptitle(
        "Noise sensitivity of QAOA: expected approximation ratio (mean cut over shots / optimum),\n"
        "median across seeds, band = IQR"
    )
    _figure_legend(fig, (a for row in axes for a in row))
    return _png(fig)


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
        stats = _describe(part["approximation_ratio"])
        records.append({"family": family, "label": label, "night_date": date} | stats)
    return pd.DataFrame.from_records(records, columns=[*columns[:3], *STATISTICS])


def plot_trend(trend: pd.DataFrame, families: list[str], style: _Style, trend_nights: int) -> bytes:
    import matplotlib.dates as mdates

    fig, axes = _new_figure(len(families))
    dates = sorted(pd.to_datetime(trend["night_date"].unique())) if len(trend) else []
    span_days = (dates[-1] - dates[0]).days if dates else 0
    for ax, family in zip(axes[0], families or ["(none)"], strict=True):
        ax.set_title(_family_title(family))
        part = trend[(trend["family"] == family) & (trend["label"] != EXACT)]
        if part.empty:
            _no_data(ax, "no data")
            continue
        ax.axhline(1.0, color="black", linewidth=1.0, linestyle=":", label=REFERENCE_LABEL)
        labels = _label_order(part["label"])
        # Nudge series apart in time so equal medians (e.g. every heuristic at 1.0) stay visible.
        min_gap = min((b - a).days for a, b in itertools.pairwise(dates)) if len(dates) > 1 else 1
        spread = min(0.2 * max(min_gap, 1), 0.02 * (span_days + 2))
        step_days = spread / max(len(labels) - 1, 1)
        for i, label in enumerate(labels):
            series = part[part["label"] == label].sort_values("night_date")
            offset = pd.Timedelta(days=(i - (len(labels) - 1) / 2) * step_days)
            s = style(label)
            ax.plot(
                pd.to_datetime(series["night_date"]) + offset,
                series["median"].to_numpy(dtype=float),
                label=label,
                color=s["color"],
                linestyle=s["linestyle"],
                marker=s["marker"],
                markersize=5,
            )
        pad = pd.Timedelta(days=max(span_days * 0.05, 1.0))
        ax.set_xlim(dates[0] - pad, dates[-1] + pad)
        # Whole days only (never hours), at most about eight ticks however the nights are spaced.
        ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, int(np.ceil((span_days + 2) / 8)))))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        ax.tick_params(axis="x", labelrotation=30)
        if len(dates) == 1:
            ax.annotate(
                "only one night of history so far", (0.01, 0.01), xycoords="axes fraction", fontsize=8, color="#555"
            )
        ax.set_xlabel("night (date)")
        ax.set_ylabel("median approximation ratio over all sizes")
        ax.grid(True, alpha=0.3)
    fig.suptitle(
        f"Trend over the last {len(dates)} night(s) (up to {trend_nights}): median approximation ratio per method\n"
        "across all instances of the family that night"
    )
    _figure_legend(fig, (a for row in axes for a in row))
    return _png(fig)


# --- headline sentences -------------------------------------------------------------------------


def _format_cell(row: pd.Series, results: pd.DataFrame) -> str:
    label = method_labels(pd.DataFrame([row]).assign(method=QAOA), varying=results).iloc[0]
    return f"{row['family']} n={int(row['n_nodes'])}, {label}"


def headline_sentences(results: pd.DataFrame, per_instance: pd.DataFrame, value: pd.DataFrame) -> list[str]:
    """Plain sentences on where quantum adds nothing (and where it did add something)."""
    rows = _unique_experiments(results)
    lines: list[str] = []
    if not (rows["method"] == QAOA).any():
        lines.append("No QAOA results this night: quantum value added cannot be assessed.")
    elif per_instance.empty:
        lines.append("No QAOA instance has a classical heuristic result to compare with: value added not assessed.")
    else:
        without = sorted(set(rows["family"]) - set(rows.loc[rows["method"] == QAOA, "family"]))
        if without:
            lines.append(f"No QAOA results for {', '.join(without)}: value added not assessed there.")
        for family, part in per_instance.groupby("family", sort=True):
            sizes = sorted(int(x) for x in part["n_nodes"].unique())
            won = part[part["value_added"] > WIN_TOLERANCE]
            won_sizes = sorted(int(x) for x in won["n_nodes"].unique())
            n_pairs = len(part)
            if won.empty:
                span = f"size {sizes[0]}" if len(sizes) == 1 else f"sizes {sizes[0]}–{sizes[-1]}"
                lines.append(
                    f"{family}: QAOA never beat the best classical heuristic on any instance ({span}, "
                    f"{n_pairs} instance × configuration comparisons) — quantum added nothing here."
                )
                continue
            above = [s for s in sizes if s > won_sizes[-1]]
            if above:
                lines.append(
                    f"{family}: QAOA never beat the best classical heuristic on any instance of size ≥ {above[0]} "
                    f"(it won only at n ≤ {won_sizes[-1]})."
                )
            lines.append(
                f"{family}: QAOA beat the best classical heuristic in {len(won)} of {n_pairs} instance × "
                f"configuration comparisons (sizes {', '.join(str(s) for s in won_sizes)})."
            )
        nothing = value[value["adds_nothing"]]
        if len(nothing) == len(value):
            lines.append(
                f"Median quantum value added is ≤ 0 in every one of the {len(value)} (size, QAOA configuration) cells."
            )
        elif len(nothing):
            lines.append(
                f"Median quantum value added is ≤ 0 in {len(nothing)} of {len(value)} (size, QAOA configuration) "
                "cells (listed below)."
            )
        else:
            lines.append(f"Median quantum value added is > 0 in all {len(value)} (size, QAOA configuration) cells.")
    drops = noise_drop(results)
    if len(drops):
        worst = drops.groupby("noise")["drop"].median().sort_values(ascending=False)
        lines.append(
            "Noise: median drop in expected approximation ratio from ideal — "
            + ", ".join(f"{name} {value:+.3f}" for name, value in worst.items())
            + "."
        )
    n_reused = int(rows["reused"].astype(bool).sum())
    lines.append(f"{len(rows)} experiments this night, {n_reused} of them reused from earlier results.")
    return lines


# --- HTML ---------------------------------------------------------------------------------------


def _fmt(value: Any, spec: str) -> str:
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return "–"
    if spec == "int":
        return str(int(value))
    if spec:
        return format(value, spec)
    return str(value)


def _html_table(frame: pd.DataFrame, columns: Sequence[tuple[str, str, str]], *, empty: str = "none") -> str:
    """``columns``: (column, header, format spec or "" for str or "int"); every cell escaped."""
    if frame.empty:
        return f"<p class='note'>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(header)}</th>" for _, header, _ in columns)
    body = []
    for _, row in frame.iterrows():
        cells = "".join(f"<td>{html.escape(_fmt(row[col], spec))}</td>" for col, _, spec in columns)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f0f0f0; } td:nth-child(-n+3) { text-align: left; }
ul.headline li { margin: 0.3em 0; } .note { color: #555; }
img { max-width: 100%; border: 1px solid #ddd; }
"""


def _images_html(images: dict[str, bytes]) -> str:
    captions = {
        IMAGE_RATIO: "Approximation ratio vs size per method (median, IQR band).",
        IMAGE_TIME: "Time to solution vs size per method (log scale).",
        IMAGE_VALUE: "Quantum value added vs size (QAOA ratio minus the best classical heuristic's).",
        IMAGE_NOISE: "Noise sensitivity of QAOA: ratio per noise model and drop from ideal.",
        IMAGE_TREND: "Trend of the median approximation ratio per method across recent nights.",
    }
    parts = []
    for name in images:
        caption = html.escape(captions.get(name, name))
        parts.append(
            f"<figure><img src='{html.escape(name, quote=True)}' alt='{caption}'>"
            f"<figcaption>{caption}</figcaption></figure>"
        )
    return "\n".join(parts)


@dataclass
class BenchmarkReport:
    """The rendered report: ``html`` references every file of ``images`` by relative name."""

    html: str
    images: dict[str, bytes]
    statistics: pd.DataFrame
    headline: list[str]
    value_added: pd.DataFrame = field(default_factory=pd.DataFrame)


def render_report(
    results: pd.DataFrame,
    history: pd.DataFrame,
    *,
    night: str,
    skipped: pd.DataFrame | None = None,
    not_run: pd.DataFrame | None = None,
    trend_nights: int = 30,
) -> BenchmarkReport:
    """Statistics, the five PNG plots (``IMAGES``) and a static HTML page for one night.

    ``history`` is earlier nights in the results schema (empty is fine; tonight's rows are
    added to it for the trend, duplicates counted once). ``skipped`` lists grid combinations
    not attempted (columns ``SKIPPED_COLUMNS``), ``not_run`` experiments not run this night
    (``NOT_RUN_COLUMNS``). Raises ValueError naming missing columns of any input.
    """
    validate_results(results)
    if len(history):
        validate_columns(history, TREND_COLUMNS, what="history")
    if skipped is not None:
        validate_columns(skipped, SKIPPED_COLUMNS, what="skipped")
    if not_run is not None:
        validate_columns(not_run, NOT_RUN_COLUMNS, what="not_run")

    statistics = cell_statistics(results)
    per_instance = instance_value_added(results)
    value = quantum_value_added(results)
    headline = headline_sentences(results, per_instance, value)
    trend = trend_table(results, history, trend_nights)

    labelled = _with_labels(statistics, results)
    families = _families(results, trend)
    all_labels = list(labelled["label"]) + list(trend["label"] if len(trend) else [])
    rows = _unique_experiments(results)
    qaoa_rows = rows[rows["method"] == QAOA]
    if len(qaoa_rows):
        all_labels += list(method_labels(qaoa_rows, varying=results))
    style = _Style(_label_order(all_labels))

    images = {
        IMAGE_RATIO: plot_ratio_vs_size(labelled, families, style),
        IMAGE_TIME: plot_time_vs_size(labelled, families, style),
        IMAGE_VALUE: plot_value_added(per_instance, results, families, style),
        IMAGE_NOISE: plot_noise(results, families, style),
        IMAGE_TREND: plot_trend(trend, families, style, trend_nights),
    }

    stat_columns = [
        ("family", "family", ""),
        ("n_nodes", "n", "int"),
        ("label", "method", ""),
        ("n_seeds", "seeds", "int"),
        ("approximation_ratio_count", "count", "int"),
        ("approximation_ratio_median", "ratio median", ".4f"),
        ("approximation_ratio_q25", "q25", ".4f"),
        ("approximation_ratio_q75", "q75", ".4f"),
        ("approximation_ratio_iqr", "IQR", ".4f"),
        ("approximation_ratio_variance", "variance", ".2e"),
        ("approximation_ratio_mean", "mean", ".4f"),
        ("expected_approximation_ratio_median", "expected ratio median", ".4f"),
        ("expected_approximation_ratio_iqr", "IQR", ".4f"),
        ("time_to_solution_seconds_median", "time median (s)", ".3g"),
        ("time_to_solution_seconds_iqr", "IQR (s)", ".3g"),
        ("n_reused", "reused", "int"),
    ]
    value_labelled = value.assign(
        label=method_labels(value.assign(method=QAOA), varying=results).to_numpy() if len(value) else []
    )
    value_columns = [
        ("family", "family", ""),
        ("n_nodes", "n", "int"),
        ("label", "QAOA configuration", ""),
        ("count", "instances", "int"),
        ("median", "median value added", "+.4f"),
        ("q25", "q25", "+.4f"),
        ("q75", "q75", "+.4f"),
        ("iqr", "IQR", ".4f"),
        ("wins", "instances won", "int"),
    ]
    nothing = value_labelled[value_labelled["adds_nothing"]] if len(value_labelled) else value_labelled
    nothing_items = "".join(
        f"<li>{html.escape(_format_cell(row, results))}: median value added {row['median']:+.4f}, "
        f"won {int(row['wins'])} of {int(row['count'])} instances</li>"
        for _, row in nothing.iterrows()
    )
    n_rows = len(results)
    n_unique = len(rows)
    n_reused = int(rows["reused"].astype(bool).sum())
    other_nights = sorted(set(results["night"].astype(str)) - {night})
    history_nights = trend["night_date"].nunique() if len(trend) else 0

    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        f"<title>qflow nightly benchmark — {html.escape(night)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Nightly MaxCut benchmark — {html.escape(night)}</h1>",
        "<p class='note'>Statistics are across seeds (median, quartiles, IQR, sample variance with ddof=1); "
        "never only the best run. Approximation ratio = cut found / exact optimum. "
        "Value added = QAOA's ratio minus the best classical heuristic's on the same instance "
        "(greedy, local search, simulated annealing; exact is the reference, not a competitor).</p>",
        "<h2>Headline</h2>",
        "<ul class='headline'>" + "".join(f"<li>{html.escape(s)}</li>" for s in headline) + "</ul>",
        "<h2>Counts</h2>",
        "<ul>",
        f"<li>rows: {n_rows} ({n_unique} distinct experiments)</li>",
        f"<li>reused results (from the store): {n_reused}</li>",
        f"<li>QAOA rows: {len(qaoa_rows)}; classical rows: {n_unique - len(qaoa_rows)}</li>",
        f"<li>instances: {rows['instance_hash'].nunique()}; cells: {len(statistics)}</li>",
        f"<li>nights in the trend: {history_nights} (of up to {trend_nights})</li>",
    ]
    if other_nights:
        parts.append(f"<li>rows labelled with another night: {html.escape(', '.join(other_nights))}</li>")
    parts += [
        "</ul>",
        "<h2>Where quantum adds nothing</h2>",
        "<p class='note'>Cells (family, size, QAOA configuration) whose median value added over the best classical "
        "heuristic is ≤ 0.</p>",
        f"<ul>{nothing_items}</ul>"
        if nothing_items
        else "<p class='note'>No (size, QAOA configuration) cell has a median value added ≤ 0"
        + (" (no cell could be assessed)." if value.empty else ".")
        + "</p>",
        "<h2>Quantum value added per cell</h2>",
        _html_table(value_labelled, value_columns, empty="no QAOA result could be compared with a heuristic"),
        "<h2>Plots</h2>",
        _images_html(images),
        "<h2>Statistics per cell</h2>",
        "<p class='note'>variance is '–' where a cell has a single seed.</p>",
        _html_table(labelled, stat_columns, empty="no results"),
    ]
    if skipped is not None:
        parts += [
            "<h2>Skipped combinations</h2>",
            _html_table(skipped, [(c, c, "") for c in SKIPPED_COLUMNS], empty="nothing skipped"),
        ]
    if not_run is not None:
        parts += [
            "<h2>Experiments not run this night</h2>",
            _html_table(not_run, [(c, c, "") for c in NOT_RUN_COLUMNS], empty="every planned experiment ran"),
        ]
    parts.append("</body></html>")
    return BenchmarkReport(
        html="\n".join(parts), images=images, statistics=statistics, headline=headline, value_added=value
    )
