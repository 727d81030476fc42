"""The report's five PNG plots: ratio vs size, time vs size, value added vs size, noise, trend."""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from include.benchmark.grid import IDEAL
from include.benchmark.report.figures import (
    REFERENCE_LABEL,
    PlotStyle,
    band_series,
    family_title,
    figure_legend,
    new_figure,
    no_data,
    png_bytes,
    seeds_phrase,
    size_axis,
)
from include.benchmark.report.labels import EXACT, QAOA, label_order, method_labels
from include.benchmark.report.stats import (
    QAOA_CONFIG_COLUMNS,
    STATISTICS,
    describe,
    noise_drop,
    unique_experiments,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

IMAGE_RATIO = "ratio_vs_size.png"
IMAGE_TIME = "time_to_solution_vs_size.png"
IMAGE_VALUE = "value_added_vs_size.png"
IMAGE_NOISE = "noise_sensitivity.png"
IMAGE_TREND = "trend.png"
IMAGES: tuple[str, ...] = (IMAGE_RATIO, IMAGE_TIME, IMAGE_VALUE, IMAGE_NOISE, IMAGE_TREND)


def with_labels(stats: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    if stats.empty:
        return stats.assign(label=pd.Series(dtype="object"))
    return stats.assign(label=method_labels(stats, varying=results).to_numpy())


def metric_panels(
    stats: pd.DataFrame, families: list[str], axes: Any, metric: str
) -> Iterator[tuple[Axes, pd.DataFrame]]:
    """Each family's titled panel with its cells, ``metric``'s median/q25/q75 renamed to
    median/q25/q75 (the columns ``band_series`` draws)."""
    for ax, family in zip(axes[0], families or ["(none)"], strict=True):
        ax.set_title(family_title(family))
        yield (
            ax,
            stats[stats["family"] == family].rename(
                columns={f"{metric}_median": "median", f"{metric}_q25": "q25", f"{metric}_q75": "q75"}
            ),
        )


def plot_ratio_vs_size(stats: pd.DataFrame, families: list[str], style: PlotStyle) -> bytes:
    fig, axes = new_figure(len(families))
    metric = "approximation_ratio"
    for ax, part in metric_panels(stats, families, axes, metric):
        if part.empty or part["median"].isna().all():
            no_data(ax, "no data")
            continue
        ax.axhline(1.0, color="black", linewidth=1.0, linestyle=":", label=REFERENCE_LABEL)
        band_series(ax, part, [x for x in label_order(part["label"]) if x != EXACT], style)
        size_axis(ax, part["n_nodes"].astype(int).tolist())
        ax.set_ylabel("approximation ratio (cut / exact optimum)")
    fig.suptitle(
        f"Approximation ratio vs size: median across {seeds_phrase(stats)}, band = interquartile range (q25–q75)"
    )
    figure_legend(fig, (a for row in axes for a in row))
    return png_bytes(fig)


def plot_time_vs_size(stats: pd.DataFrame, families: list[str], style: PlotStyle) -> bytes:
    fig, axes = new_figure(len(families))
    metric = "time_to_solution_seconds"
    for ax, part in metric_panels(stats, families, axes, metric):
        if part.empty or not (part["median"] > 0).any():
            no_data(ax, "no data" if part.empty else "no positive times to show on a log scale")
            continue
        dropped = band_series(ax, part, label_order(part["label"]), style, positive_only=True)
        size_axis(ax, part["n_nodes"].astype(int).tolist())
        ax.set_yscale("log")
        ax.set_ylabel("time to solution (seconds, log scale)")
        if dropped:  # under the axis, where it cannot cover data
            ax.set_xlabel(
                "problem size n (nodes)\n"
                + textwrap.fill("not shown (a zero median time cannot sit on a log scale): " + "; ".join(dropped), 90),
                fontsize=9,
            )
    fig.suptitle(f"Time to solution vs size (sum of stage timings): median across {seeds_phrase(stats)}, band = IQR")
    figure_legend(fig, (a for row in axes for a in row))
    return png_bytes(fig)


def value_table(per_instance: pd.DataFrame, results: pd.DataFrame, group: list[str], value: str) -> pd.DataFrame:
    """Median/q25/q75 of ``value`` per ``group`` (+ n_nodes), with a label column."""
    records: list[dict[str, Any]] = []
    for key, part in per_instance.groupby(group, dropna=False, sort=True):
        stats = describe(part[value])
        records.append(dict(zip(group, key, strict=True)) | stats)
    table = pd.DataFrame.from_records(records, columns=[*group, *STATISTICS])
    if table.empty:
        return table.assign(label=pd.Series(dtype="object"))
    return table.assign(label=method_labels(table.assign(method=QAOA), varying=results).to_numpy())


def plot_value_added(per_instance: pd.DataFrame, results: pd.DataFrame, families: list[str], style: PlotStyle) -> bytes:
    fig, axes = new_figure(len(families))
    table = value_table(per_instance, results, ["family", "n_nodes", *QAOA_CONFIG_COLUMNS], "value_added")
    for ax, family in zip(axes[0], families or ["(none)"], strict=True):
        ax.set_title(family_title(family))
        part = table[table["family"] == family]
        if part.empty:
            has_qaoa = bool(((results["family"] == family) & (results["method"] == QAOA)).any())
            no_data(ax, "no data: no heuristic baseline rows" if has_qaoa else "no data: no QAOA rows")
            continue
        band_series(ax, part, label_order(part["label"]), style)
        size_axis(ax, part["n_nodes"].astype(int).tolist())
        ax.axhline(0.0, color="black", linewidth=1.2)
        low, high = ax.get_ylim()
        span = max(high - low, 0.02)
        ax.set_ylim(min(low, -0.1 * span), max(high, 0.1 * span))
        ax.text(0.99, 0.98, "QAOA better ↑", transform=ax.transAxes, ha="right", va="top", fontsize=9)
        ax.text(0.99, 0.02, "best classical better ↓", transform=ax.transAxes, ha="right", va="bottom", fontsize=9)
        ax.set_ylabel("value added (QAOA ratio − best classical ratio)")
    fig.suptitle(
        "Quantum value added vs size: QAOA minus the best of greedy / local search / simulated annealing /\n"
        "random sampling (same shots) on the same instance; median across seeds, band = IQR, zero = none"
    )
    figure_legend(fig, (a for row in axes for a in row))
    return png_bytes(fig)


def plot_noise(results: pd.DataFrame, families: list[str], style: PlotStyle) -> bytes:
    fig, axes = new_figure(len(families), rows=2, height=3.8)
    rows = unique_experiments(results)
    qaoa = rows[rows["method"] == QAOA]
    # Where noisy rows exist, compare like with like: only the ideal (shots, p) that have a noisy twin.
    noisy_pairs = qaoa.loc[qaoa["noise"] != IDEAL, ["family", "shots", "reps"]].drop_duplicates()
    twin = pd.MultiIndex.from_frame(qaoa[["family", "shots", "reps"]]).isin(pd.MultiIndex.from_frame(noisy_pairs))
    shown = qaoa[~qaoa["family"].isin(noisy_pairs["family"]).to_numpy() | twin]
    ratio = value_table(shown, results, ["family", "n_nodes", *QAOA_CONFIG_COLUMNS], "expected_approximation_ratio")
    drops = value_table(noise_drop(results), results, ["family", "n_nodes", *QAOA_CONFIG_COLUMNS], "drop")
    any_noisy = bool((qaoa["noise"] != IDEAL).any())
    for col, family in enumerate(families or ["(none)"]):
        top, bottom = axes[0][col], axes[1][col]
        top.set_title(f"{family_title(family)}: QAOA expected ratio per noise model")
        bottom.set_title(f"{family_title(family)}: drop from ideal (same instance, shots, p)")
        part = ratio[ratio["family"] == family]
        if part.empty:
            no_data(top, "no data: no QAOA rows")
        else:
            band_series(top, part, label_order(part["label"]), style)
            size_axis(top, part["n_nodes"].astype(int).tolist())
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
            no_data(bottom, f"no data: {reason}")
        else:
            band_series(bottom, part, label_order(part["label"]), style)
            size_axis(bottom, part["n_nodes"].astype(int).tolist())
            bottom.axhline(0.0, color="black", linewidth=1.0)
            bottom.set_ylabel("ideal − noisy ratio (higher = worse)")
    fig.suptitle(
        "Noise sensitivity of QAOA: expected approximation ratio (mean cut over shots / optimum),\n"
        "median across seeds, band = IQR"
    )
    figure_legend(fig, (a for row in axes for a in row))
    return png_bytes(fig)


def plot_trend(trend: pd.DataFrame, families: list[str], style: PlotStyle, trend_nights: int) -> bytes:
    import matplotlib.dates as mdates

    fig, axes = new_figure(len(families))
    dates = sorted(pd.to_datetime(trend["night_date"].unique())) if len(trend) else []
    span_days = (dates[-1] - dates[0]).days if dates else 0
    for ax, family in zip(axes[0], families or ["(none)"], strict=True):
        ax.set_title(family_title(family))
        part = trend[(trend["family"] == family) & (trend["label"] != EXACT)]
        if part.empty:
            no_data(ax, "no data")
            continue
        ax.axhline(1.0, color="black", linewidth=1.0, linestyle=":", label=REFERENCE_LABEL)
        labels = label_order(part["label"])
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
    figure_legend(fig, (a for row in axes for a in row))
    return png_bytes(fig)
