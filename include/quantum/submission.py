"""Submitting quantum work exactly once: the idempotency key, the ledger claim, find-or-submit.

The key names one piece of work in one run (circuit structure, parameter values, shots, backend,
and the run's identity); the content key names the same work in any run (the result cache's key).
``SubmissionProtocol`` is the one path every submission takes: it reserves budget, claims the key in
the job ledger (one INSERT only one writer can win), then reuses the provider job an earlier attempt
recorded, or asks the provider whether it knows the key, and only then submits; it waits, collects
and settles. A failed submission releases the budget reservation: nothing was spent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
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


class SubmissionProtocol:
    """The one way quantum work is submitted: admit → claim → submit or find → wait → result → settle.

    Used by the submit operator (one job per task), both variational loops (one job per
    evaluation) and the nightly sweep (one job per batch, its key the hash of the batch's
    experiments, in an IBM Batch context where the backend has one). What differs between backends is data
    (``registry.FamilyRules``), not branches in callers:

    - a provider whose jobs outlive the submitting process (``durable_jobs``: the job service, IBM
      Quantum) — a retry finds the job it submitted (ledger, then the provider's own key lookup)
      and never submits it again;
    - an in-process backend (Aer, the runtime's local mode) — the job died with the process that
      ran it; a retry submits the same work with the same seed, which gives the same result at no
      cost, and is never deferred (no other process can wait on it).

    Budget: per job (``admit(key, backend, shots)`` before each submission), or out of a loop's
    up-front reservation (``reserve_loop``): each job carves its estimate out of it and settles at
    its real cost, so a loop stops with a clear message — before submitting — when what it reserved
    is spent. On a free in-process backend (estimated cost 0) a held loop books its jobs in batches
    (``flush``): they are deterministic and cost nothing, so a crash loses nothing that matters.
    """

    def __init__(
        self,
        backend: Any,
        *,
        ledger: Any,
        admission: Any,
        retrying: Callable[[Callable[[], T], str], T] | None = None,
        admit: Callable[[str, str, int], Any] | None = None,
    ) -> None:
        from include.quantum.backends.errors import call_with_retries
        from include.quantum.backends.registry import backend_profile

        self.backend = backend
        self.profile = backend_profile(_spec_of(backend))
        self.ledger = ledger
        self.admission = admission
        self.retrying = retrying or (lambda call, what: call_with_retries(call))
        self._admit = admit or (lambda key, name, shots: admission.admit(key, name, shots))
        self.loop_key: str | None = None
        self._cost_model = admission.policy.cost_model(backend.name)
        self._booked: list[tuple[str, str, int, float]] = []  # amortised: (key, job id, shots, cost)
        self.settled: dict[str, float] = {}  # idempotency key -> the real cost its job was settled at

    # -- budget ----------------------------------------------------------------------------------
    @property
    def amortised(self) -> bool:
        """Book jobs in batches: a loop on an in-process backend that costs nothing."""
        return self.loop_key is not None and not self.profile.rules.durable_jobs and self._cost_model.estimate(1) == 0.0

    def reserve_loop(self, loop_key: str, shots_per_job: int, jobs: int) -> Any:
        """Reserve a whole loop's budget up front (refused, with the budget named, if it does not fit)."""
        self.loop_key = loop_key
        return self.admission.admit(
            loop_key, self.backend.name, shots_per_job * jobs, jobs=jobs, job_shots=shots_per_job
        )

    def close_loop(self) -> None:
        """The loop ended: book what is unbooked and give back what it reserved and did not use."""
        self.flush()
        if self.loop_key is not None:
            self.admission.ledger.release(self.loop_key)

    def _reserve(self, key: str, shots: int) -> None:
        if self.loop_key is None:
            self._admit(key, self.backend.name, shots)
        elif not self.amortised:
            self.admission.ledger.carve(self.loop_key, key, shots, self._cost_model.estimate(shots))

    def _give_back(self, key: str) -> None:
        if self.loop_key is None:
            self.admission.release(key)
        elif not self.amortised:
            self.admission.ledger.return_carved(self.loop_key, key)

    # -- submit or find --------------------------------------------------------------------------
    def start(self, job: Any, total_shots: int) -> str:
        """Reserve, claim the job's idempotency key, then find or submit; the provider job id."""
        from include.quantum.backends.base import JobStatus
        from include.quantum.backends.errors import QuantumError

        key = job.idempotency_key
        if self.amortised:  # nothing to find: in-process work is re-run (same seed, same result)
            return self._submit(job, key)
        self._reserve(key, total_shots)
        entry, won = self.ledger.claim(key, self.backend.name, total_shots)
        if entry.provider_job_id:
            if self.profile.rules.durable_jobs:
                log.info(
                    "job for key %s already submitted as %s; not submitting again", key[:12], entry.provider_job_id
                )
                return str(entry.provider_job_id)
            if self._known(str(entry.provider_job_id)):
                return str(entry.provider_job_id)
            # The in-process job died with the process that ran it: run the same work again.
            log.info(
                "in-process job %s is gone with its process; running key %s again", entry.provider_job_id, key[:12]
            )
        finder = getattr(self.backend, "find_job", None)
        found = (
            self.retrying(lambda: finder(key), "find_job")
            if (finder is not None and not won and self.profile.rules.durable_jobs)
            else None
        )
        job_id = found.job_id if isinstance(found, JobStatus) else found
        if job_id is None:
            try:
                job_id = self._submit(job, key)
            except QuantumError as exc:
                self.ledger.update(key, state="ERROR", error=str(exc))
                self._give_back(key)  # nothing was submitted: give the budget back
                raise
        self.ledger.update(key, provider_job_id=job_id, state="SUBMITTED")
        return str(job_id)

    def _submit(self, job: Any, key: str) -> str:
        job_id = self.retrying(lambda: self.backend.submit(job), "submit")
        log.debug("submitted %s to %s (key %s)", job_id, self.backend.name, key[:12])
        return str(job_id)

    def _known(self, job_id: str) -> bool:
        from include.quantum.backends.errors import QuantumError

        try:
            self.backend.status(job_id)
        except QuantumError:
            return False
        return True

    # -- wait, result, settle --------------------------------------------------------------------
    def status(self, job_id: str) -> Any:
        return self.retrying(lambda: self.backend.status(job_id), "status")

    def wait(self, job_id: str, *, poll_interval: float = 0.05, max_poll_interval: float = 2.0) -> Any:
        """Poll with growing intervals until the job is terminal (held: this process waits)."""
        interval = poll_interval
        while True:
            status = self.status(job_id)
            if status.state.terminal:
                return status
            time.sleep(interval)
            interval = min(max_poll_interval, interval * 1.5)

    def collect(self, key: str, job_id: str, total_shots: int) -> Any:
        """The finished job's result; the ledger marks it DONE and the budget is settled at its
        real cost. A job that ended badly raises its classified error (nothing is settled twice)."""
        from include.quantum.backends.base import JobState
        from include.quantum.backends.errors import QuantumError, classify, from_ibm_code

        status = self.status(job_id)
        if status.state is not JobState.DONE:
            error: QuantumError = (
                from_ibm_code(status.error_code, status.error_message or "")
                if status.error_code
                else classify(RuntimeError(f"job {job_id} ended {status.state.value}: {status.error_message}"))
            )
            if not self.amortised:
                self.ledger.update(key, state=status.state.value, error=str(error))
            raise error
        raw: Any = self.retrying(lambda: self.backend.result(job_id), "result")
        usage = raw.timings.get("execute_seconds")
        cost = self._cost_model.settle(total_shots, usage)
        self.settled[key] = cost
        if self.amortised:
            self._booked.append((key, job_id, total_shots, cost))
            return raw
        self.ledger.update(key, state="DONE", cost=cost)
        if self.loop_key is None:
            self.admission.ledger.settle(key, cost)
        else:
            self.admission.ledger.settle_carved(self.loop_key, key, cost)
        return raw

    def run(self, job: Any, total_shots: int) -> tuple[str, Any]:
        """Held: start, wait here, collect."""
        job_id = self.start(job, total_shots)
        self.wait(job_id)
        return job_id, self.collect(job.idempotency_key, job_id, total_shots)

    def flush(self) -> None:
        """Book the amortised jobs (one transaction for the job ledger, one for the spend ledger)."""
        if not self._booked or self.loop_key is None:
            return
        booked, self._booked = self._booked, []
        self.ledger.record_done_many([(k, self.backend.name, j, n) for k, j, n, _ in booked])
        self.admission.ledger.settle_carved_many(self.loop_key, [(k, n, c) for k, _, n, c in booked])


def _spec_of(backend: Any) -> str:
    """The registry spec a live backend answers to (its canonical name is one)."""
    return str(backend.name)


def submit_once(
    backend: Any,
    job: Any,
    total_shots: int,
    *,
    ledger: Any,
    admission: Any,
    admit: Callable[[str, str, int], Any] | None = None,
    retrying: Callable[[Callable[[], T], str], T] | None = None,
) -> str:
    """One job through the protocol with per-job admission; returns the provider job id."""
    return SubmissionProtocol(backend, ledger=ledger, admission=admission, retrying=retrying, admit=admit).start(
        job, total_shots
    )


def local_protocol(backend: Any, environment: str | None = None, *, approved: bool = False) -> SubmissionProtocol:
    """The protocol outside Airflow (a loop run from Python, ``run_pipeline``, the benches): the
    default ledgers and the policy's environment (QFLOW_ENVIRONMENT, else the policy default)."""
    from include.governance.budget import Admission, SpendLedger
    from include.governance.ledger import JobLedger
    from include.governance.policy import current_environment_name, load_policy

    policy = load_policy()
    admission = Admission(policy, current_environment_name(policy, environment), SpendLedger(), approved)
    return SubmissionProtocol(backend, ledger=JobLedger(), admission=admission)
