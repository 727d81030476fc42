"""SweepBatchOperator on the real job service and the runtime's local mode: a retried batch task
finds the job its first try submitted (the service holds one job); a batch context is closed when
the task ends, and on kill."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from include.benchmark.night import put_document
from include.store.artifacts import ArtifactStore
from tests.include.benchmark.conftest import one_small_batch


@pytest.fixture
def sweep_root(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh sweep root per test (as the benchmark tests use)."""
    import uuid

    root = f"tests/sweep-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("QFLOW_SWEEP_ROOT", root)
    return root


def test_a_retried_batch_task_finds_its_job_and_the_service_holds_one(
    store: ArtifactStore, sweep_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx
    from airflow.sdk.exceptions import TaskDeferred

    from include.emulator.process import JobServiceProcess
    from operators.operators.sweep import SweepBatchOperator

    env = {**os.environ, "QFLOW_JOBSERVICE_NOISE": "off"}
    with JobServiceProcess(
        tmp_path / "jobs.sqlite", backend="fake_kolkata", env=env, faults={"queue_delay_seconds": 3}
    ) as service:
        monkeypatch.setenv("QFLOW_JOBSERVICE_URL", service.url)
        batch = one_small_batch(store, sweep_root, "qflow_jobservice", service.url)
        ref = put_document(store, f"{sweep_root}/handoff", "batch", batch, stage="handoff")
        first = SweepBatchOperator(task_id="run_jobservice", batch=ref)
        with pytest.raises(TaskDeferred):  # the job waits in the queue: the task defers
            first.execute({"run_id": "n"})
        # The trigger is lost and the task is retried from the start (a new process): it finds the job.
        retried = SweepBatchOperator(task_id="run_jobservice", batch=ref, deferrable=False)
        outcome_ref = retried.execute({"run_id": "n"})
        assert httpx.get(f"{service.url}/admin/stats").json()["jobs"]["total"] == 1
        from include.benchmark.night import read_document

        outcome = read_document(store, outcome_ref)
        assert outcome["executed"] == len(batch["experiment_ids"]) == 1


def test_a_batch_task_on_an_ibm_fake_backend_closes_its_batch_at_the_end_and_on_kill(
    store: ArtifactStore, sweep_root: str
) -> None:
    from include.quantum.backends.errors import StructuralQuantumError
    from operators.operators.sweep import SweepBatchOperator

    batch = one_small_batch(store, sweep_root, "qflow_aer")
    ref = put_document(store, f"{sweep_root}/handoff", "batch", {**batch, "spec": "ibm:fake_manila"}, stage="handoff")
    operator = SweepBatchOperator(task_id="run_aer", batch=ref)
    operator.execute({"run_id": "n"})
    backend: Any = operator._backend
    assert backend._closed is not None and backend._closed[0] == "batch" and backend.context_id is None
    (mode, context_id), *_ = backend._job_contexts.values()
    assert (mode, context_id) == ("batch", backend._closed[1])

    killed = SweepBatchOperator(task_id="run_aer", batch=ref)
    killed._protocol(backend_for(killed))  # the task opened its batch, then is killed
    batch_id = killed._backend.context_id
    assert batch_id is not None
    killed.on_kill()
    with pytest.raises(StructuralQuantumError, match=f"batch {batch_id} is closed"):
        killed._backend._sampler()


def backend_for(operator: Any) -> Any:
    from include.quantum.backends.ibm import IBMRuntimeBackend

    return IBMRuntimeBackend("fake_manila")
