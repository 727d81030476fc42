"""Run the job service as a child process (for tests, benchmarks and scripts).

``JobServiceProcess`` starts ``python -m include.cli emulator serve`` in its own process group on a
free port, waits for ``/health``, and stops (SIGTERM) or kills (SIGKILL, like a crash) the whole
group, worker processes included. Use it as a context manager so the process never outlives you.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import httpx

# `make up` serves on 8790; test and benchmark services take a port the OS picks, so concurrent
# runs on one machine (and Airflow's log servers on 8793/8794) never collide with them.
PORT_RANGE = range(0)


def free_port(candidates: range = PORT_RANGE) -> int:
    """A port in ``candidates`` nobody listens on, else (and by default) one the OS picks."""
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class JobServiceProcess:
    def __init__(
        self,
        db_path: str | Path,
        *,
        port: int | None = None,
        workers: int = 1,
        backend: str = "fake_manila",
        faults: Mapping[str, Any] | None = None,
        log_path: str | Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.port = port or free_port()
        self.workers = workers
        self.backend = backend
        self.faults = dict(faults or {})
        self.log_path = Path(log_path) if log_path else self.db_path.with_suffix(".log")
        self.env = dict(env or os.environ)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "include.cli", "emulator", "serve", "--port", str(self.port)]
        cmd += ["--db", str(self.db_path), "--workers", str(self.workers), "--backend", self.backend]
        if self.faults:
            cmd += ["--faults", json.dumps(self.faults)]
        return cmd

    def start(self, timeout: float = 90.0) -> JobServiceProcess:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop/kill)
        self.proc = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"job service exited with {self.proc.returncode}; log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"job service not healthy after {timeout} s; log {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _signal_group(self, sig: int, wait: float) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Worker processes share the group; make sure none is left behind.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        """Graceful stop (SIGTERM), SIGKILL after 15 s."""
        self._signal_group(signal.SIGTERM, 15)

    def kill(self) -> None:
        """Crash the service: SIGKILL to it and its workers at once."""
        self._signal_group(signal.SIGKILL, 10)

    def __enter__(self) -> JobServiceProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
