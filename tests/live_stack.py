"""The real qflow stack for live tests: what `make up` runs, started once per test session.

``LiveStack.start`` runs, on its own AIRFLOW_HOME (``.qflow/live/airflow``, wiped first) with a
fresh SQLite DB and qflow's warm LocalExecutor (as `make up`): the local job service (a free port in 8790–8799), then
Airflow's api-server (a free port), scheduler, triggerer and dag-processor as separate
processes, each in its own process group with its log under ``.qflow/live/logs/``. SeaweedFS
is the session's (``s3_settings`` reuses one already serving). Scheduled runs are off
(``use_job_schedule=False``): only what a test triggers runs.

For the tests that use it: ``base_url``, ``env`` (what the components run with), ``pids``
(component → PID; ``signal(name, sig)`` and ``restart(name)`` for kill tests),
``password``, and ``rest()``: an ``httpx.Client`` on ``/api/v2`` with a JWT from ``/auth/token``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from include.emulator.process import JobServiceProcess

REPO = Path(__file__).resolve().parent.parent
# Native libraries only an import of the task stack maps (Qiskit's Rust core, Arrow's C++ library):
# how a test or bench sees that an executor worker is warm (operators/executors/warm_local.py).
STACK_LIBRARIES = ("qiskit/_accelerate", "pyarrow/libarrow")
COMPONENTS = ("api-server", "scheduler", "triggerer", "dag-processor")
USER = "admin"
TERMINAL = {"success", "failed"}
# A prod-like environment added to the stack's policy: the job service needs approval, as IBM
# hardware does in prod (tests select it with the Airflow Variable `qflow_environment`).
APPROVAL_ENVIRONMENT = "prod_like"
SIGKILL = signal.SIGKILL  # (the class's `signal` method shadows the module in its body)


def write_policy(path: Path) -> Path:
    """The project's policy plus APPROVAL_ENVIRONMENT (dev's budgets, approval for jobservice:*)."""
    import yaml

    policy = yaml.safe_load((REPO / "include" / "governance" / "policy.yaml").read_text())
    policy["environments"][APPROVAL_ENVIRONMENT] = {
        **policy["environments"]["dev"],
        "approval_required": ["jobservice:*"],
    }
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RestClient:
    """``/api/v2`` with a bearer JWT from ``POST /auth/token`` (re-fetched on 401)."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        self._credentials = {"username": username, "password": password}
        self.http = httpx.Client(base_url=f"{base_url}/api/v2", timeout=30)
        self.login()

    def token(self) -> str:
        response = httpx.post(f"{self.base_url}/auth/token", json=self._credentials, timeout=30)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def login(self) -> None:
        self.http.headers["Authorization"] = f"Bearer {self.token()}"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call; a 401 logs in again, and SQLite's "database is locked" under the scheduler's
        writes (a 500 "Database error") is retried a few times."""
        for attempt in range(6):
            response = self.http.request(method, path, **kwargs)
            if response.status_code == 401:
                self.login()
                response = self.http.request(method, path, **kwargs)
            if response.status_code != 500 or "Database error" not in response.text or attempt == 5:
                return response
            time.sleep(1 + attempt)
        raise AssertionError("unreachable")

    def get(self, path: str, **kwargs: Any) -> Any:
        response = self.request("GET", path, **kwargs)
        response.raise_for_status()
        return response.json()

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id:
            body["dag_run_id"] = run_id
        response = self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)
        response.raise_for_status()
        return dict(response.json())

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 200})["task_instances"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600) -> dict[str, Any]:
        """Poll until the run is success or failed; fails with its task states on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            run = dict(self.get(f"/dags/{dag_id}/dagRuns/{run_id}"))
            if run["state"] in TERMINAL:
                return run
            if time.monotonic() > deadline:
                states = {t["task_id"]: t["state"] for t in self.task_instances(dag_id, run_id)}
                raise TimeoutError(f"{dag_id} {run_id} still {run['state']} after {timeout} s: {states}")
            time.sleep(2)

    def close(self) -> None:
        self.http.close()


@dataclass
class LiveStack:
    root: Path
    s3_env: Mapping[str, str]
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    env: dict[str, str] = field(default_factory=dict)
    # AIRFLOW__* settings over the stack's own (a bench comparing one setting both ways).
    airflow_overrides: Mapping[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    jobservice: JobServiceProcess | None = None
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        return self.root / "airflow"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> dict[str, int]:
        pids = {name: proc.pid for name, proc in self.procs.items()}
        if self.jobservice and self.jobservice.proc:
            pids["jobservice"] = self.jobservice.proc.pid
        return pids

    def rest(self) -> RestClient:
        return RestClient(self.base_url, USER, self.password)

    def build_env(self, jobservice_url: str) -> dict[str, str]:
        env = dict(self.s3_env)
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "QFLOW_STATE_DIR": str(self.root / "state"),  # ledgers of this stack only
                "QFLOW_JOBSERVICE_URL": jobservice_url,
                "QFLOW_POLICY_FILE": str(write_policy(self.root / "policy.yaml")),
                "QFLOW_SWEEP_ROOT": f"tests/live-{secrets.token_hex(4)}/sweep",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db",
                # What `make up` runs: workers that import the task stack once (bytecode: make install).
                "AIRFLOW__CORE__EXECUTOR": "operators.executors.warm_local.WarmLocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",  # 2 shared cores
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only what a test triggers runs
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",  # as scripts/env.sh
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            }
        )
        env.update(self.airflow_overrides)
        return env

    def start(self, timeout: float = 300) -> LiveStack:
        shutil.rmtree(self.root, ignore_errors=True)
        self.home.mkdir(parents=True)
        self.log_dir.mkdir(parents=True)
        self.jobservice = JobServiceProcess(
            self.root / "state" / "jobservice.sqlite", log_path=self.log_dir / "jobservice.log", env=self.s3_env
        ).start()
        self.env = self.build_env(self.jobservice.url)
        (self.home / "passwords.json").write_text(json.dumps({USER: self.password}) + "\n")
        self._run(["airflow", "db", "migrate"], "db-migrate")
        self._run(["qflow", "pools", str(self.root / "pools.json")], "pools")
        self._run(["airflow", "pools", "import", str(self.root / "pools.json")], "pools")
        for name in COMPONENTS:
            self._spawn(name)
        self.wait_healthy(timeout)
        return self

    def _run(self, command: list[str], log_name: str) -> None:
        with open(self.log_dir / f"{log_name}.log", "ab") as log:
            proc = subprocess.run(command, env=self.env, stdout=log, stderr=subprocess.STDOUT, timeout=300)
        if proc.returncode:
            log_path = self.log_dir / f"{log_name}.log"
            raise RuntimeError(f"{' '.join(command)} failed; see {log_path}:\n{self.log_tail(log_name)}")

    def log_tail(self, name: str, lines: int = 40) -> str:
        try:
            return "\n".join((self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_healthy(self, timeout: float) -> None:
        """Every component healthy in ``/api/v2/monitor/health`` and the DAGs parsed."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"airflow {name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            try:
                health = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).json()
                states = {k: (v or {}).get("status") for k, v in health.items()}
                last = json.dumps(states)
                if all(state == "healthy" for state in states.values()):
                    dags = {d["dag_id"] for d in self.rest().get("/dags", params={"limit": 100})["dags"]}
                    expected = {p.stem for p in (REPO / "dags").glob("*.py")}
                    if expected <= dags:
                        return
                    last = f"parsed DAGs {sorted(dags)} of {sorted(expected)}"
            except (httpx.TransportError, ValueError, httpx.HTTPStatusError) as exc:
                last = repr(exc)
            time.sleep(2)
        raise RuntimeError(f"live stack not ready after {timeout} s (last: {last}); logs in {self.log_dir}")

    def signal(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal one component's process group (e.g. SIGKILL the scheduler and its children)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.procs[name].pid, sig)

    def _spawn(self, name: str) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed in stop)
        self._logs.append(log)
        self.procs[name] = subprocess.Popen(
            ["airflow", name], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def restart(self, name: str, sig: int = SIGKILL, timeout: float = 120) -> None:
        """Signal one component's process group (SIGKILL: a crash), reap it, start it again and wait
        until the stack is healthy (``/monitor/health`` reports every component healthy again)."""
        self.signal(name, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.procs[name].wait(timeout=30)
        self._spawn(name)
        self.wait_healthy(timeout)

    def executor_workers(self) -> dict[int, bool]:
        """The LocalExecutor's worker processes (by their process title) → whether each holds the task stack."""
        workers: dict[int, bool] = {}
        for pid in processes_titled("airflow worker -- LocalExecutor"):
            with contextlib.suppress(OSError):  # gone since the scan
                workers[pid] = stack_mapped(pid)
        return workers

    def wait_warm(self, timeout: float = 180) -> dict[int, bool]:
        """Wait until every executor worker has imported the task stack (each does once, at start),
        as on a stack that has been up a while; returns the workers (time-out: as they are)."""
        deadline = time.monotonic() + timeout
        workers = self.executor_workers()
        while time.monotonic() < deadline and not (workers and all(workers.values())):
            time.sleep(1)
            workers = self.executor_workers()
        return workers

    def stop(self) -> None:
        for name in reversed(COMPONENTS):
            proc = self.procs.get(name)
            if proc is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # task processes of the group too
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self.procs.clear()
        if self.jobservice is not None:
            self.jobservice.stop()
            self.jobservice = None
        for log in self._logs:
            log.close()
        self._logs.clear()


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def ensure_chromium() -> str | None:
    """Install Debian's chromium when missing (as root); the reason it is unavailable, or None."""
    if CHROMIUM.exists():
        return None
    if os.geteuid() != 0:
        return f"{CHROMIUM} is missing and installing it needs root (apt-get install -y chromium)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode:
            return f"{' '.join(command)} failed: {proc.stderr[-500:]}"
    return None if CHROMIUM.exists() else f"apt-get installed chromium but {CHROMIUM} is missing"


def stack_mapped(pid: int) -> bool:
    """Whether process ``pid`` has the task stack's native libraries mapped (it imported the stack)."""
    maps = (Path("/proc") / str(pid) / "maps").read_text(errors="replace")
    return all(lib in maps for lib in STACK_LIBRARIES)


def processes_titled(fragment: str) -> list[int]:
    """PIDs whose command line (the process title Airflow sets, e.g. ``airflow worker -- <ti id>``
    for a task process) contains ``fragment``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fragment in cmdline:
            pids.append(int(proc.name))
    return pids
