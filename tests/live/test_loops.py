"""The deferred QAOA loop under the real scheduler, triggerer and LocalExecutor workers (issue 12).

The loop runs on the session's job service with a 5 s queue delay, so every evaluation defers:
the task frees its worker while the job waits and resumes when the trigger reports it done.

- A 10-evaluation loop completes with one deferral per evaluation, one job per evaluation.
- Chaos: a SIGKILLed worker task process between evaluations, and a SIGKILLed triggerer while an
  evaluation waits — each run completes, one job per evaluation, and its trace equals the
  uninterrupted run's (the same conf).
- Move: 5 evaluations on the job service, then ``resume_from`` that run on ``aer``: both backends in
  the trace, the lineage verifies.

To stay within minutes, the uninterrupted reference run, the worker-kill run and the move's first
run run at the same time (the worker kill touches only its own task process); the triggerer kill,
which every deferred task would feel, runs alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

from include.store.artifacts import ArtifactStore, safe_key_part
from include.store.config import S3Settings, s3_client
from tests.live.test_retries_and_approval import _task_processes, _ti
from tests.live_stack import REPO, LiveStack, RestClient

DAG = "qaoa_maxcut"
QUEUE_DELAY = 5.0
LOOP: dict[str, Any] = {
    "n_nodes": 4,
    "degree": 2,
    "reps": 1,
    "shots": 256,
    "max_iterations": 10,
    "seed": 5,
    "loop_backend": "jobservice:fake_manila",
}
MOVE_FIRST = {**LOOP, "max_iterations": 5}
RUN_TIMEOUT = 900


def _prefix(run_id: str) -> str:
    return f"runs/{DAG}/{safe_key_part(run_id)}/optimise"


def _trace(store: ArtifactStore, run_id: str) -> pd.DataFrame:
    return store.read_table(store.uri(f"{_prefix(run_id)}/data.parquet"))


def _manifest(store: ArtifactStore, run_id: str) -> dict[str, Any]:
    return dict(store.read_manifest(store.uri(f"{_prefix(run_id)}/manifest.json")))


def _checkpoint(store: ArtifactStore, run_id: str) -> dict[str, Any]:
    uri = store.uri(f"{_prefix(run_id)}/checkpoint.json")
    return dict(json.loads(store.get_bytes(uri))) if store.exists(uri) else {"iterations": []}


def _service_url(live_stack: LiveStack) -> str:
    assert live_stack.jobservice is not None
    return live_stack.jobservice.url


def _service_jobs(service_url: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{service_url}/jobs", params={"limit": 1000}, timeout=10)
    response.raise_for_status()
    return list(response.json()["jobs"])


def _service_total(live_stack: LiveStack) -> int:
    assert live_stack.jobservice is not None
    return int(httpx.get(f"{live_stack.jobservice.url}/admin/stats", timeout=10).json()["jobs"]["total"])


def _wait_success(rest: RestClient, run_id: str) -> None:
    run = rest.wait_for_run(DAG, run_id, timeout=RUN_TIMEOUT)
    states = {t["task_id"]: t["state"] for t in rest.task_instances(DAG, run_id)}
    assert run["state"] == "success", states


def _assert_one_job_per_evaluation(service_url: str, store: ArtifactStore, run_id: str, n: int) -> None:
    """The run's evaluations are n distinct jobs, and the service holds exactly those for its keys."""
    evaluations = _manifest(store, run_id)["measurements"]["evaluations"]
    on_service = [e for e in evaluations if e["backend"].startswith("jobservice:")]
    assert len(on_service) == n
    keys = {e["idempotency_key"] for e in on_service}
    jobs = [j for j in _service_jobs(service_url) if j["idempotency_key"] in keys]
    assert sorted(j["job_id"] for j in jobs) == sorted(e["job_id"] for e in on_service)
    assert len({j["job_id"] for j in jobs}) == n and all(j["state"] == "DONE" for j in jobs)


def _assert_same_trace(store: ArtifactStore, run_id: str, reference: str) -> None:
    got, want = _trace(store, run_id), _trace(store, reference)
    pd.testing.assert_frame_equal(got, want)  # iteration, parameters, energy, cuts, backend
    # The trace is byte-reproducible: the same content hash as the uninterrupted run's.
    assert _manifest(store, run_id)["artifact"]["sha256"] == _manifest(store, reference)["artifact"]["sha256"]


def _wait_for_try_outcome(rest: RestClient, run_id: str, timeout: float = 180) -> None:
    """After a kill: wait until the killed try is seen retried (up_for_retry, or a later try) or
    deferred after all (the kill came once the try had handed its wait to the triggerer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ti = _ti(rest, DAG, run_id, "optimise")
        if ti["try_number"] >= 2 or ti["state"] != "running":
            return
        time.sleep(0.3)
    raise AssertionError("a killed optimise try stayed running")


class Runs:
    """The runs this module triggered and the job service's total before the first of them."""

    def __init__(self, rest: RestClient, jobs_before: int) -> None:
        self.rest = rest
        self.jobs_before = jobs_before
        self.ids: dict[str, str] = {}
        self.service_evaluations: dict[str, int] = {}
        self.stamp = int(time.time())

    def trigger(self, name: str, conf: dict[str, Any]) -> str:
        run_id = f"loops_{name}_{self.stamp}"
        self.rest.trigger(DAG, conf, run_id=run_id)
        self.ids[name] = run_id
        return run_id


@pytest.fixture(scope="module")
def module_store(s3_settings: S3Settings) -> ArtifactStore:
    return ArtifactStore(s3_client(s3_settings), s3_settings.bucket)


@pytest.fixture(scope="module")
def runs(live_stack: LiveStack, rest: RestClient) -> Iterator[Runs]:
    """A 5 s queue delay on the session's job service for this module (lifted after), and the
    reference run plus the move's first run triggered at once."""
    assert live_stack.jobservice is not None
    faults = f"{live_stack.jobservice.url}/admin/faults"
    httpx.put(faults, json={"queue_delay_seconds": QUEUE_DELAY}, timeout=10).raise_for_status()
    try:
        runs = Runs(rest, _service_total(live_stack))
        runs.trigger("reference", LOOP)
        runs.trigger("move_first", MOVE_FIRST)
        yield runs
    finally:
        httpx.put(faults, json={}, timeout=10).raise_for_status()


def test_a_worker_killed_between_evaluations_resumes_with_the_same_trace(
    live_stack: LiveStack, rest: RestClient, runs: Runs, module_store: ArtifactStore
) -> None:
    store = module_store
    run_id = runs.trigger("worker_kill", LOOP)
    deadline = time.monotonic() + RUN_TIMEOUT
    kills = 0  # a kill can come just after the try reported its deferral: then it defers as usual
    while time.monotonic() < deadline:
        ti = _ti(rest, DAG, run_id, "optimise")
        if ti["try_number"] >= 2:
            break  # a kill landed inside a running try and Airflow retried it
        assert ti["state"] not in ("success", "failed"), (
            f"optimise ended ({ti['state']}) before a kill landed in a running try: "
            f"all {kills} kills came after the try had deferred"
        )
        done = len(_checkpoint(store, run_id)["iterations"])
        pids = _task_processes(ti["id"]) if ti["state"] == "running" and 2 <= done < LOOP["max_iterations"] - 1 else []
        for pid in pids:  # resumed between two evaluations
            os.kill(pid, signal.SIGKILL)
        if pids:
            kills += 1
            _wait_for_try_outcome(rest, run_id)
        time.sleep(0.3)
    assert kills, "no optimise task process was found running between evaluations"

    _wait_success(rest, run_id)
    _wait_success(rest, runs.ids["reference"])
    assert _ti(rest, DAG, run_id, "optimise")["try_number"] >= 2  # Airflow retried the killed try
    _assert_one_job_per_evaluation(_service_url(live_stack), store, run_id, LOOP["max_iterations"])
    runs.service_evaluations[run_id] = LOOP["max_iterations"]
    _assert_same_trace(store, run_id, runs.ids["reference"])


def test_a_loop_on_the_queued_job_service_defers_once_per_evaluation(
    live_stack: LiveStack, rest: RestClient, runs: Runs, module_store: ArtifactStore
) -> None:
    store, run_id, n = module_store, runs.ids["reference"], LOOP["max_iterations"]
    _wait_success(rest, run_id)
    manifest = _manifest(store, run_id)
    evaluations = manifest["measurements"]["evaluations"]
    assert [e["mode"] for e in evaluations] == ["deferred"] * n
    assert manifest["params"]["evaluation_modes"] == {"held": 0, "deferred": n}
    # One task process per deferral plus the last (each records its lifetime): n deferrals.
    assert len(_checkpoint(store, run_id)["context"]["worker_seconds"]) == n + 1
    ti = _ti(rest, DAG, run_id, "optimise")
    assert ti["try_number"] == 1, ti  # deferring is not failing: one try, resumed n times
    log = rest.get(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/optimise/logs/1", params={"full_content": True})
    assert json.dumps(log).count("deferring (no worker held while it waits)") == n
    _assert_one_job_per_evaluation(_service_url(live_stack), store, run_id, n)
    runs.service_evaluations[run_id] = n
    # Every job waited out the queue delay before it ran (the deferral was real waiting).
    keys = {e["idempotency_key"] for e in evaluations}
    for job in (j for j in _service_jobs(_service_url(live_stack)) if j["idempotency_key"] in keys):
        queued = pd.Timestamp(job["running_at"]) - pd.Timestamp(job["created_at"])
        assert queued.total_seconds() >= QUEUE_DELAY - 0.5, job


def test_a_killed_triggerer_while_an_evaluation_waits_loses_nothing(
    live_stack: LiveStack, rest: RestClient, runs: Runs, module_store: ArtifactStore
) -> None:
    store = module_store
    _wait_success(rest, runs.ids["move_first"])  # alone on the triggerer from here
    run_id = runs.trigger("triggerer_kill", LOOP)
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        ti = _ti(rest, DAG, run_id, "optimise")
        assert ti["state"] not in ("success", "failed"), f"optimise ended before the kill: {ti['state']}"
        if ti["state"] == "deferred" and len(_checkpoint(store, run_id)["iterations"]) >= 3:
            break
        time.sleep(0.3)
    else:
        raise AssertionError("optimise never deferred with 3 evaluations done")
    waiting = _checkpoint(store, run_id)["pending"]
    assert waiting is not None  # an evaluation's job is in flight while the triggerer dies
    live_stack.restart("triggerer")

    _wait_success(rest, run_id)
    _assert_one_job_per_evaluation(_service_url(live_stack), store, run_id, LOOP["max_iterations"])
    runs.service_evaluations[run_id] = LOOP["max_iterations"]
    evaluations = _manifest(store, run_id)["measurements"]["evaluations"]
    assert evaluations[waiting["iteration"]]["job_id"] == waiting["job_id"]  # the waiting job was collected
    _assert_same_trace(store, run_id, runs.ids["reference"])


def test_a_loop_moved_from_the_job_service_to_aer_continues_and_verifies(
    live_stack: LiveStack, rest: RestClient, runs: Runs, module_store: ArtifactStore
) -> None:
    store, first = module_store, runs.ids["move_first"]
    _wait_success(rest, first)
    _assert_one_job_per_evaluation(_service_url(live_stack), store, first, 5)
    runs.service_evaluations[first] = 5
    # The first 5 evaluations are the reference's first 5 (the budget does not change the path).
    pd.testing.assert_frame_equal(_trace(store, first), _trace(store, runs.ids["reference"]).head(5))

    run_id = runs.trigger("move_aer", {**LOOP, "loop_backend": "aer", "resume_from": first})
    _wait_success(rest, run_id)
    trace = _trace(store, run_id)
    assert list(trace["iteration"]) == list(range(LOOP["max_iterations"]))
    # `aer` is canonicalised to its method (backend_profile): aer:automatic
    assert list(trace["backend"]) == ["jobservice:fake_manila"] * 5 + ["aer:automatic"] * 5
    pd.testing.assert_frame_equal(trace.head(5), _trace(store, first))  # kept, not re-run
    manifest = _manifest(store, run_id)
    assert manifest["params"]["backends"] == {"jobservice:fake_manila": 5, "aer:automatic": 5}
    assert manifest["params"]["resume_from"] == first
    assert [e["run_id"] for e in manifest["measurements"]["evaluations"]] == [first] * 5 + [run_id] * 5
    assert any(_prefix(first) in i["uri"] for i in manifest["inputs"])  # the old run is in the lineage
    uri = store.uri(f"{_prefix(run_id)}/data.parquet")
    env = {**os.environ, **live_stack.s3_env}
    verify = subprocess.run(
        [sys.executable, "-m", "include.cli", "lineage", "verify", uri],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "verified" in verify.stdout


def test_the_service_holds_exactly_one_job_per_evaluation_of_every_run(live_stack: LiveStack, runs: Runs) -> None:
    """Across every run of this module (chaos included): no evaluation was ever submitted twice."""
    assert len(runs.service_evaluations) == 4, runs.service_evaluations
    assert _service_total(live_stack) == runs.jobs_before + sum(runs.service_evaluations.values())
