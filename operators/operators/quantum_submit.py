"""QuantumSubmitOperator: preflight, transpile (through the cache), submit once, defer, store.

Deferrable by default: after submission the task frees its worker slot and QuantumJobTrigger
waits in the triggerer. The idempotency key (circuit structure, parameter values, shots, backend,
and the task instance) goes through the job ledger first, so a retried or restarted task finds
the job it already submitted instead of submitting another.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from operators.hooks.quantum import QuantumBackendHook
from operators.operators.base import ArtifactStageOperator
from operators.operators.policy import environment_admission
from operators.operators.quantum_fallback import FallbackTierSet, FallbackTiersMixin
from operators.triggers.quantum_job import QuantumJobTrigger

if TYPE_CHECKING:
    from include.store.artifacts import ArtifactRef, ArtifactStore


class QuantumSubmitOperator(FallbackTiersMixin, ArtifactStageOperator):
    template_fields = (
        "circuit",
        "parameter_source",
        "shots",
        "backend",
        "seed",
        "classical_source",
        "approved",
        "workload",
    )
    ui_color = "#efe4fb"

    def __init__(
        self,
        *,
        circuit: Any,
        backend: str = "aer",
        shots: int | str = 1024,
        circuit_attachment: str = "ansatz.qpy",
        parameter_source: Any = None,
        parameter_field: str = "best_parameters",
        quantum_conn_id: str | None = None,
        seed: int | str | None = 7,
        optimization_level: int = 1,
        max_depth: int | None = None,
        shot_budget: int | None = None,
        max_runtime_seconds: float | None = None,
        deferrable: bool = True,
        poll_interval: float = 2.0,
        approved: bool | str = False,
        on_budget_alert: Any = None,
        fallback_tiers: tuple[int, ...] | list[int] = (1,),
        classical_source: Any = None,
        queue_sla_seconds: float | None = None,
        environment: str | None = None,
        workload: str | None = None,
        retry_attempts: int = 5,
        retry_base_seconds: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.approved = approved  # set by a DAG whose approval task (ApprovalOperator) precedes this one
        self.on_budget_alert = on_budget_alert  # a callable or Airflow notifier, called with the alert text
        # Graceful degradation: which tiers to try (1 quantum, 2 classical, 3 cached, 4 pending), the
        # artifact holding the classical heuristic's answer (columns method, bitstring, cut), and
        # how long a queued job may wait before the run moves on to the next tier.
        self.fallback_tiers = tuple(int(t) for t in fallback_tiers)
        self.classical_source = classical_source
        self.queue_sla_seconds = queue_sla_seconds
        self.environment = environment  # None: the Airflow Variable / QFLOW_ENVIRONMENT / policy default
        # Quantum-value routing: a workload whose quantum runs added nothing lately goes classical.
        self.workload = workload
        self.retry_attempts = retry_attempts  # transient provider errors: attempts before falling back
        self.retry_base_seconds = retry_base_seconds
        self.circuit = circuit
        self.backend = backend
        self.shots = shots
        self.circuit_attachment = circuit_attachment
        self.parameter_source = parameter_source
        self.parameter_field = parameter_field
        self.quantum_conn_id = quantum_conn_id
        self.seed = seed  # templated: rendered to an int before execute
        self.optimization_level = optimization_level
        self.max_depth = max_depth
        self.shot_budget = shot_budget
        self.max_runtime_seconds = max_runtime_seconds
        self.deferrable = deferrable
        self.poll_interval = poll_interval

    # -- helpers ---------------------------------------------------------------------------
    def _ledger(self) -> Any:
        from include.governance.ledger import JobLedger

        return JobLedger()

    def _seed(self) -> int | None:
        return None if self.seed is None else int(self.seed)

    def _backend(self) -> Any:
        return QuantumBackendHook(self.backend, self.quantum_conn_id, seed=self._seed()).get_conn()

    # -- policy: admission control before any submission ------------------------------------
    def _admission(self) -> Any:
        """The environment's admission (pinned by the DAG, e.g. the drill's budget scenario, else
        the Airflow Variable / QFLOW_ENVIRONMENT / the policy default)."""
        return environment_admission(self.environment, approved=self.approved is True)

    def _retrying(self, call: Any, what: str) -> Any:
        """A provider call with transient retries (exponential backoff + jitter, up to the limit)."""
        from include.quantum.backends.errors import call_with_retries

        return call_with_retries(
            call,
            max_attempts=self.retry_attempts,
            base=self.retry_base_seconds,
            on_retry=lambda e, n, d: self.log.warning("%s attempt %d failed (%s); retry in %.1fs", what, n, e, d),
        )

    def _admit(self, key: str, backend_name: str, shots: int) -> None:
        """Reserve the job's cost against the environment's budgets, or refuse (no retry)."""
        from include.governance.policy import PolicyError
        from include.quantum.backends.errors import QuantumError

        admission = self._admission()
        name = admission.environment_name
        try:
            reservation = admission.admit(key, backend_name, shots)
        except PolicyError as exc:
            raise AirflowFailException(f"admission refused: {exc}") from exc
        except QuantumError as exc:
            exc.args = (f"admission refused: {exc}",)
            raise
        for alert in reservation.alerts:
            self.log.warning(alert)
            if self.on_budget_alert is not None:
                self.on_budget_alert(alert)
        self.log.info(
            "admitted in %s: %d shots on %s, estimated cost %.4f%s",
            name,
            shots,
            backend_name,
            reservation.estimated_cost,
            " (reservation reused)" if reservation.reused else "",
        )

    def _parameter_values(self, store: ArtifactStore) -> list[float] | None:
        if self.parameter_source is None:
            return None
        manifest = store.read_manifest(self.ref(self.parameter_source).uri)
        values = manifest["params"].get(self.parameter_field)
        if not isinstance(values, list):
            raise AirflowFailException(
                f"parameter_source has no list field {self.parameter_field!r} in its manifest params"
            )
        return [float(v) for v in values]

    def idempotency_key(
        self, structure: str, values: list[float] | None, shots: int, context: Mapping[str, Any]
    ) -> str:
        from include.quantum.submission import idempotency_key

        run = [self.dag_id, context["run_id"], self.task_id, getattr(context["ti"], "map_index", -1)]
        return idempotency_key(structure, values, shots, self.backend, run)

    # -- execution -------------------------------------------------------------------------
    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        import numpy as np
        from qiskit import qpy

        from include.quantum.backends.base import SamplerPub
        from include.quantum.backends.errors import QuantumError
        from include.quantum.backends.preflight import PreflightLimits, check_fits, preflight
        from include.quantum.backends.registry import backend_profile
        from include.quantum.submission import content_key
        from include.quantum.transpile_cache import TranspileCache, TranspileSettings, circuit_structure

        shots = int(self.shots)
        circuit_ref = self.ref(self.circuit)
        circuit = qpy.load(io.BytesIO(store.read_attachment(circuit_ref, self.circuit_attachment)))[0]
        values = self._parameter_values(store)
        backend = self._backend()
        settings = TranspileSettings(self.optimization_level, self._seed() or 0)
        try:
            check_fits(circuit, backend.target(), backend.name)
        except QuantumError as exc:
            raise AirflowFailException(str(exc)) from exc
        isa, source, compile_seconds = TranspileCache(store).get_or_transpile(
            circuit, backend.target(), backend.calibration_snapshot(), settings
        )
        self.log.info("transpiled circuit for %s (%s, %.3f s)", backend.name, source, compile_seconds)
        pub = SamplerPub(isa, None if values is None else np.array([values]))
        structure = circuit_structure(circuit)
        key = self.idempotency_key(structure, values, shots, context)
        details: dict[str, Any] = {
            "idempotency_key": key,
            "content_key": content_key(structure, values, shots, self.backend),
            "job_id": None,
            "compile_seconds": compile_seconds,
            "transpile_source": source,
            "transpiler": settings.as_dict(),
            "inputs": [circuit_ref.to_xcom()] + ([self.parameter_source] if self.parameter_source else []),
            "parameters": values,
            "shots": shots,
            "deferred_at": None,
        }
        try:  # the provider may be down already: that is a reason to fall back, not a bug
            max_shots = self._retrying(backend.max_shots, "backend info")
        except QuantumError as exc:
            return self._fallback(store, prefix, context, details, exc)
        report = preflight(
            [pub],
            shots,
            backend.target(),
            max_shots,
            PreflightLimits(self.max_depth, self.shot_budget, self.max_runtime_seconds),
        )
        try:
            report.raise_for_problems(backend.name)
        except QuantumError as exc:
            raise AirflowFailException(str(exc)) from exc

        if self.workload and FallbackTierSet(self.fallback_tiers).falls_back:
            from include.governance.quantum_value import QuantumValueRecord

            decision = QuantumValueRecord().decide(
                self.workload, context["run_id"], self._admission().policy.quantum_value
            )
            self.log.info("quantum-value routing for %s: %s (%s)", self.workload, decision.route, decision.reason)
            if not decision.use_quantum:
                return self._fallback(store, prefix, context, details, None, route_to_classical=decision.reason)
        try:
            job_id = self._submit_once(backend, pub, shots, key, report.total_shots)
        except QuantumError as exc:
            return self._fallback(store, prefix, context, details, exc)
        details["job_id"] = job_id
        try:
            status = self._retrying(lambda: backend.status(job_id), "status")
            # Held (this task waits, holding its slot) when asked, or when no other process can wait
            # on the job: in-process jobs (Aer, the runtime's local mode) live in this process only.
            held = not self.deferrable or not backend_profile(self.backend).rules.deferrable
            while not status.state.terminal and held:
                time.sleep(self.poll_interval)
                status = self._retrying(lambda: backend.status(job_id), "status")
        except QuantumError as exc:  # the job exists but cannot be observed: it may run and be charged
            self._settle_at_estimate(key)
            return self._fallback(store, prefix, context, details, exc)
        if status.state.terminal:
            return self._finish(store, prefix, context, backend, details, status.state.value)
        details["deferred_at"] = time.time()
        # The submission's state also goes to the store: resumption must not depend on the
        # trigger's kwargs surviving (`airflow dags test` resumes deferred tasks without them).
        store.put_bytes(self._details_uri(store, prefix), json.dumps(details).encode(), "application/json")
        self.defer(
            trigger=QuantumJobTrigger(
                job_id,
                self.backend,
                self.quantum_conn_id,
                self.poll_interval,
                queue_sla_seconds=self.queue_sla_seconds,
                submitted_at=status.created_at.isoformat() if status.created_at else None,
            ),
            method_name="execute_complete",
            kwargs={"details": details},
        )
        raise AssertionError("defer() raises TaskDeferred")  # pragma: no cover

    def _protocol(self, backend: Any) -> Any:
        """The core's submission protocol (include.quantum.submission), with this task's admission."""
        from include.quantum.submission import SubmissionProtocol

        return SubmissionProtocol(
            backend, ledger=self._ledger(), admission=self._admission(), retrying=self._retrying, admit=self._admit
        )

    def _submit_once(self, backend: Any, pub: Any, shots: int, key: str, total_shots: int) -> str:
        """Admission, then the protocol's claim + find-or-submit."""
        from include.quantum.backends.base import SamplerJob

        return str(self._protocol(backend).start(SamplerJob([pub], shots, key, {"seed": self._seed()}), total_shots))

    def _settle_at_estimate(self, key: str) -> None:
        """Close a reservation whose job was submitted but will not be followed: charge its estimate
        (the conservative choice — the provider may still run it), so nothing stays held forever."""
        ledger = self._admission().ledger
        row = ledger.reservation(key)
        if row is not None and row.state == "RESERVED":
            ledger.settle(key, row.estimated_cost)

    def _details_uri(self, store: ArtifactStore, prefix: str) -> str:
        return store.uri(f"{prefix}/{self.task_id}/submission.json")

    def execute_complete(
        self, context: Any, event: Mapping[str, Any], details: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        from include.governance.fallback import QueueSLAExceeded
        from include.quantum.backends.errors import _BY_CLASS, ErrorClass, QuantumError
        from operators.hooks.artifact_store import ArtifactStoreHook

        store = ArtifactStoreHook(self.aws_conn_id).get_store()
        prefix = self.run_prefix(context)
        if details is None:
            details = json.loads(store.get_bytes(self._details_uri(store, prefix)))
        state = str(event["state"])
        if state == "SLA_EXCEEDED":
            backend = self._backend()
            waited = float(event.get("waited_seconds", 0.0))  # measured by the trigger from the job's submission
            error: QuantumError = QueueSLAExceeded(
                f"job {details['job_id']} still waiting after {waited:.0f} s "
                f"(queue SLA {float(event.get('queue_sla_seconds') or self.queue_sla_seconds or 0):g} s)"
            )
            if FallbackTierSet(self.fallback_tiers).falls_back:
                backend.cancel(details["job_id"])  # it will not be used: free the queue and the budget
                self._admission().ledger.settle(details["idempotency_key"], 0.0)
                self._ledger().update(details["idempotency_key"], state="CANCELLED", error=str(error))
            return self.stored(store, self._fallback(store, prefix, context, details, error))
        if state == "ERROR" and "status" not in event:  # polling itself failed for good
            error_class = ErrorClass(event.get("error_class", "structural"))
            fallen = self._fallback(store, prefix, context, details, _BY_CLASS[error_class](str(event.get("error"))))
            return self.stored(store, fallen)
        return self.stored(store, self._finish(store, prefix, context, self._backend(), details, state))

    def _finish(
        self,
        store: ArtifactStore,
        prefix: str,
        context: Any,
        backend: Any,
        details: Mapping[str, Any],
        state: str,
    ) -> ArtifactRef:
        from include.governance.fallback import FallbackTier, ResultCache, TieredOutcome
        from include.quantum.backends.errors import QuantumError, StructuralQuantumError, classify
        from include.quantum.backends.results import normalise

        ledger = self._ledger()
        key, job_id = details["idempotency_key"], details["job_id"]
        if state != "DONE":
            error: QuantumError = StructuralQuantumError(f"job {job_id} ended {state}")
            try:
                backend.result(job_id)
            except Exception as exc:
                error = classify(exc)
            ledger.update(key, state=state, error=f"job {job_id} ended {state}: {error}")
            return self._fallback(store, prefix, context, details, error)
        started = time.perf_counter()
        protocol = self._protocol(backend)
        if not protocol.profile.rules.durable_jobs and not protocol._known(job_id):
            raise AirflowFailException(f"in-process job {job_id} is gone with the process that ran it")
        raw = protocol.collect(key, job_id, int(details["shots"]))  # result, ledger DONE, settled at real cost
        frame = normalise(
            raw,
            transpiler_settings=details["transpiler"],
            calibration=backend.calibration_snapshot(),
            compile_seconds=float(details["compile_seconds"]),
        )
        totals = frame.groupby(["pub_index", "parameter_set"])["count"].sum()
        if not (totals == raw.shots).all():
            raise AirflowFailException(f"job {job_id}: counts do not sum to shots={raw.shots}: {totals.to_dict()}")
        frame["postprocess_seconds"] = time.perf_counter() - started
        outcome: TieredOutcome[Any] = TieredOutcome(FallbackTier.QUANTUM, "quantum result", frame)
        ref = self._store_result(
            store,
            prefix,
            details,
            outcome,
            backend.name,
            {"provider_job_id": job_id, "metadata": dict(raw.metadata)},
            measurements={
                "timings": dict(raw.timings),
                "compile_seconds": details["compile_seconds"],
                "seconds": float(details["compile_seconds"])
                + float(raw.timings.get("queue_seconds", 0.0))
                + float(raw.timings.get("execute_seconds", 0.0))
                + float(frame["postprocess_seconds"].iloc[0] if len(frame) else 0.0),
            },
        )
        ledger.update(key, result_uri=ref.uri)
        # The result cache (tier 3): the same circuit, parameters, shots and backend, in any run.
        ResultCache(store).remember(details["content_key"], ref)
        return ref

    def _store_result(
        self,
        store: ArtifactStore,
        prefix: str,
        details: Mapping[str, Any],
        outcome: Any,
        produced_by: str,
        extra_params: Mapping[str, Any],
        measurements: Mapping[str, Any] | None = None,
        extra_inputs: tuple[Any, ...] = (),
    ) -> ArtifactRef:
        import pandas as pd

        from include.quantum.backends.results import JOB_RESULT_DTYPES
        from include.store.artifacts import ArtifactRef

        frame = (
            outcome.value
            if outcome.value is not None
            else pd.DataFrame({c: pd.Series([], dtype=t) for c, t in JOB_RESULT_DTYPES.items()})
        )
        return store.put_table(
            prefix,
            self.task_id,
            frame,
            stage="quantum_submit",
            inputs=[ArtifactRef.from_xcom(i) for i in details["inputs"]] + list(extra_inputs),
            params={
                "backend": produced_by,
                "requested_backend": self.backend,
                "idempotency_key": details["idempotency_key"],
                "shots": details["shots"],
                "parameters": details["parameters"],
                "transpiler": details["transpiler"],
                "transpile_source": details["transpile_source"],
                "fallback": outcome.label(),
                **extra_params,
            },
            measurements=dict(measurements or {}),
            nondeterministic_columns=["compile_seconds", "queue_seconds", "execute_seconds", "postprocess_seconds"],
        )
