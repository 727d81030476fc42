"""Run a sampler job to completion from inside one process (the control loop's path).

Deferral suits one long wait; a variational loop makes many short ones, so it submits, polls
with growing intervals and collects here, still through the backend interface, the taxonomy
and its retries. Waiting longer than expected is not an error: only the job's own terminal
state (or a non-retryable error) ends the wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from include.quantum.backends.base import JobState, QuantumBackend, RawResult, SamplerJob
from include.quantum.backends.errors import QuantumError, call_with_retries, classify, from_ibm_code


def run_to_completion(
    backend: QuantumBackend,
    job: SamplerJob,
    *,
    poll_interval: float = 0.05,
    max_poll_interval: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> RawResult:
    job_id = call_with_retries(lambda: backend.submit(job), sleep=sleep, base=poll_interval * 4)
    return wait_for_result(
        backend, job_id, poll_interval=poll_interval, max_poll_interval=max_poll_interval, sleep=sleep
    )


def wait_for_result(
    backend: QuantumBackend,
    job_id: str,
    *,
    poll_interval: float = 0.05,
    max_poll_interval: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> RawResult:
    """Poll a submitted job with growing intervals until it is terminal; its result, or its error."""
    interval = poll_interval
    while True:
        status = call_with_retries(lambda: backend.status(job_id), sleep=sleep, base=poll_interval * 4)
        if status.state is JobState.DONE:
            return call_with_retries(lambda: backend.result(job_id), sleep=sleep, base=poll_interval * 4)
        if status.state.terminal:
            error: QuantumError = (
                from_ibm_code(status.error_code, status.error_message or "")
                if status.error_code
                else classify(RuntimeError(f"job {job_id} ended {status.state.value}: {status.error_message}"))
            )
            raise error
        sleep(interval)
        interval = min(max_poll_interval, interval * 1.5)
