"""The report page: ``render_report`` → statistics, the five PNGs and a self-contained HTML page."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from include.benchmark.report.figures import PlotStyle, families_of
from include.benchmark.report.headline import format_cell, headline_sentences
from include.benchmark.report.labels import QAOA, label_order, method_labels
from include.benchmark.report.plots import (
    IMAGE_NOISE,
    IMAGE_RATIO,
    IMAGE_TIME,
    IMAGE_TREND,
    IMAGE_VALUE,
    plot_noise,
    plot_ratio_vs_size,
    plot_time_vs_size,
    plot_trend,
    plot_value_added,
    with_labels,
)
from include.benchmark.report.stats import (
    TREND_COLUMNS,
    cell_statistics,
    instance_value_added,
    quantum_value_added,
    trend_table,
    unique_experiments,
    validate_columns,
    validate_results,
)
from include.benchmark.schema import NOT_RUN_COLUMNS, SKIPPED_COLUMNS, with_added_columns


def _fmt(value: Any, spec: str) -> str:
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return "–"
    if spec == "int":
        return str(int(value))
    if spec:
        return format(value, spec)
    return str(value)


def html_table(frame: pd.DataFrame, columns: Sequence[tuple[str, str, str]], *, empty: str = "none") -> str:
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


def images_html(images: dict[str, bytes]) -> str:
    captions = {
        IMAGE_RATIO: "Approximation ratio vs size per method (median, IQR band).",
        IMAGE_TIME: "Time to solution vs size per method (log scale).",
        IMAGE_VALUE: "Quantum value added vs size (QAOA ratio minus the best heuristic's or random sampling's).",
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
    from include.benchmark.workloads import MAXCUT, workload, workload_names

    results = with_added_columns(results)
    validate_results(results)
    if len(history):
        validate_columns(history, TREND_COLUMNS, what="history")
        history = with_added_columns(history)
        history = history[history["workload"] == MAXCUT]
    # Every other workload's section, from its own rows; MaxCut's statistics and plots below.
    sections = [
        workload(name).report_section(results[results["workload"] == name])
        for name in workload_names()
        if (results["workload"] == name).any()
    ]
    everything = results
    results = results[results["workload"] == MAXCUT]
    if skipped is not None:
        validate_columns(skipped, SKIPPED_COLUMNS, what="skipped")
    if not_run is not None:
        validate_columns(not_run, NOT_RUN_COLUMNS, what="not_run")

    statistics = cell_statistics(results)
    per_instance = instance_value_added(results)
    value = quantum_value_added(results)
    headline = headline_sentences(results, per_instance, value, not_run)
    if sections and not len(results):  # no MaxCut tonight: its "no QAOA results" lines say nothing useful
        headline = [line for line in headline if line.startswith("INCOMPLETE")]
    elif sections:
        headline = (
            [*headline[:1], *(f"MaxCut: {line}" for line in headline[1:])]
            if headline[:1] and headline[0].startswith("INCOMPLETE")
            else [f"MaxCut: {line}" for line in headline]
        )
    for section in sections:
        headline.extend(section.headline)
    trend = trend_table(results, history, trend_nights)

    labelled = with_labels(statistics, results)
    families = families_of(results, trend)
    all_labels = list(labelled["label"]) + list(trend["label"] if len(trend) else [])
    rows = unique_experiments(results)
    qaoa_rows = rows[rows["method"] == QAOA]
    if len(qaoa_rows):
        all_labels += list(method_labels(qaoa_rows, varying=results))
    style = PlotStyle(label_order(all_labels))

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
        ("expected_approximation_ratio_median", "expected ratio median", ".4f"),
        ("expected_approximation_ratio_iqr", "IQR", ".4f"),
        ("approximation_ratio_median", "best-sample ratio median", ".4f"),
        ("approximation_ratio_q25", "q25", ".4f"),
        ("approximation_ratio_q75", "q75", ".4f"),
        ("approximation_ratio_iqr", "IQR", ".4f"),
        ("approximation_ratio_variance", "variance", ".2e"),
        ("approximation_ratio_mean", "mean", ".4f"),
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
        f"<li>{html.escape(format_cell(row, results))}: median value added {row['median']:+.4f}, "
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
        f"<h1>Nightly benchmark — {html.escape(night)}</h1>",
        "<p class='note'>Workloads this night: "
        + html.escape(", ".join(str(w) for w in dict.fromkeys(everything["workload"].astype(str))) or "none")
        + ". MaxCut (QAOA against its heuristics) first; each other workload has its own section below, "
        "judged against its own classical baselines.</p>",
        "<p class='note'>Statistics are across seeds (median, quartiles, IQR, sample variance with ddof=1); "
        "never only the best run. Approximation ratio = cut / exact optimum. QAOA's headline figure is its "
        "expected ratio (the mean cut over its samples); its best sample comes second, beside random "
        "bitstrings with the same shots (random_sampling). "
        "Value added = QAOA's best-sample ratio minus the best classical competitor's on the same instance "
        "(greedy, local search, simulated annealing, or random sampling with the same shots; exact is the "
        "reference, not a competitor).</p>",
        "<h2>Headline</h2>",
        "<ul class='headline'>" + "".join(f"<li>{html.escape(s)}</li>" for s in headline) + "</ul>",
        "<h2>Counts</h2>",
        "<ul>",
        f"<li>rows: {len(everything)} ({everything['experiment_key'].nunique()} distinct experiments; "
        f"MaxCut: {n_rows} rows, {n_unique} distinct)</li>",
        f"<li>reused results (from the store): {n_reused}</li>",
        f"<li>QAOA rows: {len(qaoa_rows)}; classical rows: {n_unique - len(qaoa_rows)}</li>",
        f"<li>instances: {rows['instance_hash'].nunique()}; cells: {len(statistics)}</li>",
        f"<li>nights in the trend: {history_nights} (of up to {trend_nights})</li>",
    ]
    if other_nights:
        parts.append(f"<li>rows labelled with another night: {html.escape(', '.join(other_nights))}</li>")
    parts += [
        "</ul>",
        "<h2>Where quantum adds nothing (MaxCut)</h2>",
        "<p class='note'>Cells (family, size, QAOA configuration) whose median value added over the best classical "
        "heuristic or random sampling is ≤ 0.</p>",
        f"<ul>{nothing_items}</ul>"
        if nothing_items
        else "<p class='note'>No (size, QAOA configuration) cell has a median value added ≤ 0"
        + (" (no cell could be assessed)." if value.empty else ".")
        + "</p>",
        "<h2>Quantum value added per cell</h2>",
        html_table(value_labelled, value_columns, empty="no QAOA result could be compared with a heuristic"),
        "<h2>Plots</h2>",
        images_html(images),
        "<h2>Statistics per cell</h2>",
        "<p class='note'>variance is '–' where a cell has a single seed.</p>",
        html_table(labelled, stat_columns, empty="no results"),
        *(section.html for section in sections),
    ]
    if skipped is not None:
        parts += [
            "<h2>Skipped combinations</h2>",
            html_table(skipped, [(c, c, "") for c in SKIPPED_COLUMNS], empty="nothing skipped"),
        ]
    if not_run is not None:
        parts += [
            "<h2>Experiments not run this night</h2>",
            html_table(not_run, [(c, c, "") for c in NOT_RUN_COLUMNS], empty="every planned experiment ran"),
        ]
    parts.append("</body></html>")
    return BenchmarkReport(
        html="\n".join(parts), images=images, statistics=statistics, headline=headline, value_added=value
    )
