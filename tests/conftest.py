"""Shared fixtures: the real local SeaweedFS (started here if `make test` did not) and a
store scoped to a fresh prefix per test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from include.store.artifacts import ArtifactStore
from include.store.config import S3Settings, s3_client, s3_settings_from_env

REPO = Path(__file__).resolve().parent.parent
# Tests against real running stacks: `-m "not live"` leaves them out.
LIVE_DIRS = (REPO / "tests" / "live", REPO / "tests" / "cluster")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(d in Path(str(item.fspath)).parents for d in LIVE_DIRS):
            item.add_marker(pytest.mark.live)
            item.add_marker(pytest.mark.integration)


def _qflow_environment() -> dict[str, str]:
    """The environment scripts/env.sh sets (AIRFLOW_HOME under .qflow/, S3 connection, ...)."""
    out = subprocess.run(
        ["bash", "-c", f"source {REPO}/scripts/env.sh && env -0"], capture_output=True, check=True
    ).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


# Before anything imports Airflow: never let a test run touch ~/airflow.
os.environ.update(_qflow_environment())


def _s3_up() -> bool:
    return subprocess.run([str(REPO / "scripts" / "s3.sh"), "status"], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def s3_settings() -> Iterator[S3Settings]:
    started = False
    if not _s3_up():
        subprocess.run([str(REPO / "scripts" / "s3.sh"), "start"], check=True)
        started = True
    yield s3_settings_from_env()
    if started:
        subprocess.run([str(REPO / "scripts" / "s3.sh"), "stop"], check=False)


@pytest.fixture
def store(s3_settings: S3Settings) -> ArtifactStore:
    return ArtifactStore(s3_client(s3_settings), s3_settings.bucket)


@pytest.fixture
def prefix() -> str:
    return f"tests/{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def qflow_env(s3_settings: S3Settings) -> dict[str, str]:
    """Environment for subprocesses (airflow, qflow), with SeaweedFS up."""
    return dict(os.environ)


def airflow_dags_test(
    dag_id: str, env: Mapping[str, str], conf: Mapping[str, object] | None = None, *, timeout: float = 900
) -> tuple[str, str, str]:
    """Run ``airflow dags test DAG_ID -c CONF``; returns (run id, final state, output).

    ``airflow dags test`` exits 0 even when the run fails, so the state comes from its
    "DagRun Finished" line."""
    command = ["airflow", "dags", "test", dag_id]
    if conf:
        command += ["-c", json.dumps(conf)]
    proc = subprocess.run(command, env=dict(env), capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    match = re.search(r"DagRun Finished: .*?run_id=([^,]+),.*?state=(\w+)", output)
    assert match, f"no DagRun Finished line; rc={proc.returncode}\n{output[-3000:]}"
    return match.group(1), match.group(2), output


def deferred_loop_on_job_service(
    dag_id: str, stage: str, env: Mapping[str, str], conf: Mapping[str, object], tmp_path: Any, store: Any
) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """``airflow dags test`` of ``dag_id`` with its loop on the local job service (3 s queue, so every
    evaluation defers); asserts what holds for every workload's deferred loop — success, one deferral
    and one service job per evaluation, each recorded as deferred with its target — and returns
    (run id, the ``stage`` manifest, its evaluations)."""
    import httpx

    from include.emulator.process import JobServiceProcess
    from include.store.artifacts import safe_key_part

    with JobServiceProcess(tmp_path / "jobs.sqlite", faults={"queue_delay_seconds": 3}) as service:
        env = {**env, "QFLOW_JOBSERVICE_URL": service.url, "QFLOW_LEDGER_URL": f"sqlite:///{tmp_path / 'l.db'}"}
        run_id, state, output = airflow_dags_test(
            dag_id, env, {**conf, "loop_backend": "jobservice:fake_manila"}, timeout=600
        )
        assert state == "success", output[-4000:]
        jobs = httpx.get(f"{service.url}/jobs", params={"limit": 100}).json()["jobs"]
    manifest = store.read_manifest(store.uri(f"runs/{dag_id}/{safe_key_part(run_id)}/{stage}/manifest.json"))
    evaluations = manifest["measurements"]["evaluations"]
    n = int(conf["max_iterations"])  # type: ignore[call-overload]
    assert len(evaluations) == n and output.count("deferring (no worker held while it waits)") == n
    assert [e["mode"] for e in evaluations] == ["deferred"] * n
    assert sorted(e["job_id"] for e in evaluations) == sorted(j["job_id"] for j in jobs)  # one job each
    assert manifest["params"]["backends"] == {"jobservice:fake_manila": n}
    assert all(e["target_fingerprint"] and e["measurement_layout"] for e in evaluations)
    return run_id, manifest, evaluations
