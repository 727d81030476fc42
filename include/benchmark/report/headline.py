"""The report's headline: plain sentences on where quantum adds nothing (and where it did)."""

from __future__ import annotations

import pandas as pd

from include.benchmark.report.labels import QAOA, method_labels
from include.benchmark.report.stats import WIN_TOLERANCE, noise_drop, unique_experiments


def format_cell(row: pd.Series, results: pd.DataFrame) -> str:
    label = method_labels(pd.DataFrame([row]).assign(method=QAOA), varying=results).iloc[0]
    return f"{row['family']} n={int(row['n_nodes'])}, {label}"


def not_run_sentence(not_run: pd.DataFrame | None) -> str | None:
    """The incomplete-night sentence (first in the headline): how many planned experiments have no
    result, per backend and reason. None when everything planned ran."""
    if not_run is None or not len(not_run):
        return None
    groups = not_run.groupby(["backend", "reason"], sort=True).size()
    causes = "; ".join(f"{backend}: {reason} ({count})" for (backend, reason), count in groups.items())
    return (
        f"INCOMPLETE NIGHT: {len(not_run)} planned experiment(s) did not run, so this night's comparison is "
        f"missing them and the verdict fails — {causes}."
    )


def random_baseline_sentences(per_instance: pd.DataFrame) -> list[str]:
    """The expected cut first (QAOA's headline figure, against random bitstrings' mean), then the
    best sample against the best of as many random bitstrings."""
    compared = per_instance[per_instance["random_ratio"].notna()]
    if compared.empty:
        return ["No random-sampling baseline rows: QAOA was compared with the heuristics only."]
    median = compared[["qaoa_expected_ratio", "random_expected_ratio"]].median()
    random_hits = int((compared["random_ratio"] >= 1 - WIN_TOLERANCE).sum())
    qaoa_hits = int((compared["qaoa_ratio"] >= 1 - WIN_TOLERANCE).sum())
    return [
        f"Expected cut (QAOA's headline figure, the mean over its samples): median ratio "
        f"{median['qaoa_expected_ratio']:.4f} vs {median['random_expected_ratio']:.4f} for uniform random bitstrings.",
        f"Best sample: QAOA reached the optimum in {qaoa_hits} and random bitstrings with the same shots in "
        f"{random_hits} of {len(compared)} instance × configuration comparisons.",
    ]


def headline_sentences(
    results: pd.DataFrame, per_instance: pd.DataFrame, value: pd.DataFrame, not_run: pd.DataFrame | None = None
) -> list[str]:
    """Plain sentences on where quantum adds nothing (and where it did add something); an
    incomplete night (``not_run`` rows) says so first."""
    rows = unique_experiments(results)
    lines: list[str] = []
    incomplete = not_run_sentence(not_run)
    if incomplete:
        lines.append(incomplete)
    if not (rows["method"] == QAOA).any():
        lines.append("No QAOA results this night: quantum value added cannot be assessed.")
    elif per_instance.empty:
        lines.append("No QAOA instance has a classical heuristic result to compare with: value added not assessed.")
    else:
        without = sorted(set(rows["family"]) - set(rows.loc[rows["method"] == QAOA, "family"]))
        if without:
            lines.append(f"No QAOA results for {', '.join(without)}: value added not assessed there.")
        lines.extend(random_baseline_sentences(per_instance))
        for family, part in per_instance.groupby("family", sort=True):
            sizes = sorted(int(x) for x in part["n_nodes"].unique())
            won = part[part["value_added"] > WIN_TOLERANCE]
            won_sizes = sorted(int(x) for x in won["n_nodes"].unique())
            n_pairs = len(part)
            if won.empty:
                span = f"size {sizes[0]}" if len(sizes) == 1 else f"sizes {sizes[0]}–{sizes[-1]}"
                lines.append(
                    f"{family}: QAOA never beat the best classical heuristic or random sampling on any instance "
                    f"({span}, "
                    f"{n_pairs} instance × configuration comparisons) — quantum added nothing here."
                )
                continue
            above = [s for s in sizes if s > won_sizes[-1]]
            if above:
                lines.append(
                    f"{family}: QAOA never beat the best classical heuristic or random sampling on any instance "
                    f"of size ≥ {above[0]} "
                    f"(it won only at n ≤ {won_sizes[-1]})."
                )
            lines.append(
                f"{family}: QAOA beat the best classical heuristic or random sampling in {len(won)} of {n_pairs} "
                f"instance × "
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
