"""A variational quantum classifier as a control loop on any backend, through the one loop engine.

Circuit (``include.quantum.circuits.classifier``): the chosen encoding's feature map, then a
RealAmplitudes ansatz, measured; a bitstring's class is its parity (two classes) or its integer
value modulo C. The loss is the mean cross-entropy over the training split, estimated from
counts exactly as on hardware. The classical baselines it is judged against live in
``include.problems.classifier_baselines``.

``VQCProblem`` is what the engine (``include.quantum.loops.engine``) needs to know of the VQC:
each evaluation is **one job of the whole training split** — one pub of the classifier circuit
with a parameter row per sample (data and weights bound; parametrised encodings), or one pub per
sample's circuit (data-dependent encodings: amplitude, basis). The engine transpiles the circuits
once for the backend's target (transpile cache), preflights once, reserves the loop's budget up
front and settles per job through the submission protocol, and checkpoints every evaluation so a
resumed training replays to the same trace. ``train_vqc`` and ``predict`` run it held in this
process (ideal Aer by default); the Airflow loop operator runs the same loop deferrably.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from qiskit import QuantumCircuit

from include.problems.maxcut import ProblemSpecError
from include.quantum.backends.base import QuantumBackend
from include.quantum.circuits.classifier import ansatz, class_of_bits, classifier_circuit
from include.quantum.circuits.encodings import encode_sample, is_parametrised, n_qubits_for
from include.quantum.loops.engine import Evaluation, LoopOutcome
from include.quantum.loops.optimiser import check_optimiser
from include.quantum.transpile_cache import TranspileCache

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


class VQCProblem:
    """The VQC for the loop engine: θ (the ansatz weights, in its parameters' order) → one job
    holding the whole split — one pub of the classifier circuit with a row per sample (data and
    weights bound; parametrised encodings), or one pub per sample's circuit (data-dependent ones:
    amplitude, basis) — and the cross-entropy of the class read out of each sample's counts."""

    kind = "vqc"
    rhobeg = 0.5

    def __init__(
        self,
        config: VQCConfig,
        x: np.ndarray,
        y: np.ndarray | None = None,
        initial_point: Sequence[float] | None = None,
    ) -> None:
        config.check()
        self.config = config
        self.weights = ansatz(config.n_qubits, config.reps)
        self.x = np.asarray(x, dtype=np.float64)
        self.y = None if y is None else np.asarray(y, dtype=np.int64)
        if self.x.ndim != 2 or len(self.x) == 0:
            raise VQCConfigError(f"the split has shape {self.x.shape}; pass (samples, features) with >= 1 sample")
        self.parametrised = is_parametrised(config.encoding)
        if self.parametrised:
            self.circuits = [classifier_circuit(config.encoding, config.n_features, self.weights)]
        else:
            self.circuits = []
            for row in self.x:
                circuit = encode_sample(config.encoding, row, config.angle_range).compose(self.weights)
                circuit.measure_all()
                self.circuits.append(circuit)
        start = np.asarray(initial_point if initial_point is not None else initial_parameters(config), dtype=float)
        if start.shape != (self.weights.num_parameters,):
            raise VQCConfigError(
                f"initial_point has {start.size} values; the ansatz needs {self.weights.num_parameters}"
            )
        self.start = start
        self._columns: tuple[list[int], list[int]] | None = None

    def _column_map(self, isa: QuantumCircuit) -> tuple[list[int], list[int]]:
        """Where the data (x[i]) and the weights go in the transpiled circuit's parameter order."""
        if self._columns is None:
            # By name: a transpile cache may return the ISA circuit of another build of the same
            # circuit, whose Parameter objects (uuids) are not this build's.
            names = [p.name for p in isa.parameters]
            logical = self.circuits[0]
            x_columns = [names.index(p.name) for p in logical.parameters if p.name.startswith("x[")]
            w_columns = [names.index(p.name) for p in self.weights.parameters if p.name in names]
            self._columns = (x_columns, w_columns)
        return self._columns

    def pubs(self, isa: Sequence[Any], theta: np.ndarray) -> list[Any]:
        from include.quantum.backends.base import SamplerPub

        theta = np.asarray(theta, dtype=float)
        if self.parametrised:
            x_columns, w_columns = self._column_map(isa[0])
            values = np.empty((len(self.x), isa[0].num_parameters))
            values[:, x_columns] = self.x
            values[:, w_columns] = theta
            return [SamplerPub(isa[0], values)]
        names = [p.name for p in self.weights.parameters]
        return [SamplerPub(c, theta[[names.index(p.name) for p in c.parameters]][None, :]) for c in isa]

    def probabilities(self, counts: Sequence[Sequence[Mapping[str, int]]]) -> tuple[np.ndarray, np.ndarray]:
        """(class probabilities (samples, C), counts total per sample) from the job's counts."""
        per_sample = list(counts[0]) if self.parametrised else [sets[0] for sets in counts]
        tallies = np.zeros((len(per_sample), self.config.n_classes))
        for row, sample in enumerate(per_sample):
            for bitstring, count in sample.items():
                bits = np.array([b == "1" for b in reversed(bitstring.replace(" ", ""))])  # bits[i]: qubit i
                tallies[row, int(class_of_bits(bits, self.config.n_classes))] += count
        totals = tallies.sum(axis=1)
        return tallies / np.maximum(totals, 1)[:, None], totals

    def score(self, counts: Sequence[Sequence[Mapping[str, int]]]) -> tuple[float, dict[str, Any]]:
        if self.y is None:
            raise VQCConfigError("this VQCProblem has no labels (a prediction split); it cannot be scored")
        probabilities, _ = self.probabilities(counts)
        accuracy = float((probabilities.argmax(axis=1) == self.y).mean())
        return cross_entropy(probabilities, self.y), {"train_accuracy": accuracy}


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
    evaluations: list[Evaluation] = field(default_factory=list)
    checkpoint_writes: int = 0

    @classmethod
    def from_outcome(cls, outcome: LoopOutcome, config: VQCConfig) -> TrainResult:
        records = [
            TrainRecord(e.iteration, list(e.parameters), e.value, float(e.metrics["train_accuracy"]))
            for e in outcome.evaluations
        ]
        best = outcome.best
        return cls(
            best_parameters=list(best.parameters) if best else [],
            best_loss=best.value if best else math.nan,
            iterations=records,
            transpile_seconds=outcome.transpile_seconds,
            execute_seconds=outcome.execute_seconds,
            transpile_count=outcome.transpile_count,
            n_qubits=config.n_qubits,
            isa_depth=max((c.depth() for c in outcome.isa), default=0),
            evaluations=outcome.evaluations,
            checkpoint_writes=outcome.checkpoint_writes,
        )

    def trace_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "iteration": pd.Series([r.iteration for r in self.iterations], dtype="int64"),
                "parameters": [list(map(float, r.parameters)) for r in self.iterations],
                "loss": pd.Series([r.loss for r in self.iterations], dtype="float64"),
                "train_accuracy": pd.Series([r.train_accuracy for r in self.iterations], dtype="float64"),
                # Where each evaluation ran (a moved loop has several); how (mode, job) is in the manifest.
                "backend": pd.Series([e.backend for e in self.evaluations], dtype="object"),
            }
        )


def cross_entropy(probabilities: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(probabilities[np.arange(len(y)), y] + EPSILON)))


def initial_parameters(config: VQCConfig) -> np.ndarray:
    n = ansatz(config.n_qubits, config.reps).num_parameters
    return np.random.default_rng(config.seed).uniform(-math.pi / 4, math.pi / 4, n)


def _digest(*arrays: np.ndarray) -> str:
    """The data set's version when the caller names none: a hash of the split itself."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _loop(
    problem: VQCProblem,
    config: VQCConfig,
    *,
    backend: QuantumBackend | None,
    protocol: Any,
    checkpoint: Any,
    transpile_cache: TranspileCache | None,
    run: Sequence[Any],
    dataset_version: str,
    max_evaluations: int,
    flush_seconds: float,
    limits: Any,
) -> Any:
    from include.quantum.backends.aer import AerBackend
    from include.quantum.loops.engine import LoopSettings, MemoryCheckpoint, VariationalLoop
    from include.quantum.submission import local_protocol

    if protocol is None:
        protocol = local_protocol(backend if backend is not None else AerBackend(seed=config.seed))
    settings = LoopSettings(config.optimiser, max_evaluations, config.shots, config.seed, flush_seconds=flush_seconds)
    return VariationalLoop(
        problem,
        protocol,
        checkpoint if checkpoint is not None else MemoryCheckpoint(),
        settings,
        run=run,
        dataset_version=dataset_version,
        transpile_cache=transpile_cache,
        limits=limits,
    )


def _split_error(exc: Exception, problem: VQCProblem, config: VQCConfig) -> VQCConfigError:
    n = len(problem.x)
    return VQCConfigError(
        f"one evaluation is one job of the whole split ({n} samples x shots={config.shots} = "
        f"{n * config.shots} shots): {exc}; lower shots or use fewer samples (test_size, max_rows)"
    )


def train_vqc(
    config: VQCConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    *,
    initial_point: Sequence[float] | None = None,
    backend: QuantumBackend | None = None,
    protocol: Any = None,
    checkpoint: Any = None,
    transpile_cache: TranspileCache | None = None,
    run: Sequence[Any] | None = None,
    dataset_version: str = "",
    flush_seconds: float = 2.0,
    limits: Any = None,
) -> TrainResult:
    """Minimise the sampled cross-entropy over the training split, held in this process on
    ``backend`` (ideal Aer by default) through the loop engine: every evaluation is one job of the
    whole split through the submission protocol (the loop's budget reserved up front), the circuits
    transpiled once for the backend's target and preflighted once. A ``checkpoint`` holding
    evaluations resumes the loop (replayed, not re-run) with the remaining budget."""
    from include.governance.budget import BudgetExceeded
    from include.quantum.loops.engine import LoopConfigError, run_held
    from include.quantum.submission import idempotency_key

    problem = VQCProblem(config, x_train, y_train, initial_point)
    version = dataset_version or _digest(problem.x, problem.y if problem.y is not None else np.zeros(0))
    # Without a run, the split names it: another split's jobs are never taken for this one's.
    run = list(run) if run is not None else ["vqc", version, "train", -1]
    loop = _loop(
        problem,
        config,
        backend=backend,
        protocol=protocol,
        checkpoint=checkpoint,
        transpile_cache=transpile_cache,
        run=run,
        dataset_version=version,
        max_evaluations=config.max_iterations,
        flush_seconds=flush_seconds,
        limits=limits,
    )
    try:
        outcome = run_held(loop, idempotency_key("loop", None, config.shots, loop.backend.name, [*run, "loop"]))
    except LoopConfigError as exc:
        raise _split_error(exc, problem, config) if "shots" in str(exc) else VQCConfigError(str(exc)) from exc
    except BudgetExceeded as exc:
        if "per-job" not in str(exc):  # a day's or month's budget, or spent mid-loop: its own message
            raise
        raise _split_error(exc, problem, config) from exc
    return TrainResult.from_outcome(outcome, config)


def predict(
    config: VQCConfig,
    theta: Sequence[float],
    x: np.ndarray,
    *,
    backend: QuantumBackend | None = None,
    protocol: Any = None,
    transpile_cache: TranspileCache | None = None,
    run: Sequence[Any] | None = None,
    limits: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities, counts total per sample) for ``x`` with trained weights ``theta``: one
    job of the whole split on ``backend`` (ideal Aer by default), transpiled and preflighted as the
    loop's are, admitted per job through the submission protocol."""
    from include.quantum.loops.engine import LoopConfigError

    problem = VQCProblem(config, x, None, theta)
    run = list(run) if run is not None else ["vqc", "local", "predict", -1]  # the key names the split too
    loop = _loop(
        problem,
        config,
        backend=backend,
        protocol=protocol,
        checkpoint=None,
        transpile_cache=transpile_cache,
        run=run,
        dataset_version=_digest(problem.x),
        max_evaluations=1,
        flush_seconds=0.0,
        limits=limits,
    )
    try:
        loop.prepare()
    except LoopConfigError as exc:
        raise VQCConfigError(str(exc)) from exc
    raw = loop.sample(problem.start)
    return problem.probabilities(raw.counts)
