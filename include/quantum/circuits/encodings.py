"""Data encodings as pure circuit builders, a cost model, and a chooser.

Builders (no backends, no storage):
- ``basis``: one qubit per feature; a feature above the middle of the angle range flips it (X).
- ``angle``: one feature per qubit, RY(x_i).
- ``dense_angle``: two features per qubit, RY(x_2i) then RZ(x_2i+1).
- ``amplitude``: the normalised feature vector, zero-padded to a power of two, as the amplitudes
  of ceil(log2 d) qubits (``StatePreparation``). Data-dependent structure: built per sample.
- ``zz``: Qiskit's ZZ feature map (H, P(2x_i), entangling P(2(π-x_i)(π-x_j)) on pairs), 2 reps.
- ``iqp``: H, RZ(x_i), RZZ(x_i x_j) on all pairs, 2 reps (Havlíček et al.'s IQP form).

The parametrised builders use a ``ParameterVector("x", d)`` so one transpiled circuit serves
every sample (bind, never re-transpile). The cost model transpiles each candidate for a target
(AerSimulator by default, or an IBM fake backend such as ``fake_manila``) and reports qubits,
depth and two-qubit gate count; ``choose_encoding`` picks the cheapest admissible one.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector

from include.problems.maxcut import ProblemSpecError

ENCODINGS: tuple[str, ...] = ("basis", "angle", "dense_angle", "amplitude", "zz", "iqp")
CONTINUOUS: tuple[str, ...] = ("angle", "dense_angle", "amplitude", "zz", "iqp")
FEATURE_MAP_REPS = 2
_NAMESPACE = uuid.UUID("0c5f8a52-4f2e-4d0b-8f41-6a9f0d7e1b23")


class EncodingError(ProblemSpecError):
    """An encoding cannot be built or none fits the limits; the message names the fix."""


def n_qubits_for(encoding: str, n_features: int) -> int:
    if n_features < 1:
        raise EncodingError(f"n_features={n_features}: an encoding needs at least one feature")
    if encoding in ("basis", "angle", "zz", "iqp"):
        return n_features
    if encoding == "dense_angle":
        return math.ceil(n_features / 2)
    if encoding == "amplitude":
        return max(1, math.ceil(math.log2(n_features)))
    raise EncodingError(f"encoding={encoding!r} is not one of {ENCODINGS}")


def feature_parameters(n_features: int) -> ParameterVector:
    # A fixed UUID: the same builder call gives equal circuits (a stable transpile-cache key).
    return ParameterVector("x", n_features, uuid=uuid.uuid5(_NAMESPACE, f"x{n_features}"))


def basis_circuit(bits: Sequence[int]) -> QuantumCircuit:
    """|b_0 b_1 ...>: X on every qubit whose bit is 1 (qubit i holds bit i)."""
    if any(b not in (0, 1) for b in bits):
        raise EncodingError(f"basis encoding takes bits 0/1, got {list(bits)}")
    circuit = QuantumCircuit(len(bits), name="basis")
    for i, b in enumerate(bits):
        if b:
            circuit.x(i)
    return circuit


def binarise(x: np.ndarray, angle_range: tuple[float, float]) -> np.ndarray:
    """Basis encoding of continuous features: 1 where the value is above the range's middle."""
    return (np.asarray(x) > (angle_range[0] + angle_range[1]) / 2).astype(int)


def angle_map(n_features: int) -> QuantumCircuit:
    x = feature_parameters(n_features)
    circuit = QuantumCircuit(n_features, name="angle")
    for i in range(n_features):
        circuit.ry(x[i], i)
    return circuit


def dense_angle_map(n_features: int) -> QuantumCircuit:
    x = feature_parameters(n_features)
    circuit = QuantumCircuit(n_qubits_for("dense_angle", n_features), name="dense_angle")
    for i in range(n_features):
        if i % 2 == 0:
            circuit.ry(x[i], i // 2)
        else:
            circuit.rz(x[i], i // 2)
    return circuit


def zz_map(n_features: int, reps: int = FEATURE_MAP_REPS) -> QuantumCircuit:
    from qiskit.circuit.library import zz_feature_map

    x = feature_parameters(n_features)
    template = zz_feature_map(n_features, reps=reps, entanglement="linear")
    circuit = template.assign_parameters(dict(zip(template.parameters, x, strict=True)))
    circuit.name = "zz"
    return circuit


def iqp_map(n_features: int, reps: int = FEATURE_MAP_REPS) -> QuantumCircuit:
    x = feature_parameters(n_features)
    circuit = QuantumCircuit(n_features, name="iqp")
    for _ in range(reps):
        circuit.h(range(n_features))
        for i in range(n_features):
            circuit.rz(x[i], i)
        for i in range(n_features):
            for j in range(i + 1, n_features):
                circuit.rzz(x[i] * x[j], i, j)
    return circuit


def amplitude_vector(x: Sequence[float]) -> np.ndarray:
    """The feature vector zero-padded to a power of two and normalised to unit length."""
    values = np.asarray(x, dtype=np.float64)
    size = 2 ** n_qubits_for("amplitude", len(values))
    padded = np.zeros(size)
    padded[: len(values)] = values
    norm = np.linalg.norm(padded)
    if not np.isfinite(norm) or norm == 0.0:
        raise EncodingError(
            f"amplitude encoding needs a non-zero finite vector, got {values.tolist()}; "
            "shift the angle range away from 0 or use another encoding"
        )
    return padded / norm


def amplitude_circuit(x: Sequence[float]) -> QuantumCircuit:
    from qiskit.circuit.library import StatePreparation

    vector = amplitude_vector(x)
    n = int(math.log2(len(vector)))
    circuit = QuantumCircuit(n, name="amplitude")
    circuit.append(StatePreparation(vector), range(n))
    return circuit


def feature_map(encoding: str, n_features: int) -> QuantumCircuit:
    """The parametrised feature map (parameters ``x[0..d-1]``); not for basis/amplitude, which
    are data-dependent: use ``encode_sample``."""
    builders = {"angle": angle_map, "dense_angle": dense_angle_map, "zz": zz_map, "iqp": iqp_map}
    if encoding not in builders:
        raise EncodingError(f"encoding={encoding!r} has no parametrised feature map; one of {sorted(builders)} does")
    return builders[encoding](n_features)


def is_parametrised(encoding: str) -> bool:
    return encoding in ("angle", "dense_angle", "zz", "iqp")


def encode_sample(
    encoding: str, x: Sequence[float], angle_range: tuple[float, float] = (0.0, math.pi)
) -> QuantumCircuit:
    """One sample's encoding circuit with its values bound."""
    if encoding == "amplitude":
        return amplitude_circuit(x)
    if encoding == "basis":
        return basis_circuit(binarise(np.asarray(x), angle_range).tolist())
    circuit = feature_map(encoding, len(x))
    return circuit.assign_parameters(list(map(float, x)))


# -- the cost model -----------------------------------------------------------------------


@dataclass(frozen=True)
class EncodingCost:
    encoding: str
    n_features: int
    n_qubits: int
    depth: int
    two_qubit_gates: int
    total_gates: int
    target: str
    admissible: bool = True
    reason: str = ""

    def key(self) -> tuple[int, int, int, int]:
        """Cheapest first: two-qubit gates (the noisy, slow ones), then depth, qubits, total gates."""
        return (self.two_qubit_gates, self.depth, self.n_qubits, self.total_gates)


def target_backend(target: str) -> Any:
    """``aer_simulator`` or an IBM fake backend by name (``fake_manila``): the one fake-backend lookup."""
    if target == "aer_simulator":
        from qiskit_aer import AerSimulator

        return AerSimulator()
    from include.quantum.backends.fake import UnknownFakeBackend, fake_backend

    try:
        return fake_backend(target)
    except UnknownFakeBackend as exc:
        raise EncodingError(
            f"target={target!r} is neither 'aer_simulator' nor an IBM fake backend ({exc.hint})"
        ) from exc


def encoding_cost(encoding: str, n_features: int, target: str = "aer_simulator", *, seed: int = 7) -> EncodingCost:
    """Qubits, depth and two-qubit gates of the encoding after transpiling for ``target``.
    Amplitude encoding is costed on a dense random vector (its worst case)."""
    from qiskit import transpile

    n_qubits = n_qubits_for(encoding, n_features)
    rng = np.random.default_rng(seed)
    sample = rng.uniform(0.1, math.pi, n_features).tolist()
    # basis: the worst case, every bit set
    circuit = basis_circuit([1] * n_features) if encoding == "basis" else encode_sample(encoding, sample)
    backend = target_backend(target)
    if backend.num_qubits is not None and n_qubits > backend.num_qubits:
        return EncodingCost(
            encoding,
            n_features,
            n_qubits,
            0,
            0,
            0,
            target,
            False,
            f"{target} has {backend.num_qubits} qubits",
        )
    compiled = transpile(circuit, backend=backend, optimization_level=1, seed_transpiler=seed)
    two_qubit = sum(1 for inst in compiled.data if inst.operation.num_qubits == 2)
    gates = sum(1 for inst in compiled.data if inst.operation.name not in ("barrier", "measure"))
    return EncodingCost(encoding, n_features, n_qubits, compiled.depth(), two_qubit, gates, target)


def choose_encoding(
    n_features: int,
    *,
    max_qubits: int,
    max_depth: int,
    target: str = "aer_simulator",
    candidates: Sequence[str] = CONTINUOUS,
    seed: int = 7,
) -> tuple[EncodingCost, list[EncodingCost]]:
    """The cheapest candidate within ``max_qubits`` and ``max_depth`` (and every candidate's
    figures, for the manifest). Raises ``EncodingError`` listing each candidate when none fits."""
    costs = []
    for name in candidates:
        cost = encoding_cost(name, n_features, target, seed=seed)
        reasons = [cost.reason] if cost.reason else []
        if cost.n_qubits > max_qubits:
            reasons.append(f"needs {cost.n_qubits} qubits > max_qubits={max_qubits}")
        if cost.depth > max_depth:
            reasons.append(f"depth {cost.depth} > max_depth={max_depth}")
        costs.append(EncodingCost(**{**asdict(cost), "admissible": not reasons, "reason": "; ".join(reasons)}))
    admissible = sorted((c for c in costs if c.admissible), key=lambda c: (c.key(), c.encoding))
    if not admissible:
        listing = "; ".join(f"{c.encoding}: {c.reason}" for c in costs)
        fitting = [c for c in costs if c.n_qubits <= max_qubits and not c.reason.startswith(target)]
        if fitting:
            fix = f"raise max_depth to >= {min(c.depth for c in fitting)}"
        else:
            fix = f"raise max_qubits to >= {min(c.n_qubits for c in costs)}"
        raise EncodingError(
            f"no encoding of {n_features} features fits max_qubits={max_qubits}, max_depth={max_depth} on "
            f"{target} ({listing}). To fix: {fix}, or keep fewer features (features_kept)."
        )
    return admissible[0], costs
