"""The job store on its own: idempotent creation, FIFO claims with holds, queue positions, and
what a restart does to jobs a dead process left RUNNING."""

from __future__ import annotations

import time
from pathlib import Path

from include.emulator.store import JobStore


def test_same_key_returns_the_existing_job(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    first, created = store.create("k", 100, {"pubs": []}, "", 0)
    again, created_again = store.create("k", 100, {"pubs": []}, "", 0)
    assert (created, created_again) == (True, False) and again.id == first.id
    assert store.counts()["QUEUED"] == 1


def test_claims_are_fifo_and_respect_holds_and_positions_follow(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    held, _ = store.create("held", 10, {}, "", 3600)
    a, _ = store.create("a", 10, {}, "", 0)
    b, _ = store.create("b", 10, {}, "", 0)
    assert [store.queue_position(job) for job in (held, a, b)] == [1, 2, 3]
    claimed = store.claim_next(time.time())
    assert claimed is not None and claimed.id == a.id and claimed.state == "RUNNING"
    assert store.queue_position(claimed) is None
    b_now = store.get(b.id)
    assert b_now is not None and store.queue_position(b_now) == 2
    assert store.finish(a.id, "DONE", result={"counts": []}, usage_seconds=0.1)
    assert not store.finish(a.id, "ERROR"), "a finished job cannot finish twice"


def test_restart_requeues_interrupted_jobs_under_their_ids_but_not_never_finishing_ones(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.sqlite"
    store = JobStore(path)
    running, _ = store.create("running", 10, {}, "", 0)
    stuck, _ = store.create("stuck", 10, {}, "never_finish", 0)
    assert store.claim_next(time.time()) is not None and store.claim_next(time.time()) is not None
    store.close()

    reopened = JobStore(path)
    assert reopened.requeue_interrupted() == 1
    again = reopened.get(running.id)
    assert again is not None and again.state == "QUEUED" and again.running_at is None
    assert again.created_at == running.created_at
    still = reopened.get(stuck.id)
    assert still is not None and still.state == "RUNNING"
    cancelled = reopened.cancel(stuck.id)
    assert cancelled is not None and cancelled.state == "CANCELLED"
