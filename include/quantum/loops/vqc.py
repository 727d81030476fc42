"""A variational quantum classifier as a control loop on Aer.

Circuit (``include.quantum.circuits.classifier``): the chosen encoding's feature map, then a
RealAmplitudes ansatz, measured; a bitstring's class is its parity (two classes) or its integer
value modulo C. The loss is the mean cross-entropy over the training split, estimated from
counts exactly as on hardware (Aer ``SamplerV2``, seeded). The classical baselines it is judged
against live in ``include.problems.classifier_baselines``.

Parametrised encodings are transpiled once (one ISA circuit for every sample, data and weights
bound per evaluation); data-dependent ones (amplitude, basis) are transpiled once per sample
before the loop. Either way, nothing is re-transpiled inside the loop. ``on_iteration``
persists each iteration's parameters and loss; ``previous`` and ``initial_point`` resume a
killed loop with only the remaining iteration budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from qiskit import QuantumCircuit, transpile

from include.problems.maxcut import ProblemSpecError
from include.quantum.circuits.classifier import ansatz, class_of_bits, classifier_circuit
from include.quantum.circuits.encodings import encode_sample, is_parametrised, n_qubits_for
from include.quantum.loops.optimiser import check_optimiser, minimise_within_budget

EPSILON = 1e-6


class VQCConfigError(ProblemSpecError):
    """A classifier setting is out of range; the message names the field and the fix."""


@dataclass(frozen=True)
class VQCConfig:
    encoding: str
    n_features: int
    n_classes: int
    reps: int = 1
    shots: int = 512
    optimiser: str = "COBYLA"
    max_iterations: int = 40
    seed: int = 7
    angle_range: tuple[float, float] = (0.0, math.pi)

    def check(self) -> None:
        if self.reps < 1:
            raise VQCConfigError(f"ansatz_reps={self.reps}: set ansatz_reps >= 1")
        if self.shots < 1:
            raise VQCConfigError(f"shots={self.shots}: set shots >= 1")
        if (problem := check_optimiser(self.optimiser)) is not None:
            raise VQCConfigError(problem)
        if self.max_iterations < 1:
            raise VQCConfigError(f"max_iterations={self.max_iterations}: set max_iterations >= 1")
        if self.n_classes < 2:
            raise VQCConfigError(f"n_classes={self.n_classes}: a classifier needs >= 2 classes")
        if self.n_classes > 2**self.n_qubits:
            raise VQCConfigError(
                f"{self.n_classes} classes cannot be read out of {self.n_qubits} qubit(s); "
                "keep more features or pick an encoding with more qubits"
            )

    @property
    def n_qubits(self) -> int:
        return n_qubits_for(self.encoding, self.n_features)


class VQCCircuits:
    """The classifier's circuits for one data split, transpiled once for the simulator."""

    def __init__(self, config: VQCConfig, x: np.ndarray, simulator: Any) -> None:
        self.config = config
        self.weights = ansatz(config.n_qubits, config.reps)
        self.x = np.asarray(x, dtype=np.float64)
        started = time.perf_counter()
        if is_parametrised(config.encoding):
            circuit = classifier_circuit(config.encoding, config.n_features, self.weights)
            self.isa = [transpile(circuit, backend=simulator, optimization_level=1, seed_transpiler=config.seed)]
            params = list(self.isa[0].parameters)
            self.x_columns = [params.index(p) for p in circuit.parameters if p.name.startswith("x[")]
            self.w_columns = [params.index(p) for p in self.weights.parameters]
        else:
            circuits = []
            for row in self.x:
                circuit = encode_sample(config.encoding, row, config.angle_range).compose(self.weights)
                circuit.measure_all()
                circuits.append(circuit)
            self.isa = transpile(circuits, backend=simulator, optimization_level=1, seed_transpiler=config.seed)
        self.transpile_seconds = time.perf_counter() - started
        self.transpile_count = len(self.isa)

    def pubs(self, theta: np.ndarray) -> list[tuple[QuantumCircuit, np.ndarray]]:
        if is_parametrised(self.config.encoding):
            values = np.empty((len(self.x), self.isa[0].num_parameters))
            values[:, self.x_columns] = self.x
            values[:, self.w_columns] = theta
            return [(self.isa[0], values)]
        order = [list(c.parameters) for c in self.isa]
        index = [[p.name for p in self.weights.parameters].index(p.name) for p in order[0]]
        return [(c, np.asarray(theta)[index]) for c in self.isa]

    def probabilities(self, sampler: Any, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(class probabilities (n, C), counts total per sample (n,)) from one sampler job."""
        result = sampler.run(self.pubs(theta), shots=self.config.shots).result()
        if is_parametrised(self.config.encoding):
            bits = result[0].data.meas.to_bool_array(order="little")  # (n, shots, qubits)
        else:
            bits = np.stack([r.data.meas.to_bool_array(order="little") for r in result])
        classes = class_of_bits(bits, self.config.n_classes)  # (n, shots)
        counts = np.stack([(classes == c).sum(axis=1) for c in range(self.config.n_classes)], axis=1)
        totals = counts.sum(axis=1)
        return counts / totals[:, None], totals


@dataclass
class TrainRecord:
    iteration: int
    parameters: list[float]
    loss: float
    train_accuracy: float


@dataclass
class TrainResult:
    best_parameters: list[float]
    best_loss: float
    iterations: list[TrainRecord] = field(default_factory=list)
    transpile_seconds: float = 0.0
    execute_seconds: float = 0.0
    transpile_count: int = 0
    n_qubits: int = 0
    isa_depth: int = 0

    def trace_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "iteration": pd.Series([r.iteration for r in self.iterations], dtype="int64"),
                "parameters": [list(map(float, r.parameters)) for r in self.iterations],
                "loss": pd.Series([r.loss for r in self.iterations], dtype="float64"),
                "train_accuracy": pd.Series([r.train_accuracy for r in self.iterations], dtype="float64"),
            }
        )


def cross_entropy(probabilities: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(probabilities[np.arange(len(y)), y] + EPSILON)))


def initial_parameters(config: VQCConfig) -> np.ndarray:
    n = ansatz(config.n_qubits, config.reps).num_parameters
    return np.random.default_rng(config.seed).uniform(-math.pi / 4, math.pi / 4, n)


def simulator_and_sampler(config: VQCConfig) -> tuple[Any, Any]:
    from qiskit_aer import AerSimulator
    from qiskit_aer.primitives import SamplerV2

    return AerSimulator(seed_simulator=config.seed), SamplerV2(default_shots=config.shots, seed=config.seed)


def train_vqc(
    config: VQCConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    *,
    initial_point: Sequence[float] | None = None,
    previous: Sequence[TrainRecord] = (),
    on_iteration: Callable[[TrainRecord], None] | None = None,
) -> TrainResult:
    """Minimise the sampled cross-entropy over the training split."""

    config.check()
    simulator, sampler = simulator_and_sampler(config)
    circuits = VQCCircuits(config, x_train, simulator)
    y = np.asarray(y_train, dtype=np.int64)
    history: list[TrainRecord] = list(previous)
    execute_seconds = 0.0

    def loss(theta: np.ndarray) -> float:
        nonlocal execute_seconds
        t0 = time.perf_counter()
        probabilities, _ = circuits.probabilities(sampler, theta)
        execute_seconds += time.perf_counter() - t0
        value = cross_entropy(probabilities, y)
        accuracy = float((probabilities.argmax(axis=1) == y).mean())
        record = TrainRecord(len(history), [float(t) for t in theta], value, accuracy)
        history.append(record)
        if on_iteration is not None:
            on_iteration(record)
        return value

    start = np.asarray(initial_point if initial_point is not None else initial_parameters(config), dtype=float)
    expected = circuits.weights.num_parameters
    if start.shape != (expected,):
        raise VQCConfigError(f"initial_point has {start.size} values; the ansatz needs {expected}")
    minimise_within_budget(
        loss, start, method=config.optimiser, budget=config.max_iterations, spent=lambda: len(history), rhobeg=0.5
    )
    best = min(history, key=lambda r: (r.loss, r.iteration)) if history else None
    return TrainResult(
        best_parameters=list(best.parameters) if best else [float(t) for t in start],
        best_loss=best.loss if best else float("nan"),
        iterations=history,
        transpile_seconds=circuits.transpile_seconds,
        execute_seconds=execute_seconds,
        transpile_count=circuits.transpile_count,
        n_qubits=config.n_qubits,
        isa_depth=max(c.depth() for c in circuits.isa),
    )


def predict(config: VQCConfig, theta: Sequence[float], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities, counts total per sample) for ``x`` with trained weights ``theta``."""
    simulator, sampler = simulator_and_sampler(config)
    circuits = VQCCircuits(config, x, simulator)
    return circuits.probabilities(sampler, np.asarray(theta, dtype=float))
