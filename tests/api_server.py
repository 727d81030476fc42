"""Airflow's api-server alone, as a real process: for tests and benches of what it serves (the
qflow plugin's apps) that need no scheduler. Its own AIRFLOW_HOME (a fresh SQLite metadata DB,
the simple auth manager with one admin), this repo's plugins, and the ledger URL the caller gives.
The full stack (scheduler, triggerer, workers) is ``tests.live_stack.LiveStack``."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from tests.live_stack import USER, free_port


@dataclass
class ApiServer:
    root: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "api-server.log"

    def env(self) -> dict[str, str]:
        home = self.root / "airflow"
        return {
            **os.environ,
            **self.extra_env,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        }

    def start(self, timeout: float = 240) -> ApiServer:
        shutil.rmtree(self.root, ignore_errors=True)
        home = self.root / "airflow"
        home.mkdir(parents=True)
        (home / "passwords.json").write_text(json.dumps({USER: self.password}) + "\n")
        env = self.env()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        migrated = subprocess.run(
            ["airflow", "db", "migrate"], env=env, stdout=self._log, stderr=subprocess.STDOUT, timeout=300
        )
        if migrated.returncode:
            raise RuntimeError(f"airflow db migrate failed; see {self.log_path}")
        self.proc = subprocess.Popen(
            ["airflow", "api-server"], env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"airflow api-server exited with {self.proc.returncode}; see {self.log_path}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).status_code == 200:
                    return self
            time.sleep(1)
        raise RuntimeError(f"api-server not up after {timeout} s; see {self.log_path}")

    def token(self) -> str:
        response = httpx.post(
            f"{self.base_url}/auth/token", json={"username": USER, "password": self.password}, timeout=30
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
