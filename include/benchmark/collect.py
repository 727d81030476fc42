"""Collecting a night: one tidy row per experiment (the schema in ``include.benchmark.schema``),
what did not run, the history of every night, and the stored report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from include.benchmark.grid import sweep_root
from include.benchmark.plan import classical_key
from include.benchmark.schema import (
    EXPERIMENT_RESULT_COLUMNS,
    EXPERIMENT_TIMING_COLUMNS,
    NIGHT_RESULT_DTYPES,
    NOT_RUN_COLUMNS,
    classical_result_row,
    empty_frame,
    skipped_row,
    with_added_columns,
)
from include.store.artifacts import ArtifactRef, ArtifactStore, IncompleteArtifactError


def classical_rows(prepared: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The classical baselines of every instance, as result rows (computed once per instance)."""
    return [
        classical_result_row(
            record,
            experiment_key=classical_key(record["instance_hash"], entry["method"]),
            workload="maxcut",
            method=entry["method"],
            objective=float(entry["cut"]),
            optimum=float(record["optimum"]),
            seconds=float(entry["seconds"]),
            reused=bool(record.get("reused", False)),
        )
        for record in prepared
        for entry in record["classical"]
    ]


def random_sampling_rows(
    store: ArtifactStore, prepared: Sequence[Mapping[str, Any]], shots_by_instance: Mapping[str, Sequence[int]]
) -> list[dict[str, Any]]:
    """The random-sampling baseline: for every instance and every shot count its QAOA experiments
    used, that many uniform random bitstrings (seeded from the content and the shots), as a
    classical result row. A nightly QAOA experiment samples once at prepared angles, so its total
    shots are its ``shots``; value added is judged against this row as well as the heuristics."""
    from include.problems.baselines import random_sampling

    rows: list[dict[str, Any]] = []
    graphs: dict[str, Any] = {}
    for record in prepared:
        digest = str(record["instance_hash"])
        for shots in sorted(set(int(s) for s in shots_by_instance.get(digest, ()))):
            if digest not in graphs:
                graphs[digest] = store.read_table(ArtifactRef.from_xcom(record["graph"]))
            result = random_sampling(graphs[digest], int(record["n_nodes"]), shots, seed=int(digest[:8], 16) + shots)
            rows.append(
                classical_result_row(
                    record,
                    experiment_key=classical_key(digest, f"{result.method}:{shots}"),
                    workload="maxcut",
                    method=result.method,
                    objective=result.cut,
                    optimum=float(record["optimum"]),
                    seconds=result.seconds,
                    reused=False,
                    shots=shots,
                    expected_objective=result.expected_cut,
                )
            )
    return rows


def collect_night(
    store: ArtifactStore,
    night_prefix: str,
    *,
    night: str,
    night_date: str,
    plan: Mapping[str, Any],
    prepared: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """One tidy row per experiment of the night (quantum from the store by key, classical from
    the prepared instances), appended to the history. Experiments whose result is missing (a
    batch failed or the night was cut short) are listed as not run, never filled in; so are the
    experiments the plan could not place because their backend was unreachable."""
    plan_ref = ArtifactRef.from_xcom(plan["plan"])
    plan_frame = store.read_table(plan_ref)
    rows: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    if plan.get("not_run"):
        missing.extend(store.read_table(ArtifactRef.from_xcom(plan["not_run"])).to_dict("records"))
    stored: dict[str, dict[str, Any] | None] = {}  # duplicates share one result: read it once
    for row in plan_frame.itertuples(index=False):
        prefix = str(row.result_prefix)
        if prefix not in stored:
            try:
                stored[prefix] = store.read_table(store.uri(f"{prefix}/result/data.parquet")).iloc[0].to_dict()
            except IncompleteArtifactError:  # no manifest: the result was never (completely) written
                stored[prefix] = None
        result = stored[prefix]
        if result is None:
            reason = "no result: its batch failed or did not run"
            missing.append(
                {
                    **skipped_row(
                        str(row.family), int(row.n_nodes), int(row.seed), str(row.backend), str(row.noise), reason
                    ),
                    "experiment_key": str(row.experiment_key),
                }
            )
            continue
        # A result stored before the workload column existed is MaxCut's (its plan row says so).
        named = result.get("workload")
        result = {**result, "workload": named if isinstance(named, str) and named else str(row.workload)}
        if not isinstance(result.get("variant"), str):
            result["variant"] = ""
        rows.append({**result, "reused": str(row.status) != "run"})
    from include.benchmark.workloads import MAXCUT, workload, workload_names, workload_of

    rows.extend(classical_rows([r for r in prepared if workload_of(r) == MAXCUT]))
    for name in workload_names():  # every other workload's baselines, run once per instance
        rows.extend(workload(name).baseline_rows([r for r in prepared if workload_of(r) == name]))
    shots_by_instance: dict[str, list[int]] = {}
    maxcut_plan = plan_frame[plan_frame["workload"] == MAXCUT]
    for digest, shots in maxcut_plan[["instance_hash", "shots"]].drop_duplicates().itertuples(index=False):
        shots_by_instance.setdefault(str(digest), []).append(int(shots))
    rows.extend(random_sampling_rows(store, [r for r in prepared if workload_of(r) == MAXCUT], shots_by_instance))
    frame = pd.DataFrame(rows, columns=[*EXPERIMENT_RESULT_COLUMNS, "reused"])
    frame.insert(0, "night_date", night_date)
    frame.insert(0, "night", night)
    frame = frame[list(NIGHT_RESULT_DTYPES)].astype(NIGHT_RESULT_DTYPES)
    order = ["workload", "n_nodes", "family", "seed", "method", "variant", "backend", "noise", "shots", "reps"]
    frame = frame.sort_values(order, kind="mergesort")
    frame = frame.reset_index(drop=True)
    results_ref = store.put_table(
        night_prefix,
        "results",
        frame,
        stage="collect",
        inputs=[plan_ref],
        params={"night": night, "night_date": night_date},
        measurements={"rows": len(frame), "not_run": len(missing), "reused": int(frame["reused"].sum())},
        nondeterministic_columns=[*EXPERIMENT_TIMING_COLUMNS, "time_to_solution_seconds", "cost"],
    )
    not_run = pd.DataFrame(missing, columns=list(NOT_RUN_COLUMNS)).astype({"n_nodes": "int64", "seed": "int64"})
    not_run_ref = store.put_table(night_prefix, "not_run", not_run, stage="collect", inputs=[plan_ref])
    history_ref = append_history(store, frame, night, results_ref)
    return {
        "results": results_ref.to_xcom(),
        "not_run": not_run_ref.to_xcom(),
        "history": history_ref.to_xcom(),
        "rows": len(frame),
        "missing": len(missing),
        "not_run_reasons": sorted({f"{m['backend']}: {m['reason']}" for m in missing}),
    }


def verdict_failure(collected: Mapping[str, Any] | None) -> str | None:
    """Why the night fails, or None when every planned experiment has a result. A night with
    experiments not run — a failed batch, or a configured backend that was unreachable — is
    never green."""
    if not collected:
        return "collect wrote no results table for this night (it failed): nothing can be judged"
    if collected["missing"]:
        reasons = "; ".join(collected.get("not_run_reasons") or ["no result"])
        return (
            f"{collected['missing']} planned experiment(s) did not run — {reasons} "
            f"(see the report's 'not run' list and {collected['not_run']['uri']})"
        )
    return None


def read_history(store: ArtifactStore) -> pd.DataFrame:
    uri = store.uri(f"{sweep_root()}/history/results/data.parquet")
    if not store.exists(store.uri(f"{sweep_root()}/history/results/manifest.json")):
        return empty_frame(NIGHT_RESULT_DTYPES)
    return with_added_columns(store.read_table(uri))[list(NIGHT_RESULT_DTYPES)]


def append_history(store: ArtifactStore, night_rows: pd.DataFrame, night: str, night_ref: ArtifactRef) -> ArtifactRef:
    """History = every night's rows; a re-collected night replaces its own rows."""
    history = read_history(store)
    history = history[history["night"] != night]
    combined = pd.concat([history, night_rows], ignore_index=True) if len(history) else night_rows.copy()
    combined = combined.astype(NIGHT_RESULT_DTYPES).sort_values(["night_date", "night"], kind="mergesort")
    return store.put_table(
        f"{sweep_root()}/history",
        "results",
        combined.reset_index(drop=True),
        stage="history",
        inputs=[night_ref],
        params={"nights": int(combined["night"].nunique())},
        nondeterministic_columns=[*EXPERIMENT_TIMING_COLUMNS, "time_to_solution_seconds", "cost"],
    )


def store_report(
    store: ArtifactStore, night_prefix: str, *, night: str, collected: Mapping[str, Any], plan: Mapping[str, Any]
) -> ArtifactRef:
    """Statistics and the HTML report with its PNG plots, stored together under ``<night>/report/``
    (index.html beside the images it links). Returns the statistics artifact's ref."""
    from include.benchmark.report.html import render_report

    results_ref = ArtifactRef.from_xcom(collected["results"])
    results = store.read_table(results_ref)
    history = read_history(store)
    skipped = store.read_table(ArtifactRef.from_xcom(plan["skipped"]))
    not_run = store.read_table(ArtifactRef.from_xcom(collected["not_run"]))
    report = render_report(results, history, night=night, skipped=skipped, not_run=not_run)
    return store.put_table(
        night_prefix,
        "report",
        report.statistics.reset_index(drop=True),
        stage="report",
        inputs=[results_ref, ArtifactRef.from_xcom(collected["history"])],
        params={"night": night, "headline": list(report.headline)},
        attachments={"index.html": report.html.encode(), **report.images},
    )


def report_index_uri(report_ref: ArtifactRef) -> str:
    return report_ref.uri.rsplit("/", 1)[0] + "/index.html"


def latest_report(store: ArtifactStore, look_back: int = 20, nights_prefix: str | None = None) -> dict[str, Any] | None:
    """The newest night that has a stored report: its run id, headline, and the URIs of its
    ``index.html`` and manifest; None when no night has one. Nights are ordered by their run id's
    date part (``scheduled__<date>``, ``manual__<date>``); the ``look_back`` newest are tried, newest
    first, so a night still running (no report yet) yields the one before it."""
    from include.benchmark.grid import NIGHTS_PREFIX

    def run_date(night_uri: str) -> str:
        name = night_uri.rstrip("/").rsplit("/", 1)[-1]
        return name.partition("__")[2] or name

    by_date = sorted(store.child_prefixes(store.uri(nights_prefix or NIGHTS_PREFIX)), key=run_date, reverse=True)
    for night_uri in by_date[:look_back]:
        manifest_uri = f"{night_uri}report/manifest.json"
        if not store.exists(manifest_uri):
            continue
        manifest = store.read_manifest(manifest_uri)
        return {
            "night": manifest["params"].get("night"),
            "headline": list(manifest["params"].get("headline", [])),
            "report_uri": f"{night_uri}report/index.html",
            "manifest_uri": manifest_uri,
        }
    return None
