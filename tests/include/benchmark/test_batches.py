"""Running batches against the real job service: a batch submitted twice is one job."""

from __future__ import annotations

import os
from pathlib import Path

from include.benchmark.batches import finish_batch, submit_batch
from include.benchmark.plan import plan_night
from include.store.artifacts import ArtifactStore
from tests.include.benchmark.conftest import prepared_for, small_grid


def test_a_batch_submitted_twice_is_one_job_on_the_service(
    store: ArtifactStore, sweep_root: str, tmp_path: Path
) -> None:
    """A retried submission (the task died after submitting) finds the same job: same key."""
    import httpx

    from include.emulator.process import JobServiceProcess
    from include.quantum.backends.execute import wait_for_result

    env = {**os.environ, "QFLOW_JOBSERVICE_NOISE": "off"}
    with JobServiceProcess(tmp_path / "jobs.sqlite", backend="fake_kolkata", env=env) as service:
        grid = small_grid(
            sizes=[6], families=["maxcut_regular"], backends=["jobservice"], noise=["ideal", "fake_kolkata"]
        )
        prepared, skipped = prepared_for(store, grid)
        plan = plan_night(store, f"{sweep_root}/night", grid, prepared, jobservice_url=service.url, skipped=skipped)
        assert "noise model off" in store.read_table(plan["skipped"]["uri"])["reason"].iloc[-1]
        (batch,) = plan["batches"]["qflow_jobservice"]
        first, backend = submit_batch(store, batch, jobservice_url=service.url)
        again, _ = submit_batch(store, batch, jobservice_url=service.url)
        assert first is not None and again is not None
        assert (again.job_id, again.job_key) == (first.job_id, first.job_key)
        assert httpx.get(f"{service.url}/admin/stats").json()["jobs"]["total"] == 1
        outcome = finish_batch(store, batch, first, wait_for_result(backend, first.job_id), night="n")
        assert outcome.executed == len(batch["experiment_ids"]) == 2
        # Everything stored: a third attempt submits nothing at all.
        assert submit_batch(store, batch, jobservice_url=service.url)[0] is None
