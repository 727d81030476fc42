"""Durability and approvals under the real scheduler, triggerer and LocalExecutor workers
(not `airflow dags test`, which runs tasks in-process and never retries them).

- A SIGKILLed optimise task process is retried by Airflow and resumes from its checkpoint:
  the evaluations checkpointed before the kill are not run again.
- On a prod-like policy (the job service needs approval), the HITL approval gate is answered
  through the REST API: Approve → the sample runs; Reject → no job is submitted, no spend.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from include.store.artifacts import ArtifactStore, safe_key_part
from tests.live_stack import APPROVAL_ENVIRONMENT, LiveStack, RestClient, processes_titled

# Long enough to be caught mid-way: 12 nodes at p=2 converged in ~1 s (COBYLA, 30 evaluations), before
# the poll saw a checkpoint; 20 nodes at p=3 with Nelder-Mead (slow to converge) run for tens of seconds.
LOOP_CONF: dict[str, Any] = {
    "n_nodes": 20,
    "reps": 3,
    "shots": 4096,
    "optimiser": "Nelder-Mead",
    "max_iterations": 150,
    "seed": 11,
}


def _task_processes(ti_id: str) -> list[int]:
    """PIDs whose title is Airflow's task process title for this task instance."""
    return processes_titled(f"airflow worker -- {ti_id}")


def _checkpoint_evaluations(store: ArtifactStore, run_id: str) -> int:
    uri = store.uri(f"runs/qaoa_maxcut/{safe_key_part(run_id)}/optimise/checkpoint.json")
    if not store.exists(uri):
        return 0
    return len(json.loads(store.get_bytes(uri))["iterations"])


def _ti(rest: RestClient, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    return dict(rest.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"))


def test_a_killed_optimise_task_is_retried_and_resumes_from_its_checkpoint(
    live_stack: LiveStack, rest: RestClient, store: ArtifactStore
) -> None:
    run_id = f"sigkill_{int(time.time())}"
    rest.trigger("qaoa_maxcut", LOOP_CONF, run_id=run_id)
    deadline = time.monotonic() + 600
    pids: list[int] = []
    seen = 0
    while time.monotonic() < deadline:  # wait until the loop is mid-way, with evaluations stored
        ti = _ti(rest, "qaoa_maxcut", run_id, "optimise")
        seen = _checkpoint_evaluations(store, run_id)
        if ti["state"] == "running" and seen >= 3:
            pids = _task_processes(ti["id"])
            if pids:
                break
        assert ti["state"] not in ("success", "failed"), f"optimise ended before it could be killed ({seen} seen)"
        time.sleep(0.3)
    assert pids, f"no task process found for optimise ({seen} evaluations checkpointed)"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    killed_at = _checkpoint_evaluations(store, run_id)
    assert killed_at >= seen

    run = rest.wait_for_run("qaoa_maxcut", run_id, timeout=900)
    assert run["state"] == "success", rest.task_instances("qaoa_maxcut", run_id)
    ti = _ti(rest, "qaoa_maxcut", run_id, "optimise")
    assert ti["try_number"] >= 2, ti  # Airflow retried the killed attempt

    prefix = f"runs/qaoa_maxcut/{safe_key_part(run_id)}/optimise"
    manifest = store.read_manifest(store.uri(f"{prefix}/manifest.json"))
    resumed = int(manifest["measurements"]["resumed_from_iteration"])
    # Everything checkpointed when the process died was reused, not evaluated again ...
    assert resumed >= killed_at
    trace = store.read_table(store.uri(f"{prefix}/data.parquet"))
    # ... and the loop spent exactly its budget: one row per evaluation, numbered without repeats.
    assert list(trace["iteration"]) == list(range(len(trace)))
    assert len(trace) <= LOOP_CONF["max_iterations"]
    assert int(manifest["measurements"]["iterations"]) == len(trace)


def _reservations(live_stack: LiveStack, backend: str) -> int:
    """Spend-ledger rows of the prod-like environment on ``backend`` (one per admitted submission;
    the loop's own evaluations on its free simulator are booked under their backend, not this one)."""
    url = live_stack.env.get("QFLOW_LEDGER_URL") or f"sqlite:///{live_stack.root / 'state' / 'ledger.sqlite'}"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("qflow_spend"):
                return 0
            query = sa.text("SELECT COUNT(*) FROM qflow_spend WHERE environment = :env AND backend = :backend")
            return int(conn.execute(query, {"env": APPROVAL_ENVIRONMENT, "backend": backend}).scalar_one())
    finally:
        engine.dispose()


def _jobs_on_service(live_stack: LiveStack) -> int:
    assert live_stack.jobservice is not None
    return int(httpx.get(f"{live_stack.jobservice.url}/admin/stats", timeout=10).json()["jobs"]["total"])


@pytest.fixture
def approval_environment(rest: RestClient) -> Any:
    """Runs resolve their environment from the Airflow Variable: point it at the prod-like one."""
    rest.request("DELETE", "/variables/qflow_environment")
    response = rest.request("POST", "/variables", json={"key": "qflow_environment", "value": APPROVAL_ENVIRONMENT})
    response.raise_for_status()
    yield APPROVAL_ENVIRONMENT
    rest.request("DELETE", "/variables/qflow_environment")


def _answer_until_the_run_ends(rest: RestClient, run_id: str, answer: str, timeout: float = 900) -> dict[str, Any]:
    """Answer the approval request as a person would, through the REST API, and wait for the run.

    Airflow can move the HITL task to a new try before it reads the answer (its LocalExecutor
    sometimes reports a parked task as finished, and the DAG's retries then ask again): a request
    that is open again is answered again, exactly as the person on call would."""
    url = f"/dags/qaoa_maxcut/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails"
    deadline = time.monotonic() + timeout
    answered = 0
    asked_at: dict[int, float] = {}  # try number -> when it was first seen awaiting input
    while time.monotonic() < deadline:
        run = dict(rest.get(f"/dags/qaoa_maxcut/dagRuns/{run_id}"))
        if run["state"] in ("success", "failed"):
            assert answered >= 1, "the run ended without the approval gate asking"
            return run
        ti = _ti(rest, "qaoa_maxcut", run_id, "approve")
        if ti["state"] == "awaiting_input":
            first_seen = asked_at.setdefault(int(ti["try_number"]), time.monotonic())
            # Answer after a person's reading time, not the instant the task parks: Airflow 3.3
            # resumes a parked task on the answer at once, and if that lands before the scheduler
            # has processed the parking worker's exit, it takes the exit for a failure of the
            # resumed try (seen here every time with a sub-second answer).
            if time.monotonic() - first_seen < 10:
                time.sleep(1)
                continue
            detail = rest.request("GET", url)
            if detail.status_code == 200 and not detail.json().get("response_received"):
                response = rest.request("PATCH", url, json={"chosen_options": [answer], "params_input": {}})
                assert response.status_code in (200, 409), response.text
                answered += 1
        time.sleep(1)
    raise AssertionError(f"{run_id} did not finish after {answered} answer(s)")


@pytest.mark.parametrize("answer", ["Approve", "Reject"])
def test_the_approval_gate_is_answered_through_the_rest_api(
    live_stack: LiveStack, rest: RestClient, approval_environment: str, answer: str
) -> None:
    conf: dict[str, object] = {"n_nodes": 4, "degree": 2, "reps": 1, "shots": 256, "max_iterations": 4}
    backend = conf["backend"] = "jobservice:fake_manila"  # the prod-like policy makes it need approval
    run_id = f"approval_{answer.lower()}_{int(time.time())}"
    jobs_before, reserved_before = _jobs_on_service(live_stack), _reservations(live_stack, backend)
    rest.trigger("qaoa_maxcut", conf, run_id=run_id)
    run = _answer_until_the_run_ends(rest, run_id, answer)
    states = {t["task_id"]: t["state"] for t in rest.task_instances("qaoa_maxcut", run_id)}
    if answer == "Approve":
        assert run["state"] == "success", states
        assert states["sample"] == "success"
        assert _jobs_on_service(live_stack) == jobs_before + 1  # exactly one job, on the approved backend
        assert _reservations(live_stack, backend) == reserved_before + 1  # admitted once, in the prod-like budget
    else:
        assert states["sample"] == "skipped", states
        assert _jobs_on_service(live_stack) == jobs_before  # rejected: no submission ...
        assert _reservations(live_stack, backend) == reserved_before  # ... and no spend reserved
