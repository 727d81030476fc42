"""Submitting quantum work exactly once: the idempotency key, the ledger claim, find-or-submit.

The key names one piece of work in one run (circuit structure, parameter values, shots, backend,
and the run's identity); the content key names the same work in any run (the result cache's key).
``submit_once`` claims the key in the job ledger (one INSERT only one writer can win), then reuses
the provider job an earlier attempt recorded, or asks the provider whether it knows the key, and
only then submits. A failed submission releases the budget reservation: nothing was spent.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def content_key(structure: str, values: Sequence[float] | None, shots: int, backend: str) -> str:
    """What a result depends on, without the run: the key of the result cache (fallback tier 3)."""
    return _digest(
        {
            "circuit": hashlib.sha256(structure.encode()).hexdigest(),
            "parameters": None if values is None else list(values),
            "shots": shots,
            "backend": backend,
        }
    )


def idempotency_key(
    structure: str, values: Sequence[float] | None, shots: int, backend: str, run: Sequence[Any]
) -> str:
    """One piece of work in one run (``run`` = dag id, run id, task id, map index)."""
    return _digest(
        {
            "circuit": hashlib.sha256(structure.encode()).hexdigest(),
            "parameters": None if values is None else list(values),
            "shots": shots,
            "backend": backend,
            "run": list(run),
        }
    )


def submit_once(
    backend: Any,
    job: Any,
    total_shots: int,
    *,
    ledger: Any,
    release: Callable[[str], None],
    retrying: Callable[[Callable[[], T], str], T],
) -> str:
    """Claim ``job.idempotency_key``, then find or submit; returns the provider job id.

    ``release`` gives the key's budget reservation back when nothing reached the provider;
    ``retrying(call, what)`` wraps provider calls in the transient-retry policy."""
    from include.quantum.backends.base import JobStatus
    from include.quantum.backends.errors import QuantumError

    key = job.idempotency_key
    entry, won = ledger.claim(key, backend.name, total_shots)
    if entry.provider_job_id:
        log.info("job for key %s already submitted as %s; not submitting again", key[:12], entry.provider_job_id)
        return str(entry.provider_job_id)
    finder = getattr(backend, "find_job", None)
    found = retrying(lambda: finder(key), "find_job") if (finder is not None and not won) else None
    job_id = found.job_id if isinstance(found, JobStatus) else found
    if job_id is None:
        try:
            job_id = retrying(lambda: backend.submit(job), "submit")
        except QuantumError as exc:
            ledger.update(key, state="ERROR", error=str(exc))
            release(key)  # nothing was submitted: give the budget back
            raise
        log.info("submitted %s to %s (key %s)", job_id, backend.name, key[:12])
    ledger.update(key, provider_job_id=job_id, state="SUBMITTED")
    return str(job_id)
