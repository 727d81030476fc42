"""QuantumJobTrigger: waits for a provider job to reach a terminal state, in the triggerer.

It only reads (polls status asynchronously with growing intervals); it submits, cancels and
writes nothing, so running it twice — after a triggerer restart — is harmless. Polling errors
that are transient are logged and polled again; a client-side wait is never a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
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
        sla_deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.sla_deadline = sla_deadline  # epoch seconds; past it, report SLA_EXCEEDED (the job is untouched)
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
                "sla_deadline": self.sla_deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from include.quantum.backends.errors import classify
        from operators.hooks.quantum import QuantumBackendHook

        # Building the client may read a connection (blocking I/O): keep it off the event loop.
        hook = QuantumBackendHook(self.backend, self.quantum_conn_id)
        backend = await asyncio.to_thread(hook.get_conn)
        interval = self.poll_interval
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
                if status.state.terminal:
                    yield TriggerEvent({"job_id": self.job_id, "state": status.state.value, "status": status.to_dict()})
                    return
                self.log.info(
                    "job %s is %s (queue position %s)", self.job_id, status.state.value, status.queue_position
                )
            if self.sla_deadline is not None and time.time() >= self.sla_deadline:
                yield TriggerEvent({"job_id": self.job_id, "state": "SLA_EXCEEDED"})
                return
            await asyncio.sleep(interval)
            interval = min(self.max_poll_interval, interval * 1.5)
