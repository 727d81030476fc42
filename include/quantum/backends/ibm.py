"""IBM Quantum through qiskit-ibm-runtime: SamplerV2 in job, batch or session mode.

The token and instance come from the caller (an Airflow connection, through QuantumBackendHook);
this class keeps them only inside the runtime client and never logs or returns them. A backend
name of an IBM fake backend (``fake_manila``) runs the runtime's local testing mode on Aer —
the same client code path without a cloud account.

Execution contexts: ``open_context("session")`` (a variational loop) or ``open_context("batch")``
(a sweep batch task) opens qiskit-ibm-runtime's ``Session`` / ``Batch`` — or re-attaches to an
earlier one by id (``Session.from_id`` / ``Batch.from_id``) after a restart, where the cloud still
has it open — and every job that follows runs in it (``SamplerV2(mode=<context>)``).
``close_context()`` closes it (session time is billed until then); a job submitted after that, in
the closed context, is refused with a StructuralQuantumError saying so. In the runtime's local
mode (``ibm:fake_*``) the context is a local one (the runtime gives it no id, so qflow names it
``local-<kind>-<hex>``); it lives in this process only, so re-attaching opens a new one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NoReturn

import numpy as np

from include.quantum.backends.base import JobState, JobStatus, QuantumBackend, RawResult, SamplerJob
from include.quantum.backends.errors import StructuralQuantumError, classify

MODES = ("job", "batch", "session")
CONTEXT_KINDS = ("session", "batch")
log = logging.getLogger(__name__)
_STATES = {
    "INITIALIZING": JobState.QUEUED,
    "QUEUED": JobState.QUEUED,
    "VALIDATING": JobState.QUEUED,
    "RUNNING": JobState.RUNNING,
    "DONE": JobState.DONE,
    "COMPLETED": JobState.DONE,
    "ERROR": JobState.ERROR,
    "FAILED": JobState.ERROR,
    "CANCELLED": JobState.CANCELLED,
}


def job_state(raw: Any) -> JobState:
    name = getattr(raw, "name", None) or str(raw)
    name = name.rsplit(".", 1)[-1].upper()
    try:
        return _STATES[name]
    except KeyError as exc:
        raise StructuralQuantumError(f"unknown IBM job status {raw!r}") from exc


def _raise_redacted(exc: Exception, token: str | None) -> NoReturn:
    """Raise the classified error; if the client's message echoes the token, without it — and
    without the original exception chained, since a logged traceback would print it."""
    error = classify(exc)
    if not token or token not in f"{error} {exc!r}":
        raise error from exc
    error.args = tuple(str(arg).replace(token, "***") for arg in error.args)
    raise error from None


def _timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class IBMRuntimeBackend(QuantumBackend):
    def __init__(
        self,
        backend_name: str,
        *,
        token: str | None = None,
        instance: str | None = None,
        channel: str = "ibm_quantum_platform",
        mode: str = "job",
        service: Any = None,
        seed: int | None = None,
    ) -> None:
        if mode not in MODES:
            raise StructuralQuantumError(f"mode={mode!r} is not one of {MODES}")
        self.mode = mode
        self.seed = seed  # local mode: the simulator's seed (a job re-run in process gives the same counts)
        self.local = backend_name.lower().startswith("fake")
        self.name = f"ibm:{backend_name}"
        self._jobs: dict[str, Any] = {}
        self._job_contexts: dict[str, tuple[str, str | None]] = {}  # job id -> (mode, context id) it ran in
        self._context: Any = None  # the open Session/Batch, if any
        self._context_kind: str | None = None
        self._context_id: str | None = None
        self._closed: tuple[str, str] | None = None  # (kind, id) of the context close_context closed
        if self.local:
            from include.quantum.backends.fake import fake_backend

            self._service = None
            self._backend = fake_backend(backend_name)
        else:
            if service is None:
                if not token:
                    raise StructuralQuantumError(
                        "IBM Quantum needs a token", hint="put it in the Airflow connection's password field"
                    )
                import qiskit_ibm_runtime

                try:
                    service = qiskit_ibm_runtime.QiskitRuntimeService(channel=channel, token=token, instance=instance)
                except Exception as exc:
                    _raise_redacted(exc, token)
            self._service = service
            try:
                self._backend = service.backend(backend_name)
            except Exception as exc:
                _raise_redacted(exc, token)

    def __repr__(self) -> str:
        return f"IBMRuntimeBackend({self.name!r}, mode={self.mode!r})"  # no credentials

    def __reduce_ex__(self, protocol: Any) -> Any:
        # The runtime client inside holds the token: a pickled backend would carry it to disk or XCom.
        raise TypeError(
            f"{self!r} holds IBM credentials and is not serialisable; "
            "pass the backend spec and the Airflow connection id instead"
        )

    def target(self) -> Any:
        return self._backend.target

    def max_shots(self) -> int:
        return int(getattr(self._backend.configuration(), "max_shots", 100_000) or 100_000)

    def calibration_snapshot(self) -> Mapping[str, Any]:
        properties = self._backend.properties()
        updated = getattr(properties, "last_update_date", None) if properties is not None else None
        return {"backend": self._backend.name, "last_update_date": str(updated)}

    # -- execution contexts ------------------------------------------------------------------
    @property
    def context_id(self) -> str | None:
        """The id of the open context (None when jobs run in job mode)."""
        return self._context_id if self._context is not None else None

    def open_context(self, kind: str, context_id: str | None = None) -> str | None:
        """Open a Session (``kind="session"``) or Batch (``"batch"``) for the jobs that follow, or
        re-attach to ``context_id`` where the runtime still has it open; its id."""
        if kind not in CONTEXT_KINDS:
            raise StructuralQuantumError(
                f"context kind={kind!r} is not one of {CONTEXT_KINDS}",
                hint="use 'session' for a variational loop, 'batch' for a sweep batch",
            )
        from qiskit_ibm_runtime import Batch, Session

        if self._context is not None:
            if kind == self._context_kind and context_id in (None, self._context_id):
                return self._context_id  # already open in this process
            self.close_context()
        cls = Batch if kind == "batch" else Session
        context = self._reattach(cls, kind, context_id) if context_id else None
        if context is None:
            try:
                context = cls(backend=self._backend)
            except Exception as exc:
                raise classify(exc) from exc
        self._context, self._context_kind, self._closed = context, kind, None
        self._context_id = str(context.session_id or f"local-{kind}-{uuid.uuid4().hex[:12]}")
        log.info("%s: %s %s open", self.name, kind, self._context_id)
        return self._context_id

    def _reattach(self, cls: Any, kind: str, context_id: str) -> Any:
        """The runtime's context ``context_id`` if it is still open, else None (a new one is opened)."""
        if self.local or self._service is None or context_id.startswith("local-"):
            log.info("%s: local %s %s lived in its process only; opening a new one", self.name, kind, context_id)
            return None
        try:
            context = cls.from_id(context_id, self._service)
        except Exception as exc:
            log.warning("%s: cannot re-attach to %s %s (%s); opening a new one", self.name, kind, context_id, exc)
            return None
        if not getattr(context, "_active", True):
            log.info("%s: %s %s is closed; opening a new one", self.name, kind, context_id)
            return None
        log.info("%s: re-attached to %s %s", self.name, kind, context_id)
        return context

    def close_context(self) -> None:
        """Close the open context (idempotent); later jobs in it are refused."""
        if self._context is None:
            return
        context, kind, context_id = self._context, self._context_kind or "session", self._context_id or ""
        self._context = self._context_kind = self._context_id = None
        self._closed = (kind, context_id)
        try:
            context.close()
        except Exception as exc:  # the context is ours no more either way; say why the provider refused
            log.warning("%s: closing %s %s failed: %s", self.name, kind, context_id, classify(exc))
        log.info("%s: %s %s closed", self.name, kind, context_id)

    def _sampler(self) -> Any:
        from qiskit_ibm_runtime import SamplerV2

        if self._context is None and self._closed is not None:
            kind, context_id = self._closed
            raise StructuralQuantumError(
                f"{self.name}: the {kind} {context_id} is closed; a job submitted in it is refused",
                hint=f"open a new context (open_context({kind!r})) before submitting more jobs",
            )
        if self._context is None and self.mode != "job":
            self.open_context(self.mode)
        if self._context is not None:
            return SamplerV2(mode=self._context)
        return SamplerV2(mode=self._backend)

    def find_job(self, idempotency_key: str) -> str | None:
        """A job already submitted with this key (tagged at submission), if the service has one."""
        if self._service is None:
            return None
        jobs = self._service.jobs(job_tags=[idempotency_key[:64]], limit=1)
        return str(jobs[0].job_id()) if jobs else None

    def submit(self, job: SamplerJob) -> str:
        sampler = self._sampler()
        if not self.local:
            sampler.options.environment.job_tags = [job.idempotency_key[:64]]
        elif self.seed is not None:
            sampler.options.simulator.seed_simulator = self.seed
        pubs = [
            (p.circuit,) if p.parameter_values is None else (p.circuit, np.atleast_2d(p.parameter_values))
            for p in job.pubs
        ]
        try:
            runtime_job = sampler.run(pubs, shots=job.shots)
        except Exception as exc:
            raise classify(exc) from exc
        job_id = str(runtime_job.job_id())
        self._jobs[job_id] = runtime_job
        self._job_contexts[job_id] = (self._context_kind or "job", self.context_id)
        return job_id

    def _job(self, job_id: str) -> Any:
        if job_id in self._jobs:
            return self._jobs[job_id]
        if self._service is None:
            raise StructuralQuantumError(f"no local IBM job {job_id!r} in this process")
        try:
            self._jobs[job_id] = self._service.job(job_id)
        except Exception as exc:
            raise classify(exc) from exc
        return self._jobs[job_id]

    def status(self, job_id: str) -> JobStatus:
        job = self._job(job_id)
        try:
            state = job_state(job.status())
            metrics = job.metrics() if not self.local else {}
        except Exception as exc:
            raise classify(exc) from exc
        stamps = metrics.get("timestamps", {}) or {}
        usage = metrics.get("usage", {}) or {}
        error = job.error_message() if state is JobState.ERROR and hasattr(job, "error_message") else None
        return JobStatus(
            job_id,
            state,
            queue_position=metrics.get("position_in_queue"),
            created_at=_timestamp(stamps.get("created")),
            running_at=_timestamp(stamps.get("running")),
            finished_at=_timestamp(stamps.get("finished")),
            error_message=error,
            usage_seconds=usage.get("quantum_seconds") or usage.get("seconds"),
        )

    def result(self, job_id: str) -> RawResult:
        job = self._job(job_id)
        try:
            result = job.result()
        except Exception as exc:
            raise classify(exc) from exc
        counts: list[list[dict[str, int]]] = []
        shots = 0
        for pub_result in result:
            register = next(iter(pub_result.data.values()))
            shots = int(register.num_shots)
            sets = int(np.prod(register.shape)) if register.shape else 1
            counts.append(
                [
                    dict(register.get_counts()) if not register.shape else dict(register.get_counts(loc=i))
                    for i in range(sets)
                ]
            )
        mode, context_id = self._job_contexts.get(job_id, (self.mode, None))
        metrics = job.metrics() if not self.local else {}
        usage = (metrics.get("usage") or {}).get("quantum_seconds", 0.0) if metrics else 0.0
        return RawResult(
            job_id,
            self.name,
            shots,
            counts,
            timings={"execute_seconds": float(usage or 0.0)},
            metadata={"mode": mode, "local": self.local, "context": context_id},
        )
