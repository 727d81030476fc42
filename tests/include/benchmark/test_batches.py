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


def test_a_stored_job_is_resubmitted_only_when_the_provider_does_not_know_it(
    store: ArtifactStore, sweep_root: str, tmp_path: Path
) -> None:
    """What SweepBatchOperator does with a stored submission, against the real job service: an
    outage is retried (never a resubmission), a lasting one fails, only a 404 says resubmit."""
    import httpx
    import pytest

    from include.benchmark.batches import stored_job_status
    from include.emulator.process import JobServiceProcess
    from include.quantum.backends.errors import TransientQuantumError

    env = {**os.environ, "QFLOW_JOBSERVICE_NOISE": "off"}
    with JobServiceProcess(tmp_path / "jobs.sqlite", backend="fake_kolkata", env=env) as service:
        grid = small_grid(sizes=[4], families=["maxcut_regular"], seeds_per_size=1, backends=["jobservice"])
        prepared, skipped = prepared_for(store, grid)
        plan = plan_night(store, f"{sweep_root}/night", grid, prepared, jobservice_url=service.url, skipped=skipped)
        (batch,) = plan["batches"]["qflow_jobservice"]
        submission, backend = submit_batch(store, batch, jobservice_url=service.url)
        assert submission is not None
        faults = f"{service.url}/admin/faults"

        httpx.put(faults, json={"outage_seconds": 600}).raise_for_status()
        waits: list[float] = []

        def lift_after_two(delay: float) -> None:  # the outage ends while the caller backs off
            waits.append(delay)
            if len(waits) == 2:
                httpx.put(faults, json={}).raise_for_status()

        status = stored_job_status(backend, submission.job_id, sleep=lift_after_two)
        assert status is not None and len(waits) == 2  # two 503s retried, then the real status

        httpx.put(faults, json={"outage_seconds": 600}).raise_for_status()
        with pytest.raises(TransientQuantumError, match="gave up after 3 attempts"):
            stored_job_status(backend, submission.job_id, max_attempts=3, sleep=lambda _: None)
        httpx.put(faults, json={}).raise_for_status()

        assert stored_job_status(backend, "no-such-job") is None  # 404: the provider does not know it
        assert httpx.get(f"{service.url}/admin/stats").json()["jobs"]["total"] == 1  # nothing resubmitted
