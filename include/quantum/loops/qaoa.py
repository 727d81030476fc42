"""QAOA for Ising costs: a pure ansatz builder and a sampler-based control loop on Aer.

The builder knows nothing of backends or retries. The optimiser transpiles the ansatz once and
binds parameters on every iteration (never re-transpiles), estimating the energy from sampled
bitstrings exactly as it would on hardware.
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp

from include.problems.maxcut import bitstring_to_bits, cut_values, maxcut_ising
from include.quantum.backends.base import QuantumBackend

OPTIMISERS: tuple[str, ...] = ("COBYLA", "Nelder-Mead", "Powell")
_PARAMETER_NAMESPACE = uuid.UUID("5d0b3c1e-6a8e-4a8f-9b7e-0f1a2b3c4d5e")


class _BudgetSpent(Exception):
    """Raised inside the objective when the evaluation budget is used up."""


class QAOAConfigError(ValueError):
    """A QAOA setting is out of range; the message names the field and the fix."""


def qaoa_ansatz(cost: SparsePauliOp, reps: int, *, measure: bool = True) -> QuantumCircuit:
    """The p-layer QAOA circuit for a Z/ZZ cost: |+>^n, then p x (exp(-i γ H) mixer(β)).

    The parameters are named ``γ[i]`` and ``β[i]``. ``circuit.parameters`` (the order positional
    binding uses) sorts by name, so it is β[0..p-1] then γ[0..p-1]; angles kept as γs then βs
    (``include.quantum.loops.qaoa_angles``) go through ``in_circuit_order`` before binding.
    """
    if reps < 1:
        raise QAOAConfigError(f"reps={reps}: QAOA needs at least one layer; set reps >= 1")
    n = cost.num_qubits
    # Fixed UUIDs: the same builder call gives the same parameters, so the circuit (and its QPY)
    # is reproducible byte for byte and equal across calls (a stable transpile-cache key).
    gammas = ParameterVector("γ", reps, uuid=uuid.uuid5(_PARAMETER_NAMESPACE, "qaoa.gamma"))
    betas = ParameterVector("β", reps, uuid=uuid.uuid5(_PARAMETER_NAMESPACE, "qaoa.beta"))
    circuit = QuantumCircuit(n, name=f"qaoa_p{reps}")
    circuit.h(range(n))
    for layer in range(reps):
        for label, coeff in zip(cost.paulis.to_labels(), cost.coeffs, strict=True):
            qubits = [n - 1 - i for i, ch in enumerate(label) if ch == "Z"]
            if any(ch not in "IZ" for ch in label):
                raise QAOAConfigError(f"cost term {label} is not diagonal; the QAOA builder takes Z/ZZ terms")
            weight = float(np.real(coeff))
            if len(qubits) == 2:
                circuit.rzz(2.0 * weight * gammas[layer], qubits[0], qubits[1])
            elif len(qubits) == 1:
                circuit.rz(2.0 * weight * gammas[layer], qubits[0])
            elif len(qubits) > 2:
                raise QAOAConfigError(f"cost term {label} acts on {len(qubits)} qubits; at most 2 supported")
        circuit.rx(2.0 * betas[layer], range(n))
    if measure:
        circuit.measure_all()
    return circuit


def linear_ramp_point(reps: int, dt: float = 0.75) -> np.ndarray:
    """Annealing-inspired start, γs then βs: |γ| ramps up, |β| ramps down (a well-known good QAOA
    initialisation). In this circuit's convention (RZZ(2wγ), RX(2β)) the annealing path has
    β < 0, so the βs are negative; with positive βs the ramp runs the path backwards."""
    fractions = (np.arange(reps) + 0.5) / reps
    return np.concatenate([fractions * dt, -(1.0 - fractions) * dt])


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
    transpile_count: int = 0
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
        keys = sorted(counts)
        bits = np.array([bitstring_to_bits(k) for k in keys])
        weights = np.array([counts[k] for k in keys], dtype=np.float64)
        cuts = cut_values(bits, self.edges)
        expected_cut = float(cuts @ weights / weights.sum())
        best = int(np.argmax(cuts))
        return self.offset - expected_cut, expected_cut, keys[best], float(cuts[best])


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
) -> QAOAResult:
    """Minimise the sampled QAOA energy of ``ansatz`` on ``backend`` (ideal Aer by default);
    ``on_iteration`` persists the loop's state. Every evaluation is one job through the backend
    interface: the ansatz is transpiled once for the backend's target and only bound after.

    ``previous`` and ``initial_point`` resume an interrupted loop: iteration numbers continue
    and only the remaining budget of ``max_iterations`` is spent.
    """
    from scipy.optimize import minimize

    from include.quantum.backends.aer import AerBackend
    from include.quantum.backends.base import SamplerJob, SamplerPub
    from include.quantum.backends.execute import run_to_completion

    reps = ansatz.num_parameters // 2
    if optimiser not in OPTIMISERS:
        raise QAOAConfigError(f"optimiser={optimiser!r} is not one of {OPTIMISERS}")
    if shots < 1:
        raise QAOAConfigError(f"shots={shots}: set shots >= 1")
    if max_iterations < 1:
        raise QAOAConfigError(f"max_iterations={max_iterations}: set max_iterations >= 1")
    backend = backend if backend is not None else AerBackend(seed=seed)
    started = time.perf_counter()
    isa_circuit = transpile(ansatz, target=backend.target(), optimization_level=1, seed_transpiler=seed)
    transpile_seconds = time.perf_counter() - started

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
        if len(history) >= max_iterations:
            raise _BudgetSpent  # SciPy's COBYLA raises a too-small maxiter to n+2; the budget holds
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
    remaining = max_iterations - len(previous)
    if remaining > 0:
        options: dict[str, float | int] = (
            {"maxiter": remaining, "rhobeg": 0.25} if optimiser == "COBYLA" else {"maxfev": remaining}
        )
        with contextlib.suppress(_BudgetSpent), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # COBYLA's "maxiter < n+2" notice
            minimize(energy, start, method=optimiser, options=options)
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
        transpile_count=1,
        circuit=isa_circuit,
    )
