"""Sweep batches through the submission protocol, against real backends: a retried batch finds its
job on the job service (never submits it twice) and re-runs an in-process one with the same seed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from include.benchmark.batches import BatchSubmission, collect_batch, finish_batch, run_batch, submit_batch
from include.benchmark.plan import plan_night
from include.store.artifacts import ArtifactStore
from tests.include.benchmark.conftest import one_small_batch, prepared_for, small_grid


def _counts(store: ArtifactStore, batch: dict[str, Any]) -> list[pd.DataFrame]:
    """Each experiment's stored counts (bitstring, count, cut), in the batch's order."""
    from include.benchmark.batches import batch_rows
    from include.store.artifacts import read_parquet_bytes

    return [
        read_parquet_bytes(
            store.read_attachment(store.uri(f"{row.result_prefix}/result/manifest.json"), "counts.parquet")
        )
        for row in batch_rows(store, batch).itertuples(index=False)
    ]


def test_a_retried_batch_finds_its_job_on_the_service_and_never_submits_it_again(
    store: ArtifactStore, sweep_root: str, tmp_path: Path
) -> None:
    """The task died after submitting (and again after storing its submission): the retries claim
    the same key, the protocol finds the job, and the service still holds one job."""
    import httpx

    from include.emulator.process import JobServiceProcess

    env = {**os.environ, "QFLOW_JOBSERVICE_NOISE": "off"}
    with JobServiceProcess(tmp_path / "jobs.sqlite", backend="fake_kolkata", env=env) as service:
        grid = small_grid(
            sizes=[6], families=["maxcut_regular"], backends=["jobservice"], noise=["ideal", "fake_kolkata"]
        )
        prepared, skipped = prepared_for(store, grid)
        plan = plan_night(store, f"{sweep_root}/night", grid, prepared, jobservice_url=service.url, skipped=skipped)
        assert "noise model off" in store.read_table(plan["skipped"]["uri"])["reason"].iloc[-1]
        (batch,) = plan["batches"]["qflow_jobservice"]
        first, protocol = submit_batch(store, batch, jobservice_url=service.url)
        again, _ = submit_batch(store, batch, jobservice_url=service.url)  # died before storing the submission
        assert first is not None and again is not None
        assert (again.job_id, again.job_key) == (first.job_id, first.job_key)
        stored = BatchSubmission.from_json(first.to_json())
        resumed, _ = submit_batch(store, batch, jobservice_url=service.url, stored=stored)  # after storing it
        assert resumed is not None and resumed.job_id == first.job_id
        assert httpx.get(f"{service.url}/admin/stats").json()["jobs"]["total"] == 1
        protocol.wait(first.job_id)
        raw, cost = collect_batch(protocol, first)
        assert protocol.ledger.get(first.job_key).state == "DONE"  # the ledger settled through the protocol
        outcome = finish_batch(store, batch, first, raw, cost=cost, night="n")
        assert outcome.executed == len(batch["experiment_ids"]) == 2
        # Everything stored: a later attempt submits nothing at all.
        assert submit_batch(store, batch, jobservice_url=service.url)[0] is None
        assert httpx.get(f"{service.url}/admin/stats").json()["jobs"]["total"] == 1


def test_a_retried_in_process_batch_runs_again_with_the_same_seed_and_the_same_counts(
    store: ArtifactStore, sweep_root: str
) -> None:
    """Aer's job lived in the process that ran it: a retry (a new process: a new backend, whose
    status does not know the job) is submitted again, seeded from the key — the same counts."""
    batch = one_small_batch(store, sweep_root, "qflow_aer")
    first = run_batch(store, batch, night="n")
    assert first.executed == len(batch["experiment_ids"])
    counts = _counts(store, batch)
    for row in batch_rows_of(store, batch):
        store.delete(store.uri(f"{row.result_prefix}/result/manifest.json"))  # the results were never stored
    from include.benchmark.batches import batch_protocol

    submitted: list[str] = []

    def counting(backend: Any) -> Any:
        real = backend.submit

        def submit(job: Any) -> str:
            submitted.append(job.idempotency_key)
            return str(real(job))

        backend.submit = submit
        return batch_protocol(backend)

    retried = run_batch(store, batch, protocol_for=counting, night="n")  # the ledger knows the key: a retry
    assert retried.executed == first.executed and len(submitted) == 1  # submitted again, in this process
    assert [c.to_dict() for c in _counts(store, batch)] == [c.to_dict() for c in counts]


def batch_rows_of(store: ArtifactStore, batch: dict[str, Any]) -> list[Any]:
    from include.benchmark.batches import batch_rows

    return list(batch_rows(store, batch).itertuples(index=False))


def test_a_batch_on_an_ibm_fake_backend_runs_in_one_batch_context_closed_at_the_end(
    store: ArtifactStore, sweep_root: str
) -> None:
    from include.benchmark.batches import batch_protocol

    batch = one_small_batch(store, sweep_root, "qflow_aer")
    batch = {**batch, "spec": "ibm:fake_manila"}  # the runtime's local mode: a local Batch
    backends: list[Any] = []

    def capture(backend: Any) -> Any:
        backends.append(backend)
        return batch_protocol(backend)

    outcome = run_batch(store, batch, protocol_for=capture, night="n")
    (backend,) = backends
    mode, context_id = backend._job_contexts[outcome.job_id]
    assert mode == "batch" and context_id.startswith("local-batch-") and outcome.executed == 1
    assert backend.context_id is None and backend._closed == ("batch", context_id)  # closed at the end
