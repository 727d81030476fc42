"""QuantumJobTrigger: waits for a provider job to reach a terminal state, in the triggerer.

It only reads (polls status asynchronously: first after the provider's expected wait, if the
caller passes it, then at growing intervals); it submits, cancels and
writes nothing, so running it twice — after a triggerer restart — is harmless. Polling errors
that are transient are logged and polled again; a client-side wait is never a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class QuantumJobTrigger(BaseTrigger):
    def __init__(
        self,
        job_id: str,
        backend: str,
        quantum_conn_id: str | None = None,
        poll_interval: float = 2.0,
        max_poll_interval: float = 30.0,
        queue_sla_seconds: float | None = None,
        submitted_at: str | None = None,
        expected_wait_seconds: float | None = None,
    ) -> None:
        super().__init__()
        # The provider's estimate of the job's wait when it was submitted (the job service's
        # GET /queue): the first poll waits it out (from the job's own submission time), then
        # polling starts at poll_interval, so a long queue costs neither many polls nor a late one.
        self.expected_wait_seconds = expected_wait_seconds
        # The queue SLA is a duration measured from the job's own submission time (the provider's
        # created_at, ISO 8601), never a deadline computed on another machine's clock: the worker
        # that deferred and the triggerer that polls need not agree on the time.
        self.queue_sla_seconds = queue_sla_seconds
        self.submitted_at = submitted_at
        self.job_id = job_id
        self.backend = backend
        self.quantum_conn_id = quantum_conn_id
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "operators.triggers.quantum_job.QuantumJobTrigger",
            {
                "job_id": self.job_id,
                "backend": self.backend,
                "quantum_conn_id": self.quantum_conn_id,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "queue_sla_seconds": self.queue_sla_seconds,
                "submitted_at": self.submitted_at,
                "expected_wait_seconds": self.expected_wait_seconds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from include.quantum.backends.errors import classify
        from operators.hooks.quantum import QuantumBackendHook

        # Building the client may read a connection (blocking I/O): keep it off the event loop.
        hook = QuantumBackendHook(self.backend, self.quantum_conn_id)
        backend = await asyncio.to_thread(hook.get_conn)
        interval = self.poll_interval
        submitted = _utc(self.submitted_at)
        started = time.monotonic()  # only if the provider reports no submission time
        if self.expected_wait_seconds:
            ahead = self.expected_wait_seconds - _waited_seconds(submitted, started)
            await asyncio.sleep(min(max(ahead, 0.0), self.expected_wait_seconds))
        while True:
            try:
                status = await backend.status_async(self.job_id)
            except Exception as exc:
                error = classify(exc)
                if not error.retryable:
                    yield TriggerEvent(
                        {
                            "job_id": self.job_id,
                            "state": "ERROR",
                            "error": str(error),
                            "error_class": error.error_class.value,
                        }
                    )
                    return
                self.log.warning("polling %s failed transiently (%s); polling again", self.job_id, error)
            else:
                submitted = status.created_at or submitted
                if status.state.terminal:
                    yield TriggerEvent({"job_id": self.job_id, "state": status.state.value, "status": status.to_dict()})
                    return
                self.log.info(
                    "job %s is %s (queue position %s)", self.job_id, status.state.value, status.queue_position
                )
            if self.queue_sla_seconds is not None:
                waited = _waited_seconds(submitted, started)
                if waited >= self.queue_sla_seconds:
                    yield TriggerEvent(
                        {
                            "job_id": self.job_id,
                            "state": "SLA_EXCEEDED",
                            "waited_seconds": waited,
                            "queue_sla_seconds": self.queue_sla_seconds,
                        }
                    )
                    return
            await asyncio.sleep(interval)
            interval = min(self.max_poll_interval, interval * 1.5)


def _utc(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _waited_seconds(submitted: datetime | None, started_monotonic: float) -> float:
    """How long the job has waited: since its submission time where the provider reports one."""
    moment = _utc(submitted)
    if moment is None:
        return time.monotonic() - started_monotonic
    return (datetime.now(UTC) - moment).total_seconds()
