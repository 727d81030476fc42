"""The variational classifier's circuit: an encoding's feature map, then a RealAmplitudes ansatz
(RY layers, linear CX entanglement), measured; and how a measured bitstring maps to a class.
Pure builders: nothing here knows of backends, shots or budgets."""

from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit

from include.quantum.circuits.encodings import feature_map


def ansatz(n_qubits: int, reps: int) -> QuantumCircuit:
    from qiskit.circuit.library import real_amplitudes

    return real_amplitudes(n_qubits, reps=reps, entanglement="linear")


def class_of_bits(bits: np.ndarray, n_classes: int) -> np.ndarray:
    """bits[..., i] is qubit i. Two classes: parity; else the integer value modulo C."""
    if n_classes == 2:
        return bits.sum(axis=-1) % 2
    weights = 1 << np.arange(bits.shape[-1])
    return (bits.astype(np.int64) @ weights) % n_classes


def classifier_circuit(encoding: str, n_features: int, weights: QuantumCircuit) -> QuantumCircuit:
    """A parametrised encoding's feature map (data parameters ``x[i]``) composed with ``weights``, measured."""
    circuit = feature_map(encoding, n_features).compose(weights)
    circuit.measure_all()
    return circuit
