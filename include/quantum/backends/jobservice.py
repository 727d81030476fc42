"""Client of the local job service (``include.emulator``, ``qflow emulator serve``).

``JobServiceBackend(url)`` implements ``QuantumBackend`` over HTTP with httpx: sync submit /
status / result / cancel / find_job, plus a native ``status_async`` on ``httpx.AsyncClient`` that
never blocks the event loop (for triggers). Every failure is classified: HTTP answers through
``errors.from_http_status`` (503 outage, 429 rate limit and 5xx are transient; 400/404/409/422
structural), connection problems are transient, and a job's IBM error code through
``errors.from_ibm_code``. The client does not retry by itself: wrap calls in
``errors.call_with_retries`` (submit is safe to retry, it is idempotent on the job's key).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import weakref
from collections.abc import Mapping
from functools import cache, cached_property
from typing import Any

import httpx
import numpy as np

from include.quantum.backends.base import JobState, JobStatus, QuantumBackend, RawResult, SamplerJob
from include.quantum.backends.errors import (
    QuantumError,
    StructuralQuantumError,
    TransientQuantumError,
    from_http_status,
    from_ibm_code,
)
from include.quantum.circuits.wire import circuit_to_base64

DEFAULT_URL = "http://127.0.0.1:8790"
STATUS_FIELDS = (
    "job_id",
    "state",
    "queue_position",
    "created_at",
    "running_at",
    "finished_at",
    "error_code",
    "error_message",
    "usage_seconds",
)


@cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every client (httpx would build one per client: ~20 ms of CPU each)."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


# One AsyncClient (one connection pool) per event loop and service: a triggerer polling hundreds of
# jobs shares it instead of building a client per poll.
_ASYNC_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, float], httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)


def _async_client(url: str, timeout: float) -> httpx.AsyncClient:
    per_loop = _ASYNC_CLIENTS.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get((url, timeout))
    if client is None or client.is_closed:
        client = httpx.AsyncClient(base_url=url, timeout=timeout, verify=_ssl_context())
        per_loop[(url, timeout)] = client
    return client


def default_url() -> str:
    return os.environ.get("QFLOW_JOBSERVICE_URL", DEFAULT_URL)


def _http_error(response: httpx.Response) -> QuantumError:
    """The service's HTTP error as a classified QuantumError (with ``retry_after`` seconds, if sent)."""
    try:
        body = response.json()
        detail = body.get("detail") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    message = str(detail or response.text[:200] or response.reason_phrase)
    retry_after = response.headers.get("Retry-After")
    if retry_after is not None:
        message += f" (Retry-After: {retry_after} s)"
    error = from_http_status(response.status_code, message)
    error.retry_after = float(retry_after) if retry_after is not None else None  # type: ignore[attr-defined]
    return error


def _transport_error(exc: httpx.TransportError, url: str) -> QuantumError:
    return TransientQuantumError(
        f"job service at {url} unreachable ({type(exc).__name__}: {exc})",
        hint="Start it with `make up` or `qflow emulator serve`, or set QFLOW_JOBSERVICE_URL",
    )


def _status(body: Mapping[str, Any]) -> JobStatus:
    return JobStatus.from_dict({key: body.get(key) for key in STATUS_FIELDS})


class JobServiceBackend(QuantumBackend):
    """The job service as a QuantumBackend; its name is ``jobservice:<fake backend name>``."""

    def __init__(self, url: str | None = None, *, timeout: float = 30.0, backend_name: str | None = None) -> None:
        self.url = (url or default_url()).rstrip("/")
        self.timeout = timeout
        self._client = httpx.Client(base_url=self.url, timeout=timeout, verify=_ssl_context())
        self.backend_name: str = backend_name or self.backend_info()["name"]
        self.name = f"jobservice:{self.backend_name}"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> JobServiceBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- HTTP -----------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise _transport_error(exc, self.url) from exc
        if response.status_code >= 400 and not (path.endswith("/result") and response.status_code == 409):
            raise _http_error(response)
        return response

    # --- backend description --------------------------------------------------------------------

    def backend_info(self) -> dict[str, Any]:
        info: dict[str, Any] = self._request("GET", "/backend").json()
        return info

    @cached_property
    def _fake_backend(self) -> Any:
        from include.quantum.backends.fake import fake_backend

        return fake_backend(self.backend_name)

    def target(self) -> Any:
        return self._fake_backend.target

    def max_shots(self) -> int:
        return int(self.backend_info()["max_shots"])

    def expected_wait_seconds(self) -> float:
        """The service's own estimate for a new job (its queue delay and the jobs ahead)."""
        return float(self._request("GET", "/queue").json()["expected_wait_seconds"])

    def calibration_snapshot(self) -> Mapping[str, Any]:
        backend = self._fake_backend
        props = backend.properties() if hasattr(backend, "properties") else None
        stamp = getattr(props, "last_update_date", None)
        return {"backend": self.name, "last_update_date": str(stamp) if stamp else None}

    # --- jobs -----------------------------------------------------------------------------------

    def submit(self, job: SamplerJob) -> str:
        pubs = []
        for pub in job.pubs:
            values = pub.parameter_values
            pubs.append(
                {
                    "circuit": circuit_to_base64(pub.circuit),
                    "parameter_values": None if values is None else np.atleast_2d(values).tolist(),
                }
            )
        body = {
            "pubs": pubs,
            "shots": job.shots,
            "idempotency_key": job.idempotency_key,
            "options": dict(job.options),
            "backend": self.backend_name,
        }
        job_id: str = self._request("POST", "/jobs", json=body).json()["job_id"]
        return job_id

    def status(self, job_id: str) -> JobStatus:
        return _status(self._request("GET", f"/jobs/{job_id}").json())

    async def status_async(self, job_id: str) -> JobStatus:
        try:
            response = await _async_client(self.url, self.timeout).get(f"/jobs/{job_id}")
        except httpx.TransportError as exc:
            raise _transport_error(exc, self.url) from exc
        if response.status_code >= 400:
            raise _http_error(response)
        return _status(response.json())

    def result(self, job_id: str) -> RawResult:
        response = self._request("GET", f"/jobs/{job_id}/result")
        body = response.json()
        if response.status_code == 409:
            state = JobState(body["state"])
            if state is JobState.ERROR:
                raise from_ibm_code(body.get("error_code") or -1, body.get("error_message") or "")
            if state is JobState.CANCELLED:
                raise StructuralQuantumError(
                    f"job {job_id} was cancelled", hint="Resubmit with a new idempotency key to run it again"
                )
            raise TransientQuantumError(f"job {job_id} is {state.value}, not finished", hint="Poll status() until DONE")
        return RawResult(
            job_id=body["job_id"],
            backend_name=self.name,
            shots=int(body["shots"]),
            counts=body["counts"],
            timings=body["timings"],
            metadata={**body["metadata"], "provider": "jobservice", "service_url": self.url},
        )

    def cancel(self, job_id: str) -> None:
        self._request("POST", f"/jobs/{job_id}/cancel")

    def find_job(self, idempotency_key: str) -> JobStatus | None:
        """The job submitted with this idempotency key, if the service has one."""
        jobs = self._request("GET", "/jobs", params={"idempotency_key": idempotency_key}).json()["jobs"]
        return _status(jobs[0]) if jobs else None
