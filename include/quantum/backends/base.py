"""One interface for every quantum backend: submit sampler work, poll its state, fetch a result.

A backend takes ISA circuits (already transpiled for its target) with parameter values, shots and
options, and returns a provider job id. Job states are the five the whole system speaks
(QUEUED, RUNNING, DONE, ERROR, CANCELLED). Results come back as counts per pub, and
`include.quantum.backends.results.normalise` turns them into the one Parquet schema every backend shares.
"""

from __future__ import annotations

import asyncio
import enum
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np


class JobState(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in (JobState.DONE, JobState.ERROR, JobState.CANCELLED)


@dataclass(frozen=True)
class JobStatus:
    """A job's state as the provider reports it (JSON-safe via to_dict, for trigger events)."""

    job_id: str
    state: JobState
    queue_position: int | None = None
    created_at: datetime | None = None
    running_at: datetime | None = None
    finished_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    usage_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = self.state.value
        for key in ("created_at", "running_at", "finished_at"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobStatus:
        values = dict(data)
        values["state"] = JobState(values["state"])
        for key in ("created_at", "running_at", "finished_at"):
            if values.get(key):
                values[key] = datetime.fromisoformat(values[key])
        return cls(**values)


@dataclass(frozen=True)
class SamplerPub:
    """One circuit and its parameter-value sets (rows), as Qiskit's SamplerV2 pub."""

    circuit: Any  # qiskit.QuantumCircuit (ISA, with measurements)
    parameter_values: np.ndarray | None = None  # shape (n_sets, n_params), or None if unparameterised

    def n_sets(self) -> int:
        if self.parameter_values is None:
            return 1
        return int(np.atleast_2d(self.parameter_values).shape[0])


@dataclass(frozen=True)
class SamplerJob:
    """What a backend runs: pubs, shots, and an idempotency key unique to this piece of work."""

    pubs: Sequence[SamplerPub]
    shots: int
    idempotency_key: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RawResult:
    """Counts per (pub, parameter set), plus what the normaliser records about the run."""

    job_id: str
    backend_name: str
    shots: int
    counts: Sequence[Sequence[Mapping[str, int]]]  # [pub][parameter set] -> {bitstring: count}
    timings: Mapping[str, float] = field(default_factory=dict)  # queue/execute seconds, etc.
    metadata: Mapping[str, Any] = field(default_factory=dict)


class QuantumBackend(ABC):
    """The contract every backend implements (Aer in process, the job service, IBM Runtime)."""

    name: str

    @abstractmethod
    def target(self) -> Any:
        """The qiskit Target circuits are transpiled for (and preflight checks against)."""

    @abstractmethod
    def max_shots(self) -> int: ...

    def calibration_snapshot(self) -> Mapping[str, Any]:
        """What identifies the device state the job ran against (hashed into results/cache keys)."""
        return {"backend": self.name}

    @abstractmethod
    def submit(self, job: SamplerJob) -> str:
        """Submit and return the provider job id. Must be idempotent on job.idempotency_key where
        the provider supports it (the ledger guarantees it everywhere else)."""

    @abstractmethod
    def status(self, job_id: str) -> JobStatus: ...

    async def status_async(self, job_id: str) -> JobStatus:
        """Non-blocking status for triggers; override with a native async client where one exists."""
        return await asyncio.to_thread(self.status, job_id)

    @abstractmethod
    def result(self, job_id: str) -> RawResult:
        """The finished job's counts; raises a classified QuantumError if it did not finish well."""

    def run(self, job: SamplerJob, *, poll_interval: float = 0.05, max_poll_interval: float = 2.0) -> RawResult:
        """Submit and wait in this process — the backend by itself, with no ledger and no budget
        (tests and benches of a backend). Workflow submissions go through
        ``include.quantum.submission.SubmissionProtocol``. Transient errors are retried."""
        from include.quantum.backends.errors import call_with_retries

        job_id = call_with_retries(lambda: self.submit(job))
        interval = poll_interval
        while not call_with_retries(lambda: self.status(job_id)).state.terminal:
            time.sleep(interval)
            interval = min(max_poll_interval, interval * 1.5)
        return call_with_retries(lambda: self.result(job_id))

    def cancel(self, job_id: str) -> None:  # noqa: B027 (optional capability)
        """Cancel if the provider supports it."""

    def expected_wait_seconds(self) -> float:
        """How long a new job is expected to wait before it runs (the loop defers past the policy's
        threshold). In-process backends run at once; queued providers override this."""
        return 0.0

    def open_context(self, kind: str, context_id: str | None = None) -> str | None:
        """Open (or re-attach to ``context_id``) a provider execution context — an IBM session for a
        loop, a batch for a sweep — for the jobs that follow; its id, or None where there is none."""
        return None

    def close_context(self) -> None:  # noqa: B027 (optional capability)
        """Close the context ``open_context`` opened (session time is billed until it is closed)."""
