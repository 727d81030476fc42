"""The QAOA control loop for MaxCut: sampled energies through the one loop engine.

``QAOAProblem`` is what the engine needs to know of QAOA: the ansatz (``include.quantum.circuits.qaoa``),
one pub per evaluation (the parameter vector bound to the transpiled ansatz), and the energy
estimated from sampled bitstrings exactly as it would be on hardware. ``optimise_qaoa`` runs the
loop held in this process on any backend (ideal Aer by default), through the submission protocol.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from qiskit import QuantumCircuit

from include.problems.maxcut import cut_statistics, maxcut_ising
from include.quantum.backends.base import QuantumBackend
from include.quantum.circuits.qaoa import QAOAConfigError, linear_ramp_point
from include.quantum.loops.engine import Evaluation, LoopConfigError, LoopOutcome
from include.quantum.transpile_cache import TranspileCache


@dataclass
class IterationRecord:
    iteration: int
    parameters: list[float]
    energy: float
    expected_cut: float
    best_sampled_cut: float


@dataclass
class QAOAResult:
    best_parameters: list[float]
    best_energy: float
    best_bitstring: str
    best_cut: float
    expected_cut: float
    iterations: list[IterationRecord] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    transpile_seconds: float = 0.0
    execute_seconds: float = 0.0
    transpile_count: int = 0  # transpilations the cache really ran for this loop (0 when reused)
    circuit: QuantumCircuit | None = None  # the transpiled (ISA) circuit that ran
    checkpoint_writes: int = 0

    def trace_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "iteration": [r.iteration for r in self.iterations],
                "parameters": [list(map(float, r.parameters)) for r in self.iterations],
                "energy": [r.energy for r in self.iterations],
                "expected_cut": [r.expected_cut for r in self.iterations],
                "best_sampled_cut": [r.best_sampled_cut for r in self.iterations],
                # Where each evaluation ran (a moved loop has several); how it ran (held or deferred,
                # the provider job, the run) is execution detail, kept beside the table (evaluations.json).
                "backend": [e.backend for e in self.evaluations],
            }
        )

    @classmethod
    def from_outcome(cls, outcome: LoopOutcome) -> QAOAResult:
        best_so_far = -math.inf
        records = []
        for e in outcome.evaluations:
            best_so_far = max(best_so_far, float(e.metrics["best_cut"]))
            records.append(
                IterationRecord(e.iteration, e.parameters, e.value, float(e.metrics["expected_cut"]), best_so_far)
            )
        best = outcome.best
        sampled = max(outcome.evaluations, key=lambda e: (float(e.metrics["best_cut"]), -e.iteration), default=None)
        return cls(
            best_parameters=list(best.parameters) if best else [],
            best_energy=best.value if best else math.nan,
            best_bitstring=str(sampled.metrics["best_bitstring"]) if sampled else "",
            best_cut=float(sampled.metrics["best_cut"]) if sampled else math.nan,
            expected_cut=float(best.metrics["expected_cut"]) if best else math.nan,
            iterations=records,
            evaluations=outcome.evaluations,
            transpile_seconds=outcome.transpile_seconds,
            execute_seconds=outcome.execute_seconds,
            transpile_count=outcome.transpile_count,
            circuit=outcome.isa[0] if outcome.isa else None,
            checkpoint_writes=outcome.checkpoint_writes,
        )


class CountsObjective:
    """Energy and cut statistics of sampled bitstrings for one MaxCut instance."""

    def __init__(self, edges: pd.DataFrame, n_nodes: int) -> None:
        self.edges = edges
        self.cost, self.offset = maxcut_ising(edges, n_nodes)

    def evaluate(self, counts: dict[str, int]) -> tuple[float, float, str, float]:
        """(energy, expected cut, best bitstring, its cut) from measured counts."""
        stats = cut_statistics(counts, self.edges)
        return self.offset - stats.expected_cut, stats.expected_cut, stats.best_bitstring, stats.best_cut


class QAOAProblem:
    """QAOA MaxCut for the loop engine: θ (in circuit.parameters order, β before γ) → one pub."""

    kind = "qaoa_maxcut"
    rhobeg = 0.25

    def __init__(
        self, ansatz: QuantumCircuit, objective: CountsObjective, initial_point: Sequence[float] | None = None
    ) -> None:
        from include.quantum.loops.qaoa_angles import in_circuit_order

        reps = ansatz.num_parameters // 2
        if initial_point is None:
            initial_point = in_circuit_order(linear_ramp_point(reps), [p.name for p in ansatz.parameters])
        start = np.asarray(initial_point, dtype=float)
        if start.shape != (2 * reps,):
            raise QAOAConfigError(f"initial_point has {start.size} values; QAOA with reps={reps} needs {2 * reps}")
        self.circuits = [ansatz]
        self.start = start
        self.objective = objective

    def pubs(self, isa: Sequence[Any], theta: np.ndarray) -> list[Any]:
        from include.quantum.backends.base import SamplerPub

        return [SamplerPub(isa[0], np.asarray(theta, dtype=float)[None, :])]

    def score(self, counts: Sequence[Sequence[Mapping[str, int]]]) -> tuple[float, dict[str, Any]]:
        energy, expected_cut, bitstring, cut = self.objective.evaluate(dict(counts[0][0]))
        return energy, {"expected_cut": expected_cut, "best_cut": cut, "best_bitstring": bitstring}


def optimise_qaoa(
    ansatz: QuantumCircuit,
    objective: CountsObjective,
    *,
    shots: int,
    optimiser: str = "COBYLA",
    max_iterations: int = 100,
    seed: int = 7,
    initial_point: Sequence[float] | None = None,
    backend: QuantumBackend | None = None,
    transpile_cache: TranspileCache | None = None,
    protocol: Any = None,
    checkpoint: Any = None,
    run: Sequence[Any] = ("qaoa", "local", "optimise", -1),
    flush_seconds: float = 2.0,
) -> QAOAResult:
    """Minimise the sampled QAOA energy of ``ansatz`` on ``backend`` (ideal Aer by default), held in
    this process: every evaluation is one job through the submission protocol, the ansatz is
    transpiled once for the backend's target and only bound after. A ``checkpoint`` holding
    evaluations resumes the loop (replayed, not re-run) with the remaining budget."""
    outcome = run_held_loop(
        QAOAProblem(ansatz, objective, initial_point),
        shots=shots,
        optimiser=optimiser,
        max_iterations=max_iterations,
        seed=seed,
        backend=backend,
        transpile_cache=transpile_cache,
        protocol=protocol,
        checkpoint=checkpoint,
        run=run,
        flush_seconds=flush_seconds,
    )
    return QAOAResult.from_outcome(outcome)


def run_held_loop(
    problem: Any,
    *,
    shots: int,
    optimiser: str = "COBYLA",
    max_iterations: int = 100,
    seed: int = 7,
    backend: QuantumBackend | None = None,
    transpile_cache: TranspileCache | None = None,
    protocol: Any = None,
    checkpoint: Any = None,
    run: Sequence[Any] = ("qaoa", "local", "optimise", -1),
    flush_seconds: float = 2.0,
) -> LoopOutcome:
    """A QAOA problem's loop held in this process (no store, no policy): what ``optimise_qaoa``
    and the portfolio workload's benchmark run."""
    from include.quantum.backends.aer import AerBackend
    from include.quantum.loops.engine import LoopSettings, MemoryCheckpoint, VariationalLoop, run_held
    from include.quantum.submission import idempotency_key, local_protocol

    backend = backend if backend is not None else AerBackend(seed=seed)
    protocol = protocol if protocol is not None else local_protocol(backend)
    settings = LoopSettings(optimiser, max_iterations, shots, seed, flush_seconds=flush_seconds)
    try:
        loop = VariationalLoop(
            problem,
            protocol,
            checkpoint if checkpoint is not None else MemoryCheckpoint(),
            settings,
            run=run,
            dataset_version="",
            transpile_cache=transpile_cache,
        )
        loop_key = idempotency_key("loop", None, shots, backend.name, [*run, "loop"])
        return run_held(loop, loop_key)
    except LoopConfigError as exc:
        raise QAOAConfigError(str(exc)) from exc
