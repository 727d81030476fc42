"""The short human summary of a qaoa_maxcut, portfolio_optimisation or vqc_classifier run, read back
from its artifacts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from include.store.artifacts import ArtifactStore, manifest_uri_for

if TYPE_CHECKING:
    import pandas as pd


def latest_summary_uri(store: ArtifactStore, dag_id: str = "qaoa_maxcut") -> str | None:
    """The most recently written summary manifest of a DAG's runs, if any."""
    bucket = store.bucket
    paginator = store.client.get_paginator("list_objects_v2")
    newest: tuple[object, str] | None = None
    for page in paginator.paginate(Bucket=bucket, Prefix=f"runs/{dag_id}/"):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/summary/manifest.json") and (newest is None or item["LastModified"] > newest[0]):
                newest = (item["LastModified"], item["Key"])
    return f"s3://{bucket}/{newest[1]}" if newest else None


def format_summary(store: ArtifactStore, summary_uri: str) -> str:
    manifest = store.read_manifest(summary_uri)
    row = store.read_table(summary_uri).iloc[0]
    if row.get("status") == "duplicate":  # include.data.published.write_duplicate_summary
        return "\n".join(
            [
                "nothing ran: a repeat of a version already processed",
                f"  data set              {row['dataset']} version {row['sha256']}",
                f"  processed by run      {row['processed_by_run']}",
                f"  superseded here       {int(row['superseded'])} older version(s) in the same burst",
                "  spent                 nothing (no quantum job, no classical stage)",
                f"  manifest              {manifest_uri_for(summary_uri)}",
            ]
        )
    if "vqc_accuracy" in row.index:
        return format_classifier_summary(manifest, row, summary_uri)
    if "exact_selection" in row.index:
        return format_portfolio_summary(manifest, row, summary_uri)
    recorded = manifest["measurements"]["stage_seconds"]
    order = ["graph", "validate", "encode", "optimise", "sample", "baselines", "aggregate"]
    stage_seconds = {k: recorded[k] for k in order if k in recorded} | recorded  # pipeline order
    baselines = manifest["params"]["baselines"]
    shots = int(row["qaoa_total_shots"])
    lines = [
        "qaoa_maxcut result",
        f"  QAOA expected cut     {row['qaoa_expected_cut']:.3f}   (mean over the final distribution;"
        f" {int(row['qaoa_iterations'])} iterations, {shots:,} shots in all)",
        f"  QAOA best sample      {row['qaoa_cut']:g}   (the best of all {shots:,} sampled bitstrings)",
        f"  random bitstrings     expected {row['random_expected_cut']:.3f}, best {row['random_best_cut']:g}"
        f"   (uniform, seeded, the same {shots:,} shots)",
        f"  exact optimum         {row['exact_optimum']:g}",
        f"  approximation ratio   {row['expected_approximation_ratio']:.4f} expected, "
        f"{row['approximation_ratio']:.4f} best sample",
        "  classical baselines   " + ", ".join(f"{k}={v:g}" for k, v in baselines.items()),
        f"  quantum value added   {row['quantum_value_added']:+g} best sample vs the best of the heuristics and random"
        f" sampling ({row['best_classical']}, cut {row['best_classical_cut']:g});"
        f" expected cut {row['expected_cut_vs_random']:+.3f} vs random",
        f"  compute time          QAOA loop {row['qaoa_compute_seconds']:.3f} s (transpile + sampling) ="
        f" {row['compute_ratio_qaoa_vs_best_heuristic']:.0f}x {row['best_heuristic']}'s"
        f" {row['best_heuristic_seconds']:.3f} s; optimise I/O {row['qaoa_io_seconds']:.2f} s"
        " (S3, QPY, checkpoints; not compute)",
        "  stage times (s)       " + ", ".join(f"{k}={v:.2f}" for k, v in stage_seconds.items()),
        f"  manifest              {manifest_uri_for(summary_uri)}",
    ]
    if "sample_backend" in row.index:
        lines.insert(
            4,
            f"  sampled on {row['sample_backend']:<10} best cut {row['sample_best_cut']:g},"
            f" expected cut {row['sample_expected_cut']:.3f}  (fallback tier {int(row['sample_tier'])}"
            f"{': ' + str(row['sample_tier_reason'])[:80] if int(row['sample_tier']) > 1 else ''})",
        )
    if row["quantum_value_added"] <= 0:
        lines.append(
            "  verdict               quantum added nothing over the best classical heuristic or random sampling here"
        )
    return "\n".join(lines)


def format_classifier_summary(manifest: dict[str, Any], row: pd.Series, summary_uri: str) -> str:
    """The vqc_classifier run summary: accuracy and F1 against the best classical model."""
    recorded = manifest["measurements"]["stage_seconds"]
    order = ["load", "validate_raw", "preprocess", "validate_features", "encode", "train", "evaluate"]
    stage_seconds = {k: recorded[k] for k in [*order, "baselines", "aggregate"] if k in recorded} | recorded
    value = float(row["quantum_value_added"])
    lines = [
        "vqc_classifier result",
        f"  encoding              {row['encoding']} ({int(row['n_qubits'])} qubits), "
        f"{int(row['vqc_iterations'])} iterations",
        f"  VQC                   accuracy {row['vqc_accuracy']:.3f}, macro-F1 {row['vqc_f1_macro']:.3f}",
        f"  best classical        {row['best_classical']}: accuracy {row['best_classical_accuracy']:.3f}, "
        f"macro-F1 {row['best_classical_f1_macro']:.3f}",
        f"  quantum value added   {value:+.3f} accuracy; training took "
        f"{row['train_time_ratio_vqc_vs_best_classical']:.0f}x the classical model's time",
        "  stage times (s)       " + ", ".join(f"{k}={v:.2f}" for k, v in stage_seconds.items()),
        f"  manifest              {manifest_uri_for(summary_uri)}",
    ]
    if value <= 0:
        lines.append("  verdict               the quantum classifier added nothing over the classical one here")
    return "\n".join(lines)


def format_portfolio_summary(manifest: dict[str, Any], row: pd.Series, summary_uri: str) -> str:
    """The portfolio_optimisation run summary: QAOA's best feasible selection against exact, the
    heuristics, random sampling and the continuous optimum, in and out of sample."""
    recorded = manifest["measurements"]["stage_seconds"]
    order = ["prices", "validate", "model", "encode", "optimise", "sample", "baselines", "aggregate"]
    stage_seconds = {k: recorded[k] for k in order if k in recorded} | recorded
    shots = int(row["qaoa_total_shots"])
    found = bool(row["qaoa_feasible"])
    value = float(row["quantum_value_added"])
    lines = [
        "portfolio_optimisation result",
        f"  universe              {row['portfolio_tickers']} (choose K={int(row['k'])}, q={row['risk_aversion']:g})",
        (
            f"  QAOA best feasible    {row['qaoa_objective']:.5f}  {row['qaoa_selection']}   (the best of all {shots:,}"
            f" sampled bitstrings holding K assets; {int(row['qaoa_iterations'])} iterations)"
            if found
            else f"  QAOA best feasible    none: no sampled bitstring of {shots:,} held exactly K assets"
        ),
        f"  feasible samples      {row['qaoa_feasible_probability']:.1%} QAOA vs"
        f" {row['random_feasible_probability']:.1%} uniform random bitstrings",
        f"  exact optimum         {row['exact_objective']:.5f}  {row['exact_selection']}"
        f"   (worst feasible {row['worst_feasible_objective']:.5f})",
        f"  approximation gap     {row['approximation_gap']:.4f}   ((f - f*) / (f_worst - f*); 0 = exact)",
        f"  continuous optimum    {row['mean_variance_objective']:.5f}"
        "   (skfolio MeanRisk, no cardinality: a lower bound)",
        "  classical baselines   "
        + ", ".join(f"{k}={v:.5f}" for k, v in manifest["params"]["baselines"].items() if k != "mean_variance"),
        f"  quantum value added   {value:+.5f} vs the best of the heuristics and random sampling"
        f" ({row['best_classical']}, {row['best_classical_objective']:.5f}; positive = QAOA better)",
        f"  out of sample         QAOA {row['qaoa_oos_return']:+.1%} return,"
        f" {row['qaoa_oos_volatility']:.1%} volatility;"
        f" exact {row['exact_oos_return']:+.1%}, {row['exact_oos_volatility']:.1%};"
        f" continuous {row['mean_variance_oos_return']:+.1%}, {row['mean_variance_oos_volatility']:.1%} (annualised)",
        f"  compute time          QAOA loop {row['qaoa_compute_seconds']:.3f} s vs {row['best_heuristic']}'s"
        f" {row['best_heuristic_seconds']:.4f} s; optimise I/O {row['qaoa_io_seconds']:.2f} s",
        "  stage times (s)       " + ", ".join(f"{k}={v:.2f}" for k, v in stage_seconds.items()),
        f"  manifest              {manifest_uri_for(summary_uri)}",
    ]
    if "sample_backend" in row.index:
        lines.insert(
            4,
            f"  sampled on {row['sample_backend']:<10} {row['sample_feasible_probability']:.1%} feasible, best"
            f" {row['sample_best_feasible_objective']:.5f}  (fallback tier {int(row['sample_tier'])}"
            f"{': ' + str(row['sample_tier_reason'])[:80] if int(row['sample_tier']) > 1 else ''})",
        )
    if not value > 0:
        lines.append(
            "  verdict               quantum added nothing over the best classical heuristic or random sampling here"
        )
    return "\n".join(lines)
