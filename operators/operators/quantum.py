"""QuantumSubmitOperator: preflight, transpile (through the cache), submit once, defer, store.

Deferrable by default: after submission the task frees its worker slot and QuantumJobTrigger
waits in the triggerer. The idempotency key (circuit structure, parameter values, shots, backend,
and the task instance) goes through the job ledger first, so a retried or restarted task finds
the job it already submitted instead of submitting another.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from operators.hooks.quantum import QuantumBackendHook
from operators.operators.base import ArtifactStageOperator
from operators.triggers.quantum_job import QuantumJobTrigger

if TYPE_CHECKING:
    from include.artifacts import ArtifactRef, ArtifactStore


class QuantumSubmitOperator(ArtifactStageOperator):
    template_fields = ("circuit", "parameter_source", "shots", "backend", "seed")
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
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
        from include.ledger import JobLedger

        return JobLedger()

    def _seed(self) -> int | None:
        return None if self.seed is None else int(self.seed)

    def _backend(self) -> Any:
        return QuantumBackendHook(self.backend, self.quantum_conn_id, seed=self._seed()).get_conn()

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
        ti = context["ti"]
        payload = {
            "circuit": hashlib.sha256(structure.encode()).hexdigest(),
            "parameters": values,
            "shots": shots,
            "backend": self.backend,
            "run": [self.dag_id, context["run_id"], self.task_id, getattr(ti, "map_index", -1)],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    # -- execution -------------------------------------------------------------------------
    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        import numpy as np
        from qiskit import qpy

        from include.backends.base import SamplerJob, SamplerPub
        from include.backends.errors import QuantumError, call_with_retries
        from include.backends.preflight import PreflightLimits, check_fits, preflight
        from include.transpile_cache import TranspileCache, TranspileSettings, circuit_structure

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
        report = preflight(
            [pub],
            shots,
            backend.target(),
            backend.max_shots(),
            PreflightLimits(self.max_depth, self.shot_budget, self.max_runtime_seconds),
        )
        try:
            report.raise_for_problems(backend.name)
        except QuantumError as exc:
            raise AirflowFailException(str(exc)) from exc

        key = self.idempotency_key(circuit_structure(circuit), values, shots, context)
        ledger = self._ledger()
        entry, won = ledger.claim(key, backend.name, report.total_shots)
        job_id = entry.provider_job_id
        if job_id:
            self.log.info("job for key %s already submitted as %s; not submitting again", key[:12], job_id)
        else:
            finder = getattr(backend, "find_job", None)
            job_id = finder(key) if (finder is not None and not won) else None
            if job_id is None:
                job = SamplerJob([pub], shots, key, {"seed": self._seed()})
                try:
                    job_id = call_with_retries(
                        lambda: backend.submit(job),
                        on_retry=lambda e, n, d: self.log.warning(
                            "submit attempt %d failed (%s); retry in %.1fs", n, e, d
                        ),
                    )
                except QuantumError as exc:
                    ledger.update(key, state="ERROR", error=str(exc))
                    raise (AirflowException if exc.retryable else AirflowFailException)(str(exc)) from exc
            ledger.update(key, provider_job_id=job_id, state="SUBMITTED")
            self.log.info("submitted %s to %s (key %s)", job_id, backend.name, key[:12])

        status = backend.status(job_id)
        details = {
            "idempotency_key": key,
            "job_id": job_id,
            "compile_seconds": compile_seconds,
            "transpile_source": source,
            "transpiler": settings.as_dict(),
            "inputs": [circuit_ref.to_xcom()] + ([self.parameter_source] if self.parameter_source else []),
            "parameters": values,
            "shots": shots,
        }
        if status.state.terminal or not self.deferrable:
            while not status.state.terminal:  # not deferrable: wait here, holding the slot
                time.sleep(self.poll_interval)
                status = backend.status(job_id)
            return self._finish(store, prefix, backend, details, status.state.value)
        self.defer(
            trigger=QuantumJobTrigger(job_id, self.backend, self.quantum_conn_id, self.poll_interval),
            method_name="execute_complete",
            kwargs={"details": details},
        )
        raise AssertionError("defer() raises TaskDeferred")  # pragma: no cover

    def execute_complete(self, context: Any, event: Mapping[str, Any], details: Mapping[str, Any]) -> dict[str, Any]:
        from operators.hooks.artifact_store import ArtifactStoreHook

        store = ArtifactStoreHook(self.aws_conn_id).get_store()
        if event.get("state") == "ERROR" and "status" not in event:
            raise AirflowFailException(f"job {details['job_id']}: {event.get('error')}")
        ref = self._finish(store, self.run_prefix(context), self._backend(), details, str(event["state"]))
        return ref.to_xcom()

    def _finish(
        self, store: ArtifactStore, prefix: str, backend: Any, details: Mapping[str, Any], state: str
    ) -> ArtifactRef:
        from include.artifacts import ArtifactRef
        from include.backends.errors import QuantumError, classify
        from include.backends.results import normalise

        ledger = self._ledger()
        key, job_id = details["idempotency_key"], details["job_id"]
        if state != "DONE":
            error: QuantumError | None = None
            try:
                backend.result(job_id)
            except Exception as exc:
                error = classify(exc)
            message = f"job {job_id} ended {state}" + (f": {error}" if error else "")
            ledger.update(key, state=state, error=message)
            retryable = isinstance(error, QuantumError) and error.retryable
            raise (AirflowException if retryable else AirflowFailException)(message)
        started = time.perf_counter()
        raw = backend.result(job_id)
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
        ref = store.put_table(
            prefix,
            self.task_id,
            frame,
            stage="quantum_submit",
            inputs=[ArtifactRef.from_xcom(i) for i in details["inputs"]],
            params={
                "backend": backend.name,
                "provider_job_id": job_id,
                "idempotency_key": key,
                "shots": details["shots"],
                "parameters": details["parameters"],
                "transpiler": details["transpiler"],
                "transpile_source": details["transpile_source"],
                "metadata": dict(raw.metadata),
            },
            measurements={
                "timings": dict(raw.timings),
                "compile_seconds": details["compile_seconds"],
                "seconds": float(details["compile_seconds"])
                + float(raw.timings.get("queue_seconds", 0.0))
                + float(raw.timings.get("execute_seconds", 0.0))
                + float(frame["postprocess_seconds"].iloc[0] if len(frame) else 0.0),
            },
            nondeterministic_columns=["compile_seconds", "queue_seconds", "execute_seconds", "postprocess_seconds"],
        )
        ledger.update(key, state="DONE", result_uri=ref.uri)
        return ref
