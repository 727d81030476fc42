"""The QAOA ansatz for Ising costs: a pure circuit builder (and the standard start point).

It knows nothing of backends, queues, retries or budgets: cost operator + reps -> circuit.
"""

from __future__ import annotations

import uuid

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.circuit.library import XXPlusYYGate
from qiskit.quantum_info import SparsePauliOp

_PARAMETER_NAMESPACE = uuid.UUID("5d0b3c1e-6a8e-4a8f-9b7e-0f1a2b3c4d5e")


class QAOAConfigError(ValueError):
    """A QAOA setting is out of range; the message names the field and the fix."""


MIXERS: tuple[str, ...] = ("x", "xy")


def qaoa_ansatz(
    cost: SparsePauliOp, reps: int, *, measure: bool = True, mixer: str = "x", hamming_weight: int = 0
) -> QuantumCircuit:
    """The p-layer QAOA circuit for a Z/ZZ cost: |+>^n, then p x (exp(-i γ H) mixer(β)).

    ``mixer="x"``: RX(2β) on every qubit (the transverse field). ``mixer="xy"``: the
    constraint-preserving XY ring mixer (exp(-iβ(XX+YY)/2) on each neighbouring pair, even pairs
    then odd pairs then the closing pair) from the basis state with ``hamming_weight`` ones on the
    first qubits instead of |+>^n: it never changes the number of ones, so every sample keeps it
    (a K-of-N selection stays feasible). From a basis state the first cost layer is only a global
    phase; the mixers after it carry the search.

    The parameters are named ``γ[i]`` and ``β[i]``. ``circuit.parameters`` (the order positional
    binding uses) sorts by name, so it is β[0..p-1] then γ[0..p-1]; angles kept as γs then βs
    (``include.quantum.loops.qaoa_angles``) go through ``in_circuit_order`` before binding.
    """
    if reps < 1:
        raise QAOAConfigError(f"reps={reps}: QAOA needs at least one layer; set reps >= 1")
    if mixer not in MIXERS:
        raise QAOAConfigError(f"mixer={mixer!r} is not one of {MIXERS}")
    n = cost.num_qubits
    if mixer == "xy" and not (1 <= hamming_weight < n and n >= 2):
        raise QAOAConfigError(
            f"hamming_weight={hamming_weight}: the XY mixer needs 1 <= ones < n_qubits={n} "
            "(it moves ones between qubits)"
        )
    # Fixed UUIDs: the same builder call gives the same parameters, so the circuit (and its QPY)
    # is reproducible byte for byte and equal across calls (a stable transpile-cache key).
    gammas = ParameterVector("γ", reps, uuid=uuid.uuid5(_PARAMETER_NAMESPACE, "qaoa.gamma"))
    betas = ParameterVector("β", reps, uuid=uuid.uuid5(_PARAMETER_NAMESPACE, "qaoa.beta"))
    circuit = QuantumCircuit(n, name=f"qaoa_p{reps}" if mixer == "x" else f"qaoa_xy_p{reps}")
    if mixer == "x":
        circuit.h(range(n))
    else:
        circuit.x(range(hamming_weight))
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
        if mixer == "x":
            circuit.rx(2.0 * betas[layer], range(n))
        else:
            for a, b in xy_ring_pairs(n):
                circuit.append(XXPlusYYGate(2.0 * betas[layer]), [a, b])
    if measure:
        circuit.measure_all()
    return circuit


def xy_ring_pairs(n: int) -> list[tuple[int, int]]:
    """The ring's neighbouring pairs, even pairs first, then odd, then the closing pair (n > 2)."""
    pairs = [(i, i + 1) for i in range(0, n - 1, 2)] + [(i, i + 1) for i in range(1, n - 1, 2)]
    return pairs + ([(n - 1, 0)] if n > 2 else [])


def linear_ramp_point(reps: int, dt: float = 0.75) -> np.ndarray:
    """Annealing-inspired start, γs then βs: |γ| ramps up, |β| ramps down (a well-known good QAOA
    initialisation). In this circuit's convention (RZZ(2wγ), RX(2β)) the annealing path has
    β < 0, so the βs are negative; with positive βs the ramp runs the path backwards."""
    fractions = (np.arange(reps) + 0.5) / reps
    return np.concatenate([fractions * dt, -(1.0 - fractions) * dt])
