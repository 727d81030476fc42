"""VariationalLoopOperator: a variational loop (QAOA, the VQC) on any backend of the registry.

Each evaluation is one job through the core's submission protocol. Where a job is expected to
wait (a queued provider, the job service with a queue: the policy's
``loops.defer_when_wait_exceeds_seconds``), the task records the job in the loop's checkpoint and
defers with ``QuantumJobTrigger``: no worker slot is held while the job waits, and when it is done
``execute_complete`` collects it, replays the optimiser to the next point, submits it and defers
again. Where waits are short (in-process simulation, an open session) the evaluations run held.
All state is in the checkpoint, never only in trigger kwargs: a retried, cleared or killed task,
or a restarted triggerer, resumes from it and never submits an evaluation twice.

Subclasses say which loop, as data: ``loop_stage`` names the pipeline's two functions (build the
loop with its problem and checkpoint; store the stage's artifact) and ``loop_inputs`` the operator
fields holding the artifact references the loop reads.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from operators.hooks.quantum import QuantumBackendHook
from operators.operators.base import ArtifactStageOperator
from operators.operators.policy import environment_admission
from operators.triggers.quantum_job import QuantumJobTrigger

if TYPE_CHECKING:
    from include.store.artifacts import ArtifactRef, ArtifactStore


def _process_age() -> float:
    """Seconds since this task process started (its worker time so far, imports included)."""
    import psutil

    return time.time() - psutil.Process().create_time()


class VariationalLoopOperator(ArtifactStageOperator):
    template_fields: tuple[str, ...] = ("loop_backend", "approved")
    ui_color = "#efe4fb"

    def __init__(
        self,
        *,
        loop_backend: str = "aer",
        quantum_conn_id: str | None = None,
        deferrable: bool = True,
        poll_interval: float = 1.0,
        environment: str | None = None,
        approved: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.loop_backend = loop_backend
        self.quantum_conn_id = quantum_conn_id
        self.deferrable = deferrable  # False: every evaluation runs held, whatever the backend
        self.poll_interval = poll_interval
        self.environment = environment
        self.approved = approved
        self._backend: Any = None

    # -- what subclasses provide -------------------------------------------------------------------
    # ("include.pipelines.<workload>", "<build the loop>", "<store the artifact>"); the build function
    # takes (store, prefix, *inputs, params, protocol=, run=), the store function
    # (store, prefix, params, loop, inputs, seconds=, worker_seconds=).
    loop_stage: tuple[str, str, str] = ("", "", "")
    loop_inputs: tuple[str, ...] = ()  # operator fields holding the loop's input references, in order

    def _params(self) -> Any:
        # The workload's own base (``_MaxCutOperator``, ``_ClassifierOperator``) parses the Params; it
        # comes after this class in a loop operator's bases, so this class must not define params_obj.
        return self.params_obj()  # type: ignore[attr-defined]

    def _stage_function(self, which: int) -> Any:
        import importlib

        return getattr(importlib.import_module(self.loop_stage[0]), self.loop_stage[which])

    def build_loop(
        self, store: ArtifactStore, prefix: str, context: Any, protocol: Any, run: list[Any]
    ) -> tuple[Any, list[ArtifactRef]]:
        inputs = [self.ref(getattr(self, name)) for name in self.loop_inputs]
        return self._stage_function(1)(store, prefix, *inputs, self._params(), protocol=protocol, run=run)

    def store_loop(
        self, store: ArtifactStore, prefix: str, loop: Any, inputs: list[ArtifactRef], **timings: float
    ) -> ArtifactRef:
        return self._stage_function(2)(store, prefix, self._params(), loop, inputs, **timings)

    # -- the loop --------------------------------------------------------------------------------
    def _run(self, context: Any) -> list[Any]:
        return [self.dag_id, context["run_id"], self.task_id, getattr(context["ti"], "map_index", -1)]

    def _protocol(self) -> Any:
        from include.quantum.backends.errors import call_with_retries
        from include.quantum.submission import SubmissionProtocol

        # The run's seed (the Param says: graph, simulator, transpiler, heuristics): a DAG run samples
        # what `run_pipeline` with the same conf samples, and a resubmitted evaluation repeats its result.
        seed = self._params().seed
        self._backend = QuantumBackendHook(self.loop_backend, self.quantum_conn_id, seed=seed).get_conn()
        retrying = lambda call, what: call_with_retries(  # noqa: E731
            call, on_retry=lambda e, n, d: self.log.warning("%s attempt %d failed (%s); retry in %.1fs", what, n, e, d)
        )
        admission = environment_admission(self.environment, approved=self.approved is True)
        return SubmissionProtocol(self._backend, ledger=_job_ledger(), admission=admission, retrying=retrying)

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        return self._drive(store, prefix, context, resumed=False)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        from operators.hooks.artifact_store import ArtifactStoreHook
        from operators.operators.base import fails_fast

        store = ArtifactStoreHook(self.aws_conn_id).get_store()
        if event and event.get("state") == "ERROR" and "status" not in event:
            self.log.warning("polling the job failed in the triggerer: %s; collecting it here", event.get("error"))
        try:
            produced = self._drive(store, self.run_prefix(context), context, resumed=True)
        except Exception as exc:
            if fails_fast(exc):
                raise AirflowFailException(str(exc)) from exc
            raise
        return self.stored(store, produced)

    def _drive(self, store: ArtifactStore, prefix: str, context: Any, *, resumed: bool) -> ArtifactRef:
        """Prepare the loop, finish the job in flight if it is done, run on; defer or store."""
        from include.governance.budget import BudgetExceeded
        from include.governance.policy import PolicyError
        from include.quantum.loops.engine import DEFERRED, LoopConfigError, open_session
        from include.quantum.submission import idempotency_key

        started = time.perf_counter()
        protocol = self._protocol()
        run = self._run(context)
        loop, inputs = self.build_loop(store, prefix, context, protocol, run)
        loop.allow_deferral = self.deferrable
        try:
            loop.prepare()  # transpile (cached) and preflight: a backend that does not fit fails here
            loop.reserve(idempotency_key("loop", None, loop.settings.shots, loop.backend.name, [*run, "loop"]))
        except LoopConfigError as exc:
            raise AirflowFailException(f"{self.task_id}: {exc}") from exc
        except (PolicyError, BudgetExceeded) as exc:
            raise AirflowFailException(f"{self.task_id}: admission refused: {exc}") from exc
        checkpoint = loop.checkpoint
        try:
            open_session(loop)  # the loop's session: open (or re-attached by id) until the loop ends
            pending = checkpoint.pending
            if pending is not None:  # an evaluation's job is in flight (deferred, or a retried task)
                if not protocol.status(pending["job_id"]).state.terminal and loop.mode() != DEFERRED:
                    protocol.wait(pending["job_id"])
                if protocol.status(pending["job_id"]).state.terminal:
                    loop.complete_pending()
                    pending = loop.advance()
            else:
                pending = loop.advance()
        except BudgetExceeded as exc:
            self._close(protocol)
            raise AirflowFailException(f"{self.task_id}: the loop stopped: {exc}") from exc
        except BaseException:
            self._close(protocol, release=False)
            raise
        worker = [*checkpoint.context.get("worker_seconds", []), _process_age()]
        checkpoint.context["worker_seconds"] = worker
        if pending is not None:
            checkpoint.save()
            self.log.info(
                "evaluation %d: job %s waits on %s; deferring (no worker held while it waits)",
                pending["iteration"],
                pending["job_id"],
                loop.backend.name,
            )
            self.defer(
                trigger=QuantumJobTrigger(
                    pending["job_id"],
                    self.loop_backend,
                    self.quantum_conn_id,
                    self.poll_interval,
                    max_poll_interval=max(self.poll_interval, 5.0),
                    submitted_at=pending.get("submitted_at"),
                    expected_wait_seconds=pending.get("expected_wait_seconds"),
                ),
                method_name="execute_complete",
            )
        self._close(protocol)
        checkpoint.save()
        outcome = loop.outcome()
        self.log.info(
            "loop done: %d evaluations (%s)",
            len(outcome.evaluations),
            ", ".join(f"{k}: {v}" for k, v in outcome.by_backend().items()),
        )
        return self.store_loop(
            store, prefix, loop, inputs, seconds=time.perf_counter() - started, worker_seconds=float(sum(worker))
        )

    def _close(self, protocol: Any, *, release: bool = True) -> None:
        """Book what is unbooked, give back the unused reservation, close the provider session."""
        if release:
            protocol.close_loop()
        else:
            protocol.flush()
        if self._backend is not None:
            self._backend.close_context()

    def on_kill(self) -> None:
        """A killed loop closes its provider session (session time is billed while it is open)."""
        if self._backend is not None:
            self._backend.close_context()


def _job_ledger() -> Any:
    from include.governance.ledger import JobLedger

    return JobLedger()
