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
    """One batch of the nightly sweep as one job: budget admitted, submitted once, results stored.

    Deferrable: a queued provider's job (the job service, IBM) is waited for by
    ``QuantumJobTrigger`` in the triggerer, so a waiting batch holds no worker slot. In-process
    Aer finishes inside submission. The submission is stored before the wait, so a resumed or
    retried task finishes that job instead of submitting (and paying for) another.
    """

    template_fields = ("batch_ref",)
    ui_color = "#efe4fb"

    def __init__(self, *, batch: Any, deferrable: bool = True, poll_interval: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch_ref = batch  # an artifact ref (XCom carries refs only); the batch is read from the store
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self._batch: dict[str, Any] | None = None

    @property
    def batch(self) -> dict[str, Any]:
        if self._batch is None:
            from include.benchmark.night import read_document

            self._batch = dict(read_document(sweep_store(), self.batch_ref))
        return self._batch

    def _backend(self) -> Any:
        return QuantumBackendHook(str(self.batch["spec"]), quantum_conn_id()).get_conn()

    def _admit(self, key: str, spec: str, shots: int) -> Any:
        reservation = budget_admission().admit(key, spec, shots)
        for alert in reservation.alerts:
            self.log.warning(alert)
        return reservation

    def _submission(self, store: ArtifactStore) -> Any:
        from include.benchmark.batches import BatchSubmission, submission_uri
        from include.store.artifacts import ArtifactError

        try:
            return BatchSubmission.from_json(store.get_bytes(submission_uri(store, self.batch)))
        except ArtifactError:
            return None

    def execute(self, context: Any) -> dict[str, str | None]:
        from include.benchmark.batches import BatchOutcome, stored_job_status, submission_uri, submit_batch
        from include.benchmark.night import store_outcome
        from include.quantum.backends.errors import call_with_retries
        from include.quantum.backends.execute import wait_for_result

        store = sweep_store()
        submission = self._submission(store)
        backend: Any = None
        status: Any = None
        if submission is not None:  # a resumed or retried task: the job already exists
            backend = self._backend()
            # Transient errors are retried (and fail the task if they last); only an unknown job resubmits.
            status = stored_job_status(backend, submission.job_id)
            if status is None:
                self.log.warning("the provider does not know stored job %s; submitting the batch again", submission)
                submission = None
            else:
                self.log.info("batch %s: job %s already submitted (%s)", self.batch["batch"], submission.job_id, status)
        if submission is None:
            submission, backend = submit_batch(store, self.batch, jobservice_url=jobservice_url(), admit=self._admit)
            if submission is None:
                self.log.info("batch %s: every experiment is already stored", self.batch["batch"])
                outcome = BatchOutcome(
                    int(self.batch["batch"]), str(self.batch["spec"]), already_stored=len(self.batch["experiment_ids"])
                )
                return store_outcome(store, self.batch, outcome.to_xcom())
            store.put_bytes(submission_uri(store, self.batch), submission.to_json(), "application/json")
            self.log.info(
                "batch %s: %d circuits submitted as job %s (%s)",
                self.batch["batch"],
                len(submission.experiment_ids),
                submission.job_id,
                submission.spec,
            )
        assert backend is not None
        if status is None:  # just submitted
            status = call_with_retries(lambda: backend.status(submission.job_id))
        if self.deferrable and not status.state.terminal:
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
        return self._finish(store, submission, wait_for_result(backend, submission.job_id), context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, str | None]:
        from airflow.sdk.exceptions import AirflowException

        from include.quantum.backends.errors import call_with_retries

        if event.get("state") != "DONE":
            raise AirflowException(
                f"batch {self.batch['batch']}: job {event.get('job_id')} ended {event.get('state')}: "
                f"{event.get('error') or event.get('status', {}).get('error_message')}"
            )
        store = sweep_store()
        submission = self._submission(store)
        if submission is None or submission.job_id != event.get("job_id"):
            raise AirflowException(f"batch {self.batch['batch']}: no stored submission for job {event.get('job_id')}")
        backend = self._backend()
        return self._finish(store, submission, call_with_retries(lambda: backend.result(submission.job_id)), context)

    def _finish(self, store: ArtifactStore, submission: Any, raw: Any, context: Any) -> dict[str, str | None]:
        from include.benchmark.batches import finish_batch
        from include.benchmark.night import store_outcome

        outcome = finish_batch(
            store, self.batch, submission, raw, settle=budget_admission().settle, night=str(context["run_id"])
        )
        self.log.info("batch %s: stored %d results (job %s)", outcome.batch, outcome.executed, outcome.job_id)
        return store_outcome(store, self.batch, outcome.to_xcom())


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
