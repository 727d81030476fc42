"""qflow on the one-machine cluster (``make up-cluster``): CeleryExecutor with two workers and two
triggerers on PostgreSQL and Redis, a SeaweedFS cluster, the ledgers on PostgreSQL — driven through
the REST API as a user or an outside system would.

The job service gets a 4 s queue delay (its admin API), so every QAOA evaluation on it defers and
waits in a triggerer, not a worker slot. Every run's assertions: it succeeds (Airflow retries where it
should), the job service holds exactly one job per evaluation (no duplicate submission), and its
artifacts verify (``qflow lineage verify``; no artifact without its manifest).

Chaos, one at a time on a loop of ``LOOP`` evaluations, each compared with the uninterrupted
reference run's trace: a Celery worker SIGKILLed while it runs an evaluation; the triggerer holding a
waiting job's trigger SIGKILLed (the other takes it over); the scheduler restarted mid-run; a
SeaweedFS volume server stopped during a night's writes; and two runs racing for the last of a day's
budget on the PostgreSQL ledger.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from include.benchmark.grid import night_prefix_for
from include.deploy.cluster import Cluster, parent_of
from include.store.artifacts import ArtifactStore, safe_key_part
from include.store.config import s3_client
from include.store.lineage import verify
from tests.live.test_loops import (
    _assert_one_job_per_evaluation,
    _assert_same_trace,
    _checkpoint,
    _manifest,
    _service_jobs,
)
from tests.live.test_retries_and_approval import _task_processes, _ti
from tests.live_stack import REPO, RestClient

DAG = "qaoa_maxcut"
QUEUE_DELAY = 4.0
LOOP: dict[str, Any] = {
    "n_nodes": 4,
    "degree": 2,
    "reps": 1,
    "shots": 256,
    "max_iterations": 8,
    "seed": 5,
    "loop_backend": "jobservice:fake_manila",
}
VQC: dict[str, Any] = {
    "dataset": "iris",
    "n_classes": 2,
    "features_kept": 2,
    "max_iterations": 5,
    "shots": 128,
    "seed": 5,
}
GRID: dict[str, Any] = {
    "workloads": ["maxcut"],  # as before the classifier joined the grid
    "families": ["maxcut_regular"],
    "sizes": [4, 6],
    "seeds_per_size": 2,
    "reps": [1],
    "shots": [256],
    "noise": ["ideal"],
    "backends": ["aer:statevector"],
    "angle_evaluations": 20,
}
RUN_TIMEOUT = 900
# The budget race: an environment whose day has room for one loop's reservation, not two.
RACE_ENVIRONMENT = "race"
RACE_LOOP = {**LOOP, "seed": 11}
RACE_SPEND_PER_DAY = 1.5 * RACE_LOOP["shots"] * RACE_LOOP["max_iterations"] * 0.00001


@pytest.fixture(scope="module")
def cluster_store(cluster: Cluster) -> ArtifactStore:
    settings = cluster.s3_settings()
    return ArtifactStore(s3_client(settings), settings.bucket)


class Runs:
    def __init__(self, rest: RestClient) -> None:
        self.rest = rest
        self.stamp = int(time.time())
        self.ids: dict[str, str] = {}

    def trigger(self, name: str, conf: dict[str, Any], dag_id: str = DAG) -> str:
        run_id = f"cluster_{name}_{self.stamp}"
        self.rest.trigger(dag_id, conf, run_id=run_id)
        self.ids[name] = run_id
        return run_id

    def wait_success(self, run_id: str, dag_id: str = DAG) -> None:
        run = self.rest.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT)
        states = {t["task_id"]: (t["state"], t["try_number"]) for t in self.rest.task_instances(dag_id, run_id)}
        assert run["state"] == "success", states


@pytest.fixture(scope="module")
def runs(cluster: Cluster, cluster_rest: RestClient) -> Iterator[Runs]:
    faults = f"{cluster.config.jobservice_url}/admin/faults"
    httpx.put(faults, json={"queue_delay_seconds": QUEUE_DELAY}, timeout=10).raise_for_status()
    try:
        runs = Runs(cluster_rest)
        runs.trigger("reference", LOOP)  # the uninterrupted run every chaos run's trace must equal
        yield runs
    finally:
        httpx.put(faults, json={}, timeout=10).raise_for_status()


def _verify_run(cluster: Cluster, store: ArtifactStore, prefix: str, terminal: str) -> None:
    """Every manifest under ``prefix`` verifies (its artifact and all it was made from), every data
    object has its manifest, and the terminal artifact verifies through the ``qflow`` CLI."""
    keys = [
        obj["Key"]
        for page in store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=prefix + "/")
        for obj in page.get("Contents", [])
    ]
    manifests = [k for k in keys if k.endswith("/manifest.json")]
    assert manifests, f"no artifacts under {prefix}"
    for key in keys:
        if key.endswith("/data.parquet"):
            assert key.removesuffix("data.parquet") + "manifest.json" in keys, f"{key} has no manifest"
    for key in manifests:
        assert verify(store, store.uri(key)) == [], key
    proc = subprocess.run(
        [sys.executable, "-m", "include.cli", "lineage", "verify", store.uri(f"{prefix}/{terminal}")],
        cwd=REPO,
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0 and "verified" in proc.stdout, proc.stdout + proc.stderr


def _run_prefix(dag_id: str, run_id: str) -> str:
    return f"runs/{dag_id}/{safe_key_part(run_id)}"


def _wait_for(what: str, check: Any, runs: Runs, run_id: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
    """Poll the run's optimise task until ``check(ti)`` holds; fails if optimise ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ti = _ti(runs.rest, DAG, run_id, "optimise")
        assert ti["state"] not in ("success", "failed"), f"optimise ended ({ti['state']}) before {what}"
        if check(ti):
            return ti
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_workloads_succeed_on_the_cluster_and_every_artifact_verifies(
    cluster: Cluster, runs: Runs, cluster_store: ArtifactStore
) -> None:
    reference = runs.ids["reference"]
    vqc = runs.trigger("vqc", VQC, "vqc_classifier")
    night = runs.trigger("night", GRID, "nightly_benchmark")
    runs.wait_success(reference)
    runs.wait_success(vqc, "vqc_classifier")
    runs.wait_success(night, "nightly_benchmark")

    store = cluster_store
    manifest = _manifest(store, reference)
    evaluations = manifest["measurements"]["evaluations"]
    assert [e["mode"] for e in evaluations] == ["deferred"] * LOOP["max_iterations"]
    _assert_one_job_per_evaluation(cluster.config.jobservice_url, store, reference, LOOP["max_iterations"])
    # Celery ran the tasks: both workers took tasks of these runs (4 slots, 3 runs at once).
    worker_logs = {name: cluster.log_path(name).read_text(errors="replace") for name in cluster.worker_names}
    assert all("execute_workload" in log for log in worker_logs.values()), "a Celery worker took no task"
    _verify_run(cluster, store, _run_prefix(DAG, reference), "summary/manifest.json")
    _verify_run(cluster, store, _run_prefix("vqc_classifier", vqc), "summary/manifest.json")
    _verify_run(cluster, store, night_prefix_for(night), "report/manifest.json")


def _process_age(pid: int) -> float:
    """Seconds since process ``pid`` started (/proc: its start time in clock ticks after boot)."""
    stat = (Path("/proc") / str(pid) / "stat").read_text()
    started = int(stat[stat.rindex(")") + 2 :].split()[19]) / os.sysconf("SC_CLK_TCK")
    return float(Path("/proc/uptime").read_text().split()[0]) - started


def _task_phases_started(runs: Runs, run_id: str) -> int:
    """How many times the optimise task's execute began, over all its tries (task logs by REST)."""
    started, try_number = 0, 1
    while True:
        path = f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/optimise/logs/{try_number}"
        response = runs.rest.request("GET", path, params={"full_content": True})
        if response.status_code == 404 or try_number > 5:
            return started
        started += response.text.count("::group::Pre Execute")
        try_number += 1


def test_a_celery_worker_killed_while_it_runs_an_evaluation_is_retried_with_the_same_trace(
    cluster: Cluster, runs: Runs, cluster_store: ArtifactStore
) -> None:
    store = cluster_store
    # Each resumed evaluation's execute (collect the job, score, submit the next) took ~0.5 s here,
    # less than the 0.6 s a task process must be up to be past its start-up: the kill could not land
    # inside one. The job service's answers delayed by 0.5 s each make it last seconds.
    faults = f"{cluster.config.jobservice_url}/admin/faults"
    httpx.put(faults, json={"queue_delay_seconds": QUEUE_DELAY, "latency_seconds": 0.5}, timeout=10).raise_for_status()
    try:
        _kill_a_worker_mid_evaluation(cluster, runs, store)
    finally:
        httpx.put(faults, json={"queue_delay_seconds": QUEUE_DELAY}, timeout=10).raise_for_status()


def _kill_a_worker_mid_evaluation(cluster: Cluster, runs: Runs, store: ArtifactStore) -> None:
    run_id = runs.trigger("worker_kill", LOOP)
    victim: str | None = None

    def running_mid_loop(ti: dict[str, Any]) -> bool:
        nonlocal victim
        done = len(_checkpoint(store, run_id)["iterations"])
        if ti["state"] != "running" or not 2 <= done < LOOP["max_iterations"] - 1:
            return False
        workers = {cluster.pid(name): name for name in cluster.worker_names}
        for pid in _task_processes(ti["id"]):
            ancestor: int | None = pid  # task process -> its supervisor (a pool process) -> the worker
            while ancestor and ancestor not in workers:
                ancestor = parent_of(ancestor)
            try:  # past its start-up (~0.2 s): inside the evaluation's execute
                inside = _process_age(pid) >= 0.6
            except OSError:
                continue
            if ancestor and inside:
                victim = workers[ancestor]
                return True
        return False

    kills = 0  # a kill just after the try reported its deferral misses: the task defers as usual
    while True:
        _wait_for(f"a worker running an evaluation (after {kills} kills that missed)", running_mid_loop, runs, run_id)
        assert victim is not None
        # SIGKILL the worker and all it runs (pool processes, the task); start it again, as a
        # supervisor would. Airflow finds the task dead (no heartbeat) and retries it, on either worker.
        cluster.restart(victim)
        kills += 1
        outcome = _wait_for(
            "the killed try retried or deferred",
            lambda ti: ti["try_number"] >= 2 or ti["state"] in ("up_for_retry", "deferred"),
            runs,
            run_id,
        )
        if outcome["try_number"] >= 2 or outcome["state"] == "up_for_retry":
            break
    runs.wait_success(run_id)
    # The killed execute is one more start than the loop's own (one per deferral, plus the last).
    assert _task_phases_started(runs, run_id) >= LOOP["max_iterations"] + 2
    _assert_one_job_per_evaluation(cluster.config.jobservice_url, store, run_id, LOOP["max_iterations"])
    runs.wait_success(runs.ids["reference"])
    _assert_same_trace(store, run_id, runs.ids["reference"])


def _heartbeats(rest: RestClient) -> dict[int, str]:
    jobs = rest.get("/jobs", params={"job_type": "TriggererJob", "state": "running", "limit": 100})["jobs"]
    return {int(j["id"]): str(j["latest_heartbeat"]) for j in jobs}


def _triggerer_jobs(cluster: Cluster, rest: RestClient) -> dict[str, int]:
    """Each triggerer's Airflow job id. Both run on one host, so the job table cannot tell them
    apart: pause one (SIGSTOP, for less than the 30 s after which its triggers would move) and see
    whose heartbeat stops (heartbeats every 5 s)."""
    first, *others = cluster.triggerer_names
    before = _heartbeats(rest)
    cluster.signal(first, signal.SIGSTOP)
    try:
        time.sleep(12)
        after = _heartbeats(rest)
    finally:
        cluster.signal(first, signal.SIGCONT)
    stalled = [job for job, beat in after.items() if before.get(job) == beat]
    assert len(stalled) == 1 and len(after) == len(cluster.triggerer_names), (before, after)
    rest_jobs = [job for job in after if job not in stalled]
    return {first: stalled[0], **dict(zip(others, rest_jobs, strict=True))}


def test_a_killed_triggerer_hands_its_waiting_triggers_to_the_other(
    cluster: Cluster, runs: Runs, cluster_store: ArtifactStore
) -> None:
    store = cluster_store
    job_of = _triggerer_jobs(cluster, runs.rest)
    run_id = runs.trigger("triggerer_kill", LOOP)
    ti = _wait_for(
        "an evaluation deferred to a triggerer",
        lambda t: (
            t["state"] == "deferred"
            and (t.get("trigger") or {}).get("triggerer_id") is not None
            and len(_checkpoint(store, run_id)["iterations"]) >= 2
        ),
        runs,
        run_id,
    )
    trigger_id, holder_job = ti["trigger"]["id"], ti["trigger"]["triggerer_id"]
    holder = next(name for name, job in job_of.items() if job == holder_job)
    waiting = _checkpoint(store, run_id)["pending"]
    assert waiting is not None
    cluster.signal(holder)  # and it stays down: the other must take its triggers over
    killed_at = datetime.now(UTC)
    try:
        runs.wait_success(run_id)
        assert cluster.pid(holder) is None  # nobody but the survivor can have run the waiting trigger
        _assert_one_job_per_evaluation(cluster.config.jobservice_url, store, run_id, LOOP["max_iterations"])
        evaluations = _manifest(store, run_id)["measurements"]["evaluations"]
        assert evaluations[waiting["iteration"]]["job_id"] == waiting["job_id"]  # the waiting job was collected
        _assert_same_trace(store, run_id, runs.ids["reference"])
        # The survivor ran this task's triggers after the kill: its trigger log for the task (one file
        # per triggerer job, rewritten by each trigger it runs) starts after the kill.
        survivor_job = next(job for name, job in job_of.items() if name != holder)
        logs = cluster.config.airflow_home / "logs" / f"dag_id={DAG}" / f"run_id={run_id}" / "task_id=optimise"
        first = json.loads((logs / f"attempt=1.log.trigger.{survivor_job}.log").read_text().splitlines()[0])
        assert "starting" in first["event"] and datetime.fromisoformat(first["timestamp"]) > killed_at, first
        assert trigger_id is not None
    finally:
        cluster.restart(holder)


def test_a_scheduler_restarted_mid_run_loses_nothing(
    cluster: Cluster, runs: Runs, cluster_store: ArtifactStore
) -> None:
    store = cluster_store
    run_id = runs.trigger("scheduler_restart", LOOP)
    _wait_for("3 evaluations", lambda _t: len(_checkpoint(store, run_id)["iterations"]) >= 3, runs, run_id)
    cluster.restart("scheduler")  # SIGKILL, then start again
    runs.wait_success(run_id)
    _assert_one_job_per_evaluation(cluster.config.jobservice_url, store, run_id, LOOP["max_iterations"])
    _assert_same_trace(store, run_id, runs.ids["reference"])


def test_a_volume_server_stopped_during_the_nights_writes(
    cluster: Cluster, runs: Runs, cluster_store: ArtifactStore
) -> None:
    """Replication 001: every object is on both volume servers, so what was written stays readable
    while one is down; with two servers new writes need both, so the night's tasks fail and Airflow
    retries them until the server is back (docs/deployment.md)."""
    store = cluster_store
    before = _run_prefix(DAG, runs.ids["reference"])
    night = runs.trigger("night_volume_loss", {**GRID, "sizes": [4, 6, 8]}, "nightly_benchmark")
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:  # the night has started writing
        states = {t["task_id"]: t["state"] for t in runs.rest.task_instances("nightly_benchmark", night)}
        if any(s == "success" for s in states.values()):
            break
        time.sleep(0.5)
    victim = cluster.volume_names[0]
    cluster.stop_component(victim, signal.SIGKILL)
    try:
        # Everything written before the loss is still there: read back and re-hashed.
        assert verify(store, store.uri(f"{before}/summary/manifest.json")) == []
        time.sleep(20)
    finally:
        cluster.spawn(victim)
        cluster.wait_ready(120, only=[victim])
    runs.wait_success(night, "nightly_benchmark")
    _verify_run(cluster, store, night_prefix_for(night), "report/manifest.json")


def test_two_runs_racing_for_the_last_of_a_days_budget_do_not_overspend(
    cluster: Cluster, runs: Runs, cluster_store: ArtifactStore
) -> None:
    from include.governance.budget import SpendLedger

    # The cluster's policy gains the race environment (tasks re-read a policy file that changed).
    policy_path = Path(cluster.env()["QFLOW_POLICY_FILE"])
    policy = yaml.safe_load(policy_path.read_text())
    policy["environments"][RACE_ENVIRONMENT] = {
        **policy["environments"]["dev"],
        "spend_per_day": RACE_SPEND_PER_DAY,
        "spend_per_month": 10 * RACE_SPEND_PER_DAY,
    }
    policy_path.write_text(yaml.safe_dump(policy, sort_keys=False))
    jobs_before = len(_service_jobs(cluster.config.jobservice_url))
    response = runs.rest.request("POST", "/variables", json={"key": "qflow_environment", "value": RACE_ENVIRONMENT})
    response.raise_for_status()
    try:
        first = runs.trigger("race_a", RACE_LOOP)
        second = runs.trigger("race_b", RACE_LOOP)
        finished = {
            run_id: runs.rest.wait_for_run(DAG, run_id, timeout=RUN_TIMEOUT)["state"] for run_id in (first, second)
        }
    finally:
        runs.rest.request("DELETE", "/variables/qflow_environment")
    optimise = {run_id: _ti(runs.rest, DAG, run_id, "optimise") for run_id in (first, second)}
    winners = [r for r, ti in optimise.items() if ti["state"] == "success"]
    assert len(winners) == 1, {r: (ti["state"], finished[r]) for r, ti in optimise.items()}
    loser = next(r for r in optimise if r not in winners)
    log = runs.rest.get(f"/dags/{DAG}/dagRuns/{loser}/taskInstances/optimise/logs/1", params={"full_content": True})
    refusal = f"admission refused: [quota] {RACE_ENVIRONMENT}: spend today budget"
    assert refusal in str(log) and f"environments.{RACE_ENVIRONMENT}.spend_per_day" in str(log), str(log)[-2000:]
    # The day's spend stays inside its budget, and only the winner's evaluations reached the service.
    usage = SpendLedger(url=cluster.config.ledger_url).usage(RACE_ENVIRONMENT, datetime.now(UTC))
    assert usage.spend_today <= RACE_SPEND_PER_DAY
    assert len(_service_jobs(cluster.config.jobservice_url)) - jobs_before == RACE_LOOP["max_iterations"]
    _assert_one_job_per_evaluation(
        cluster.config.jobservice_url, cluster_store, winners[0], RACE_LOOP["max_iterations"]
    )
