"""Collecting a night: one complete row per experiment, what did not run listed, the history rewritten."""

from __future__ import annotations

from include.benchmark.batches import run_batch
from include.benchmark.collect import collect_night
from include.benchmark.plan import plan_night
from include.benchmark.schema import NIGHT_RESULT_DTYPES
from include.store.artifacts import ArtifactStore
from tests.include.benchmark.conftest import prepared_for, small_grid


def test_collect_lists_what_did_not_run_and_keeps_rows_complete(store: ArtifactStore, sweep_root: str) -> None:
    grid = small_grid(sizes=[6], families=["maxcut_regular"], max_pubs_per_job=1)
    prepared, skipped = prepared_for(store, grid)
    night_prefix = f"{sweep_root}/night"
    plan = plan_night(store, night_prefix, grid, prepared, jobservice_url=None, skipped=skipped)
    first, *rest = plan["batches"]["qflow_aer"]
    assert rest, "the test needs two batches"
    run_batch(store, first, night="cut-short")  # the night ends after the first batch
    collected = collect_night(
        store, night_prefix, night="cut-short", night_date="2026-11-24", plan=plan, prepared=prepared
    )
    results = store.read_table(collected["results"]["uri"])
    not_run = store.read_table(collected["not_run"]["uri"])
    assert collected["missing"] == len(not_run) == len(rest)
    assert len(results[results["method"] == "qaoa"]) == 1
    assert len(results[results["tier"] == 2]) == 2 * 4
    assert list(results.columns) == list(NIGHT_RESULT_DTYPES)
    assert results.drop(columns=["approximation_ratio"]).notna().all().all()
    history = store.read_table(collected["history"]["uri"])
    assert set(history["night"]) == {"cut-short"}
    # Re-collecting the same night replaces its rows in the history rather than doubling them.
    again = collect_night(store, night_prefix, night="cut-short", night_date="2026-11-24", plan=plan, prepared=prepared)
    assert len(store.read_table(again["history"]["uri"])) == len(history)
