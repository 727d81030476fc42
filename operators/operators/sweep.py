"""The nightly sweep's Airflow layer: the store, the job service URL and budget admission from
connections and the policy, and the report operator with its "Benchmark report" link.

The work itself is in ``include.benchmark`` (``batches``, ``collect``); these functions only supply
what Airflow owns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, BaseOperator

from operators.hooks.artifact_store import ArtifactStoreHook
from operators.hooks.quantum import QuantumBackendHook
from operators.links import ArtifactManifestLink, BenchmarkReportLink
from operators.operators.base import ArtifactStageOperator

if TYPE_CHECKING:
    from include.governance.budget import Admission
    from include.store.artifacts import ArtifactRef, ArtifactStore

QUANTUM_CONN_ID = "qflow_quantum"


def sweep_store() -> ArtifactStore:
    return ArtifactStoreHook().get_store()


def jobservice_url() -> str | None:
    """From the quantum connection if one is defined, else QFLOW_JOBSERVICE_URL."""
    return QuantumBackendHook("jobservice", quantum_conn_id()).service_url()


def budget_admission() -> Admission:
    """The environment's admission (Airflow Variable ``qflow_environment``, else the default):
    the same spend ledger and policy as every other quantum submission."""
    from operators.operators.policy import environment_admission

    admission: Admission = environment_admission()
    return admission


def quantum_conn_id() -> str | None:
    """The quantum connection if one is defined (else the environment's job service URL)."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(QUANTUM_CONN_ID)
    except AirflowNotFoundException:
        return None
    return QUANTUM_CONN_ID


class SweepBatchOperator(BaseOperator):
    """One batch of the nightly sweep as one job through the submission protocol: admitted against
    the budget, its key claimed in the job ledger, found or submitted, collected, settled.

    Deferrable: a queued provider's job (the job service, IBM) is waited for by
    ``QuantumJobTrigger`` in the triggerer, so a waiting batch holds no worker slot; in-process
    backends (Aer, ``ibm:fake_*``) are waited on here. A retried task finds the job it submitted
    (never submits it twice) on a provider whose jobs outlive the task; an in-process job died with
    its process and is run again with the same seed (the same counts). The job runs in a provider
    batch context (an IBM Batch; nothing elsewhere), opened when the task starts and closed when
    its process ends — finished, failed, deferred (the batch's one job is submitted and runs to the
    end in the closed Batch) or killed.
    """

    template_fields = ("batch_ref",)
    ui_color = "#efe4fb"

    def __init__(self, *, batch: Any, deferrable: bool = True, poll_interval: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch_ref = batch  # an artifact ref (XCom carries refs only); the batch is read from the store
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self._batch: dict[str, Any] | None = None
        self._backend: Any = None

    @property
    def batch(self) -> dict[str, Any]:
        if self._batch is None:
            from include.benchmark.night import read_document

            self._batch = dict(read_document(sweep_store(), self.batch_ref))
        return self._batch

    def _admit(self, key: str, spec: str, shots: int) -> Any:
        reservation = budget_admission().admit(key, spec, shots)
        for alert in reservation.alerts:
            self.log.warning(alert)
        return reservation

    def _protocol(self, backend: Any, context_id: str | None = None) -> Any:
        """The protocol for this batch's backend (its batch context opened first, if it has one)."""
        from include.governance.ledger import JobLedger
        from include.quantum.backends.errors import call_with_retries
        from include.quantum.submission import SubmissionProtocol

        self._backend = backend
        if backend.open_context("batch", context_id) is not None:
            self.log.info("batch %s: jobs run in provider batch %s", self.batch["batch"], backend.context_id)
        retrying = lambda call, what: call_with_retries(  # noqa: E731
            call, on_retry=lambda e, n, d: self.log.warning("%s attempt %d failed (%s); retry in %.1fs", what, n, e, d)
        )
        return SubmissionProtocol(
            backend, ledger=JobLedger(), admission=budget_admission(), retrying=retrying, admit=self._admit
        )

    def _conn_backend(self, submission: Any) -> Any:
        """The batch's backend from the quantum connection (credentials), seeded from the job key."""
        return QuantumBackendHook(
            str(self.batch["spec"]), quantum_conn_id(), seed=int(submission.job_key[-8:], 16)
        ).get_conn()

    def _submission(self, store: ArtifactStore) -> Any:
        from include.benchmark.batches import BatchSubmission, submission_uri
        from include.store.artifacts import ArtifactError

        try:
            return BatchSubmission.from_json(store.get_bytes(submission_uri(store, self.batch)))
        except ArtifactError:
            return None

    def execute(self, context: Any) -> dict[str, str | None]:
        from include.benchmark.batches import BatchOutcome, collect_batch, submission_uri, submit_batch
        from include.benchmark.night import store_outcome

        store = sweep_store()
        from include.benchmark.workloads import MAXCUT, run_workload_batch, workload_of

        if workload_of(self.batch) != MAXCUT:
            # Another workload's experiments (a VQC training loop) held in this task, each job
            # through the same protocol: ledger, admission, settlement. In-process backends only.
            try:
                outcome = run_workload_batch(
                    store, self.batch, protocol_for=self._protocol, night=str(context["run_id"])
                )
            finally:
                self._close()
            self.log.info("batch %s (%s): stored %d results", outcome.batch, workload_of(self.batch), outcome.executed)
            return store_outcome(store, self.batch, outcome.to_xcom())
        stored = self._submission(store)  # a resumed or retried task: the same job (found, or re-run in process)
        try:
            submission, protocol = submit_batch(
                store,
                self.batch,
                jobservice_url=jobservice_url(),
                protocol_for=lambda backend: self._protocol(backend, stored.context_id if stored else None),
                stored=stored,
            )
            if submission is None:
                self.log.info("batch %s: every experiment is already stored", self.batch["batch"])
                outcome = BatchOutcome(
                    int(self.batch["batch"]), str(self.batch["spec"]), already_stored=len(self.batch["experiment_ids"])
                )
                return store_outcome(store, self.batch, outcome.to_xcom())
            if stored is None or stored.job_id != submission.job_id:
                store.put_bytes(submission_uri(store, self.batch), submission.to_json(), "application/json")
            self.log.info(
                "batch %s: %d circuits as job %s (%s)%s",
                self.batch["batch"],
                len(submission.experiment_ids),
                submission.job_id,
                submission.spec,
                "" if stored is None else f"; the stored submission's job was {stored.job_id}",
            )
            status = protocol.status(submission.job_id)
            if self.deferrable and not status.state.terminal and protocol.profile.rules.deferrable:
                from operators.triggers.quantum_job import QuantumJobTrigger

                self.defer(
                    trigger=QuantumJobTrigger(
                        job_id=submission.job_id,
                        backend=submission.spec,
                        quantum_conn_id=quantum_conn_id(),
                        poll_interval=self.poll_interval,
                    ),
                    method_name="execute_complete",
                )
            protocol.wait(submission.job_id)
            raw, cost = collect_batch(protocol, submission)
        finally:
            self._close()
        return self._finish(store, submission, raw, cost, context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, str | None]:
        from airflow.sdk.exceptions import AirflowException

        from include.benchmark.batches import collect_batch

        store = sweep_store()
        submission = self._submission(store)
        if submission is None or submission.job_id != event.get("job_id"):
            raise AirflowException(f"batch {self.batch['batch']}: no stored submission for job {event.get('job_id')}")
        protocol = self._protocol(self._conn_backend(submission), submission.context_id)
        try:
            if event.get("state") != "DONE" and "status" in event:
                self.log.warning(
                    "batch %s: job %s ended %s: %s",
                    self.batch["batch"],
                    event.get("job_id"),
                    event.get("state"),
                    event.get("error") or event.get("status", {}).get("error_message"),
                )
            if "status" not in event:  # polling failed in the triggerer: wait for the job here
                protocol.wait(submission.job_id)
            raw, cost = collect_batch(protocol, submission)  # a job that ended badly raises its classified error
        finally:
            self._close()
        return self._finish(store, submission, raw, cost, context)

    def _finish(
        self, store: ArtifactStore, submission: Any, raw: Any, cost: float, context: Any
    ) -> dict[str, str | None]:
        from include.benchmark.batches import finish_batch
        from include.benchmark.night import store_outcome

        outcome = finish_batch(store, self.batch, submission, raw, cost=cost, night=str(context["run_id"]))
        self.log.info("batch %s: stored %d results (job %s)", outcome.batch, outcome.executed, outcome.job_id)
        return store_outcome(store, self.batch, outcome.to_xcom())

    def _close(self) -> None:
        if self._backend is not None:
            self._backend.close_context()

    def on_kill(self) -> None:
        """A killed batch task closes its provider batch (its submitted job runs to the end)."""
        self._close()


class SweepReportOperator(ArtifactStageOperator):
    """Statistics and the HTML report of one night, stored beside its results table."""

    template_fields = ("collected", "plan")
    operator_extra_links: tuple[Any, ...] = (ArtifactManifestLink(), BenchmarkReportLink())

    def __init__(self, *, collected: Any, plan: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.collected = collected
        self.plan = plan

    def execute(self, context: Any) -> dict[str, str | None]:
        from include.benchmark.collect import report_index_uri

        value = super().execute(context)
        self.log.info("benchmark report: %s", report_index_uri(self.ref(value)))
        return value

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.benchmark.collect import store_report
        from include.benchmark.grid import night_prefix_for
        from include.benchmark.night import read_document

        night = str(context["run_id"])
        collected, plan = read_document(store, self.collected), read_document(store, self.plan)
        return store_report(store, night_prefix_for(night), night=night, collected=collected, plan=plan)


def night_of(context: Mapping[str, Any]) -> tuple[str, str]:
    """(night id, ISO date) of a DAG run: its run id, and the date it ran for."""
    run = context["dag_run"]
    when = context.get("logical_date") or getattr(run, "run_after", None) or getattr(run, "start_date", None)
    return str(context["run_id"]), when.date().isoformat() if when is not None else ""
