"""One variational loop engine for every workload (QAOA, the VQC) on every backend of the registry.

The workload supplies a ``VariationalProblem`` (its logical circuits, how a parameter vector becomes
sampler pubs, how counts become the value the optimiser minimises); the engine owns everything
around it:

- the circuits are transpiled **once** for the backend's target (through the transpile cache) and
  **preflighted once** (qubits, gates, depth, shots) before any job;
- the loop's budget is **reserved up front** and every evaluation is **one job** through the
  submission protocol (``include.quantum.submission``): claimed, found-or-submitted, collected,
  settled — never submitted twice;
- an evaluation either runs **held** (this process waits: in-process simulation, an open
  session, a short queue) or **deferred** (the job is recorded as pending and the caller frees its
  worker until the job is done) — by the policy's threshold on the backend's expected wait;
- the optimiser is **replayed** from the checkpointed evaluations (``optimiser.drive``), so a loop
  continues exactly across deferrals, process restarts and a move to another backend;
- every evaluation's state is in the checkpoint: parameters, value, backend, provider job id,
  transpiler settings, target fingerprint, shots, measurement layout, data-set version, mode.

Nothing here knows Airflow: the loop operator (``operators.operators.loop``) turns "pending" into
``self.defer(...)``, and ``run_held`` runs a loop to the end in one process.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from include.quantum.loops.optimiser import ReplayDiverged, Suspend, check_optimiser, drive

HELD, DEFERRED = "held", "deferred"


class LoopConfigError(ValueError):
    """A loop setting or a backend that does not fit the problem; the message names the limit and the fix."""


class VariationalProblem(Protocol):
    """What a workload tells the engine (pure: no queues, retries or budgets)."""

    @property
    def kind(self) -> str:  # "qaoa_maxcut", "vqc"
        ...

    @property
    def circuits(self) -> Sequence[Any]:  # logical circuits, measured
        ...

    @property
    def start(self) -> np.ndarray:  # the initial parameter vector
        ...

    @property
    def rhobeg(self) -> float:  # COBYLA's initial step
        ...

    def pubs(self, isa: Sequence[Any], theta: np.ndarray) -> list[Any]:
        """SamplerPubs for ``theta`` on the transpiled circuits (one job: possibly many pubs/rows)."""

    def score(self, counts: Sequence[Sequence[Mapping[str, int]]]) -> tuple[float, dict[str, Any]]:
        """(the value to minimise, the evaluation's metrics) from the job's counts."""


@dataclass
class Evaluation:
    """One evaluation, as the orchestrator owns it (a checkpoint row, a trace row)."""

    iteration: int
    parameters: list[float]
    value: float
    metrics: dict[str, Any]
    backend: str
    job_id: str
    idempotency_key: str
    mode: str  # held | deferred
    shots: int
    transpiler: dict[str, Any]
    target_fingerprint: str
    measurement_layout: list[list[int]]
    dataset_version: str
    run_id: str
    seconds: float  # submit → result, as this process saw it (for a deferred one: until resumed)


@dataclass(frozen=True)
class LoopSettings:
    optimiser: str = "COBYLA"
    max_evaluations: int = 60
    shots: int = 1024
    seed: int = 7
    optimization_level: int = 1
    defer_threshold_seconds: float = 2.0  # the policy's: defer when a job is expected to wait longer
    flush_seconds: float = 2.0  # free in-process backends: checkpoint at most this often

    def check(self) -> None:
        if (problem := check_optimiser(self.optimiser)) is not None:
            raise LoopConfigError(problem)
        if self.shots < 1:
            raise LoopConfigError(f"shots={self.shots}: set shots >= 1")
        if self.max_evaluations < 1:
            raise LoopConfigError(f"max_iterations={self.max_evaluations}: set max_iterations >= 1")


@dataclass
class LoopOutcome:
    evaluations: list[Evaluation]
    best: Evaluation | None
    transpile_seconds: float
    transpile_count: int
    execute_seconds: float
    isa: list[Any] = field(default_factory=list)
    checkpoint_writes: int = 0

    def by_backend(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.evaluations:
            counts[e.backend] = counts.get(e.backend, 0) + 1
        return counts


def fingerprint(target: Any, calibration: Mapping[str, Any]) -> str:
    from include.quantum.transpile_cache import target_fingerprint

    payload = json.dumps(target_fingerprint(target, calibration), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def measurement_layout(isa: Any) -> list[int]:
    """The physical qubit each classical bit reads (clbit i ← qubit layout[i])."""
    layout: list[int] = [-1] * isa.num_clbits
    for instruction in isa.data:
        if instruction.operation.name == "measure":
            layout[isa.find_bit(instruction.clbits[0]).index] = isa.find_bit(instruction.qubits[0]).index
    return layout


class VariationalLoop:
    """One loop of one run on one backend; ``advance`` drives it to its end or to its next wait."""

    def __init__(
        self,
        problem: VariationalProblem,
        protocol: Any,
        checkpoint: Any,
        settings: LoopSettings,
        *,
        run: Sequence[Any],
        dataset_version: str,
        transpile_cache: Any = None,
        limits: Any = None,
        allow_deferral: bool = True,
    ) -> None:
        from include.quantum.transpile_cache import TranspileCache

        settings.check()
        self.problem = problem
        self.protocol = protocol
        self.backend = protocol.backend
        self.checkpoint = checkpoint
        self.settings = settings
        self.run = list(run)  # (dag id, run id, task id, map index)
        self.dataset_version = dataset_version
        self.cache = transpile_cache if transpile_cache is not None else TranspileCache()
        self.limits = limits
        self.allow_deferral = allow_deferral
        self.resumed_from = len(checkpoint.history)  # evaluations already checkpointed when this process began
        self.isa: list[Any] = []
        self.transpile_seconds = 0.0
        self.transpile_count = 0
        self.execute_seconds = 0.0
        self._structure = ""
        self._last_flush = time.monotonic()
        self._mode: str | None = None
        self._expected_wait = 0.0

    # -- before the first job ----------------------------------------------------------------------
    def prepare(self) -> None:
        """Transpile for this backend's target (cached) and preflight once; raises before any job."""
        from include.quantum.backends.errors import QuantumError
        from include.quantum.backends.preflight import check_fits, preflight
        from include.quantum.transpile_cache import TranspileSettings, circuit_structure

        target, calibration = self.backend.target(), self.backend.calibration_snapshot()
        try:
            for circuit in self.problem.circuits:
                check_fits(circuit, target, self.backend.name)
        except QuantumError as exc:
            raise LoopConfigError(str(exc)) from exc
        transpiler = TranspileSettings(self.settings.optimization_level, self.settings.seed)
        before = self.cache.hits["miss"]
        for circuit in self.problem.circuits:
            isa, _, seconds = self.cache.get_or_transpile(circuit, target, calibration, transpiler)
            self.isa.append(isa)
            self.transpile_seconds += seconds
        self.transpile_count = self.cache.hits["miss"] - before
        self._structure = "\n".join(circuit_structure(c) for c in self.problem.circuits[:1]) + f"#{len(self.isa)}"
        self._transpiler = transpiler.as_dict()
        self._fingerprint = fingerprint(target, calibration)
        self._layout = [measurement_layout(c) for c in self.isa[:1]]
        pubs = self.problem.pubs(self.isa, np.asarray(self.problem.start, dtype=float))
        report = preflight(
            pubs,
            self.settings.shots,
            target,
            self.protocol.retrying(self.backend.max_shots, "backend info"),
            self.limits,
        )
        try:
            report.raise_for_problems(self.backend.name)
        except QuantumError as exc:
            raise LoopConfigError(str(exc)) from exc
        self._shots_per_job = int(report.total_shots)

    def reserve(self, loop_key: str) -> Any:
        """Reserve the whole loop's budget up front (what is left of it, on a resumed loop)."""
        remaining = max(self.settings.max_evaluations - len(self.checkpoint.history), 1)
        return self.protocol.reserve_loop(loop_key, self._shots_per_job, remaining)

    # -- the loop ----------------------------------------------------------------------------------
    def mode(self) -> str:
        """Held or deferred for the next evaluations (decided once per process: the backend's
        expected wait against the policy's threshold; only backends another process can wait on)."""
        if self._mode is None:
            deferrable = self.allow_deferral and self.protocol.profile.rules.deferrable
            wait = self.backend.expected_wait_seconds() if deferrable else 0.0
            self._expected_wait = float(wait)
            self._mode = DEFERRED if deferrable and wait >= self.settings.defer_threshold_seconds else HELD
        return self._mode

    @property
    def evaluations(self) -> list[Evaluation]:
        return list(self.checkpoint.history)

    def _key(self, iteration: int | str, theta: np.ndarray) -> str:
        from include.quantum.submission import idempotency_key

        return idempotency_key(
            self._structure,
            np.round(theta, 12).tolist(),
            self.settings.shots,
            self.backend.name,
            [*self.run, iteration],
        )

    def _job(self, iteration: int | str, theta: np.ndarray) -> Any:
        from include.quantum.backends.base import SamplerJob

        return SamplerJob(
            self.problem.pubs(self.isa, theta),
            self.settings.shots,
            self._key(iteration, theta),
            {"seed": self.settings.seed},
        )

    def _record(self, theta: np.ndarray, raw: Any, job_id: str, key: str, mode: str, seconds: float) -> float:
        value, metrics = self.problem.score(raw.counts)
        history = self.checkpoint.history
        evaluation = Evaluation(
            iteration=len(history),
            parameters=[float(t) for t in theta],
            value=float(value),
            metrics=metrics,
            backend=self.backend.name,
            job_id=job_id,
            idempotency_key=key,
            mode=mode,
            shots=self.settings.shots,
            transpiler=self._transpiler,
            target_fingerprint=self._fingerprint,
            measurement_layout=self._layout,
            dataset_version=self.dataset_version,
            run_id=str(self.run[1]) if len(self.run) > 1 else "",
            seconds=seconds,
        )
        # Free, fast backends checkpoint in batches (a lost batch is re-run at no cost, with the same
        # seeds and the same results); a paid or queued job is checkpointed as soon as it is known.
        now = time.monotonic()
        save = not self.protocol.amortised or now - self._last_flush >= self.settings.flush_seconds
        if save:
            self.protocol.flush()  # the ledgers before the checkpoint that names their jobs
            self._last_flush = now
        self.checkpoint.pending = None
        self.checkpoint.append(evaluation, save=save)
        return float(value)

    def advance(self) -> dict[str, Any] | None:
        """Run the loop on until it ends (None) or an evaluation's job must be waited on from
        elsewhere (the pending job: ``job_id``, ``idempotency_key``, ``submitted_at``...)."""
        if self.checkpoint.pending is not None:
            return self.checkpoint.pending
        mode = self.mode()

        def evaluate(theta: np.ndarray) -> float:
            iteration = len(self.checkpoint.history)
            job = self._job(iteration, theta)
            started = time.perf_counter()
            job_id = self.protocol.start(job, self._shots_per_job)
            if mode == DEFERRED:
                status = self.protocol.status(job_id)
                if not status.state.terminal:
                    self.checkpoint.pending = {
                        "iteration": iteration,
                        "parameters": [float(t) for t in theta],
                        "job_id": job_id,
                        "idempotency_key": job.idempotency_key,
                        "submitted_at": status.created_at.isoformat() if status.created_at else None,
                        "backend": self.backend.name,
                        "deferred_at": time.time(),
                        # The provider's estimate when this process chose to defer: the trigger's
                        # first poll waits it out instead of polling a job that cannot be done yet.
                        "expected_wait_seconds": self._expected_wait,
                    }
                    self.checkpoint.save()
                    raise Suspend(theta)
            self.protocol.wait(job_id)
            raw = self.protocol.collect(job.idempotency_key, job_id, self._shots_per_job)
            seconds = time.perf_counter() - started
            self.execute_seconds += seconds
            return self._record(theta, raw, job_id, job.idempotency_key, mode, seconds)

        recorded = [(e.parameters, e.value) for e in self.checkpoint.history]
        finished = drive(
            self.problem.start,
            recorded,
            evaluate,
            method=self.settings.optimiser,
            budget=self.settings.max_evaluations,
            rhobeg=self.problem.rhobeg,
        )
        if not finished:
            return self.checkpoint.pending
        self.protocol.flush()
        self.checkpoint.save()
        return None

    def complete_pending(self) -> None:
        """The pending job is terminal (the trigger said so): collect it and record its evaluation."""
        pending = self.checkpoint.pending
        if pending is None:
            return
        theta = np.asarray(pending["parameters"], dtype=float)
        if len(self.checkpoint.history) != int(pending["iteration"]):
            raise ReplayDiverged(
                f"the pending job is evaluation {pending['iteration']} but the checkpoint holds "
                f"{len(self.checkpoint.history)} evaluations"
            )
        started = float(pending.get("deferred_at") or time.time())
        raw = self.protocol.collect(pending["idempotency_key"], pending["job_id"], self._shots_per_job)
        self._record(theta, raw, pending["job_id"], pending["idempotency_key"], DEFERRED, time.time() - started)
        self.checkpoint.save()

    def sample(self, theta: np.ndarray) -> Any:
        """One held job at ``theta`` outside the optimiser (a trained model's prediction): the same
        transpiled, preflighted circuits and the same protocol, admitted per job; its raw result."""
        job = self._job(f"sample:{self.dataset_version}", np.asarray(theta, dtype=float))
        _, raw = self.protocol.run(job, self._shots_per_job)
        return raw

    def outcome(self) -> LoopOutcome:
        history = self.evaluations
        best = min(history, key=lambda e: (e.value, e.iteration)) if history else None
        return LoopOutcome(
            evaluations=history,
            best=best,
            transpile_seconds=self.transpile_seconds,
            transpile_count=self.transpile_count,
            execute_seconds=self.execute_seconds,
            isa=self.isa,
            checkpoint_writes=int(getattr(self.checkpoint, "writes", 0)),
        )


def open_session(loop: VariationalLoop) -> str | None:
    """Open the loop's provider session (an IBM Session; None where the backend has none), or
    re-attach to the one its checkpoint records; its id is recorded in the checkpoint's context."""
    context_id = loop.backend.open_context("session", loop.checkpoint.context.get("session_id"))
    if context_id is not None:
        loop.checkpoint.context["session_id"] = context_id
    return context_id


def run_held(loop: VariationalLoop, loop_key: str) -> LoopOutcome:
    """Prepare, reserve, run every evaluation in this process, release what is left; the outcome."""
    loop.prepare()
    loop.reserve(loop_key)
    context = open_session(loop)
    try:
        while (pending := loop.advance()) is not None:  # held only: a pending job is waited on here
            loop.protocol.wait(pending["job_id"])
            loop.complete_pending()
    finally:
        loop.protocol.close_loop()
        if context is not None:
            loop.backend.close_context()
    return loop.outcome()


def trace_rows(evaluations: Sequence[Evaluation]) -> dict[str, list[Any]]:
    """Column lists for the trace table (one row per evaluation; metrics spread into columns)."""
    metric_names = sorted({name for e in evaluations for name in e.metrics if not isinstance(e.metrics[name], str)})
    text_names = sorted({name for e in evaluations for name in e.metrics if isinstance(e.metrics[name], str)})
    columns: dict[str, list[Any]] = {
        "iteration": [e.iteration for e in evaluations],
        "parameters": [list(map(float, e.parameters)) for e in evaluations],
        "value": [e.value for e in evaluations],
        **{name: [float(e.metrics.get(name, math.nan)) for e in evaluations] for name in metric_names},
        **{name: [str(e.metrics.get(name, "")) for e in evaluations] for name in text_names},
        "backend": [e.backend for e in evaluations],
        "mode": [e.mode for e in evaluations],
        "job_id": [e.job_id for e in evaluations],
        "shots": [e.shots for e in evaluations],
        "target_fingerprint": [e.target_fingerprint for e in evaluations],
        "run_id": [e.run_id for e in evaluations],
    }
    return columns


def evaluation_dicts(evaluations: Sequence[Evaluation]) -> list[dict[str, Any]]:
    return [asdict(e) for e in evaluations]


class MemoryCheckpoint:
    """A checkpoint kept in this process only (a loop run from Python without a store)."""

    def __init__(self) -> None:
        self.history: list[Evaluation] = []
        self.pending: dict[str, Any] | None = None
        self.context: dict[str, Any] = {}
        self.writes = 0

    def append(self, record: Evaluation, *, save: bool = True) -> None:
        self.history.append(record)
        if save:
            self.save()

    def save(self) -> None:
        self.writes += 1
