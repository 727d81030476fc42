"""Durable jobs: kill the triggerer while a job waits in the queue, start a new one, and the run
finishes with exactly one job on the service — real Airflow processes, real job service."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from include.emulator.process import JobServiceProcess, free_port
from include.store.config import S3Settings

pytestmark = pytest.mark.integration

CONF = {"n_nodes": 4, "degree": 2, "reps": 1, "shots": 256, "max_iterations": 8, "backend": "jobservice:fake_manila"}


def _query(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql, args).fetchall()


def _wait(what: str, check: Callable[[], object], timeout: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-2500:]}" for p in logs if p.exists())
    pytest.fail(f"timed out waiting for {what}\n{tails}")


class Component:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.log = log_dir / f"{name}.log"
        self.proc = subprocess.Popen(
            ["airflow", *args], env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def airflow_env(tmp_path: Path, s3_settings: S3Settings) -> Iterator[dict[str, str]]:
    port = free_port(range(8791, 8799))
    home = tmp_path / "airflow"
    home.mkdir()
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__BASE_URL=f"http://localhost:{port}",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://localhost:{port}/execution/",
        AIRFLOW__SCHEDULER__TRIGGERER_HEALTH_CHECK_THRESHOLD="6",
        AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="1",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        QFLOW_LEDGER_URL=f"sqlite:///{tmp_path / 'ledger.sqlite'}",
    )
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    yield env


def test_triggerer_killed_while_job_queued_never_resubmits(tmp_path: Path, airflow_env: dict[str, str]) -> None:
    env = airflow_env
    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    with JobServiceProcess(tmp_path / "jobs.sqlite", faults={"queue_delay_seconds": 30}) as service:
        env["QFLOW_JOBSERVICE_URL"] = service.url
        components = {
            name: Component(name, args, env, tmp_path)
            for name, args in {
                "api-server": ["api-server", "--port", env["AIRFLOW__API__PORT"]],
                "scheduler": ["scheduler"],
                "dag-processor": ["dag-processor"],
                "triggerer": ["triggerer"],
            }.items()
        }
        logs = [c.log for c in components.values()]
        replacement: Component | None = None
        try:
            _wait("the DAG to be parsed", lambda: _query(db, "select 1 from dag where dag_id='qaoa_maxcut'"), 120, logs)
            subprocess.run(["airflow", "dags", "unpause", "qaoa_maxcut"], env=env, check=True, capture_output=True)
            triggered = subprocess.run(
                ["airflow", "dags", "trigger", "qaoa_maxcut", "-c", json.dumps(CONF)],
                env=env,
                capture_output=True,
                text=True,
            )
            assert triggered.returncode == 0, triggered.stdout[-2000:] + triggered.stderr[-2000:]
            deferred = (
                "select 1 from task_instance where dag_id='qaoa_maxcut' and task_id='sample' and state='deferred'"
            )
            _wait("the sample task to defer", lambda: _query(db, deferred), 240, logs)
            queued = httpx.get(f"{service.url}/admin/stats").json()
            components["triggerer"].kill()  # like a crash: no chance to clean up
            time.sleep(3)
            replacement = Component("triggerer-2", ["triggerer"], env, tmp_path)
            logs.append(replacement.log)
            done = "select state from dag_run where dag_id='qaoa_maxcut'"
            _wait(
                "the run to finish",
                lambda: any(r[0] in ("success", "failed") for r in _query(db, done)),
                240,
                logs,
            )
            assert [r[0] for r in _query(db, done)] == ["success"], "\n".join(p.read_text()[-3000:] for p in logs)
            stats = httpx.get(f"{service.url}/admin/stats").json()
            assert stats["jobs"]["total"] == 1, stats
            assert stats["jobs"]["by_state"].get("DONE") == 1, stats
            assert queued["jobs"]["total"] == 1
            states = _query(db, "select state from task_instance where dag_id='qaoa_maxcut' and task_id='sample'")
            assert states == [("success",)]
        finally:
            for component in [*components.values(), *([replacement] if replacement else [])]:
                component.stop()
