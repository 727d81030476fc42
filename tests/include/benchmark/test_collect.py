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
    assert len(results[results["tier"] == 2]) == 2 * (4 + 1)  # 4 baselines + random sampling at 128 shots
    random = results[results["method"] == "random_sampling"]
    assert set(random["shots"]) == {128} and (random["objective"] <= random["optimum"]).all()
    assert (random["expected_objective"] <= random["objective"]).all()
    assert list(results.columns) == list(NIGHT_RESULT_DTYPES)
    assert results.drop(columns=["approximation_ratio", "feasible_share"]).notna().all().all()
    assert results["feasible_share"].isna().all()  # a portfolio figure: MaxCut rows have none
    history = store.read_table(collected["history"]["uri"])
    assert set(history["night"]) == {"cut-short"}
    # Re-collecting the same night replaces its rows in the history rather than doubling them.
    again = collect_night(store, night_prefix, night="cut-short", night_date="2026-11-24", plan=plan, prepared=prepared)
    assert len(store.read_table(again["history"]["uri"])) == len(history)


def test_an_unreachable_backend_is_not_run_and_fails_the_night(store: ArtifactStore, sweep_root: str) -> None:
    """The job service is configured but nothing listens at its URL: its experiments are planned,
    not run (with the reason), the verdict fails and the report's headline says so first."""
    from include.benchmark.collect import read_history, verdict_failure
    from include.benchmark.report.html import render_report
    from include.emulator.process import free_port

    nobody = f"http://127.0.0.1:{free_port()}"  # a free port: connection refused, for real
    grid = small_grid(sizes=[6], families=["maxcut_regular"], backends=["aer:statevector", "jobservice"])
    prepared, skipped = prepared_for(store, grid)
    night_prefix = f"{sweep_root}/night"
    plan = plan_night(store, night_prefix, grid, prepared, jobservice_url=nobody, skipped=skipped)
    assert plan["not_run_count"] == 2  # both seeds' experiments on the job service
    assert not (store.read_table(plan["skipped"]["uri"])["backend"] == "jobservice").any()  # not "skipped"
    for batch in plan["batches"]["qflow_aer"]:
        run_batch(store, batch, night="n")
    assert "qflow_jobservice" not in plan["batches"]
    collected = collect_night(store, night_prefix, night="n", night_date="2026-11-24", plan=plan, prepared=prepared)
    not_run = store.read_table(collected["not_run"]["uri"])
    assert collected["missing"] == 2 and set(not_run["backend"]) == {"jobservice"}
    assert not_run["reason"].str.contains(f"job service unreachable at {nobody}").all()
    failure = verdict_failure(collected)
    assert failure is not None and "2 planned experiment(s) did not run" in failure and "unreachable" in failure
    results = store.read_table(collected["results"]["uri"])
    report = render_report(results, read_history(store), night="n", not_run=not_run)
    assert report.headline[0].startswith("INCOMPLETE NIGHT: 2 planned experiment(s) did not run")
    assert "jobservice: job service unreachable" in report.headline[0]


def test_a_complete_night_passes_the_verdict(store: ArtifactStore, sweep_root: str) -> None:
    from include.benchmark.collect import verdict_failure

    grid = small_grid(sizes=[4], families=["maxcut_regular"], seeds_per_size=1)
    prepared, skipped = prepared_for(store, grid)
    plan = plan_night(store, f"{sweep_root}/night", grid, prepared, jobservice_url=None, skipped=skipped)
    for batch in plan["batches"]["qflow_aer"]:
        run_batch(store, batch, night="n")
    collected = collect_night(
        store, f"{sweep_root}/night", night="n", night_date="2026-11-24", plan=plan, prepared=prepared
    )
    assert collected["missing"] == 0 and verdict_failure(collected) is None
    assert verdict_failure(None) is not None  # collect itself failed: never green
