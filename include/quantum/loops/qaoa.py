"""The QAOA control loop for MaxCut: sampled energies through the backend interface.

The ansatz (``include.quantum.circuits.qaoa``) is transpiled once for the backend's target —
through the transpile cache, which counts the transpilations it really performs — and only bound
after; the energy is estimated from sampled bitstrings exactly as it would be on hardware.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from qiskit import QuantumCircuit

from include.problems.maxcut import cut_statistics, maxcut_ising
from include.quantum.backends.base import QuantumBackend
from include.quantum.circuits.qaoa import QAOAConfigError, linear_ramp_point
from include.quantum.loops.optimiser import check_optimiser, minimise_within_budget
from include.quantum.transpile_cache import TranspileCache, TranspileSettings


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
    transpile_seconds: float = 0.0
    execute_seconds: float = 0.0
    transpile_count: int = 0  # transpilations the cache really ran for this loop (0 when reused)
    circuit: QuantumCircuit | None = None  # the transpiled (ISA) circuit that ran

    def trace_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "iteration": [r.iteration for r in self.iterations],
                "parameters": [list(map(float, r.parameters)) for r in self.iterations],
                "energy": [r.energy for r in self.iterations],
                "expected_cut": [r.expected_cut for r in self.iterations],
                "best_sampled_cut": [r.best_sampled_cut for r in self.iterations],
            }
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


def optimise_qaoa(
    ansatz: QuantumCircuit,
    objective: CountsObjective,
    *,
    shots: int,
    optimiser: str = "COBYLA",
    max_iterations: int = 100,
    seed: int = 7,
    initial_point: Sequence[float] | None = None,
    previous: Sequence[IterationRecord] = (),
    on_iteration: Callable[[IterationRecord], None] | None = None,
    backend: QuantumBackend | None = None,
    job_key: str = "qaoa",
    transpile_cache: TranspileCache | None = None,
) -> QAOAResult:
    """Minimise the sampled QAOA energy of ``ansatz`` on ``backend`` (ideal Aer by default);
    ``on_iteration`` persists the loop's state. Every evaluation is one job through the backend
    interface: the ansatz is transpiled once for the backend's target and only bound after.

    ``previous`` and ``initial_point`` resume an interrupted loop: iteration numbers continue
    and only the remaining budget of ``max_iterations`` is spent.
    """
    from include.quantum.backends.aer import AerBackend
    from include.quantum.backends.base import SamplerJob, SamplerPub
    from include.quantum.backends.execute import run_to_completion

    reps = ansatz.num_parameters // 2
    if (problem := check_optimiser(optimiser)) is not None:
        raise QAOAConfigError(problem)
    if shots < 1:
        raise QAOAConfigError(f"shots={shots}: set shots >= 1")
    if max_iterations < 1:
        raise QAOAConfigError(f"max_iterations={max_iterations}: set max_iterations >= 1")
    backend = backend if backend is not None else AerBackend(seed=seed)
    cache = transpile_cache if transpile_cache is not None else TranspileCache()
    transpiled_before = cache.hits["miss"]
    isa_circuit, _, transpile_seconds = cache.get_or_transpile(
        ansatz, backend.target(), backend.calibration_snapshot(), TranspileSettings(seed_transpiler=seed)
    )

    history: list[IterationRecord] = list(previous)
    execute_seconds = 0.0

    def sample(theta: np.ndarray) -> dict[str, int]:
        nonlocal execute_seconds
        t0 = time.perf_counter()
        # The key names this exact piece of work: a resubmission after a crash finds the same job.
        key = f"{job_key}:{len(history)}:{np.round(theta, 12).tolist()}"
        raw = run_to_completion(backend, SamplerJob([SamplerPub(isa_circuit, theta[None, :])], shots, key))
        execute_seconds += time.perf_counter() - t0
        return dict(raw.counts[0][0])

    best_so_far = max((r.best_sampled_cut for r in history), default=-math.inf)

    def energy(theta: np.ndarray) -> float:
        nonlocal best_so_far
        value, expected_cut, _, sampled_best = objective.evaluate(sample(theta))
        best_so_far = max(best_so_far, sampled_best)
        record = IterationRecord(len(history), [float(t) for t in theta], value, expected_cut, best_so_far)
        history.append(record)
        if on_iteration is not None:
            on_iteration(record)
        return value

    if initial_point is None:  # θ is in circuit.parameters order (β before γ), as the backend binds it
        from include.quantum.loops.qaoa_angles import in_circuit_order

        initial_point = in_circuit_order(linear_ramp_point(reps), [p.name for p in ansatz.parameters])
    start = np.asarray(initial_point, dtype=float)
    if start.shape != (2 * reps,):
        raise QAOAConfigError(f"initial_point has {start.size} values; QAOA with reps={reps} needs {2 * reps}")
    minimise_within_budget(
        energy, start, method=optimiser, budget=max_iterations, spent=lambda: len(history), rhobeg=0.25
    )
    best_record = min(history, key=lambda r: r.energy) if history else None
    best_theta = np.asarray(best_record.parameters if best_record else start)
    final_energy, expected_cut, bitstring, cut = objective.evaluate(sample(np.asarray(best_theta, dtype=float)))
    return QAOAResult(
        best_parameters=[float(t) for t in best_theta],
        best_energy=final_energy,
        best_bitstring=bitstring,
        best_cut=cut,
        expected_cut=expected_cut,
        iterations=history,
        transpile_seconds=transpile_seconds,
        execute_seconds=execute_seconds,
        transpile_count=cache.hits["miss"] - transpiled_before,
        circuit=isa_circuit,
    )
