"""The QAOA builder's mixers: the XY ring mixer keeps the Hamming weight, the X mixer does not."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector

from include.quantum.circuits.qaoa import QAOAConfigError, qaoa_ansatz, xy_ring_pairs

COST = SparsePauliOp.from_sparse_list(
    [("ZZ", [0, 1], 0.5), ("Z", [2], 0.3), ("ZZ", [3, 4], -0.2), ("ZZ", [1, 5], 0.7)], num_qubits=6
)


def weights_with_support(circuit: QuantumCircuit, theta: np.ndarray) -> set[int]:
    probabilities = Statevector(circuit.assign_parameters(theta)).probabilities_dict()
    return {key.count("1") for key, p in probabilities.items() if p > 1e-12}


@pytest.mark.parametrize("reps", [1, 2, 3])
def test_the_xy_mixer_never_leaves_the_k_hot_subspace(reps: int) -> None:
    circuit = qaoa_ansatz(COST, reps, measure=False, mixer="xy", hamming_weight=2)
    rng = np.random.default_rng(reps)
    for _ in range(5):
        theta = rng.uniform(-np.pi, np.pi, 2 * reps)
        assert weights_with_support(circuit, theta) == {2}
    # ...while it does move amplitude: more than one 2-hot state is reached
    probabilities = Statevector(circuit.assign_parameters(rng.uniform(-1, 1, 2 * reps))).probabilities_dict()
    assert sum(p > 1e-6 for p in probabilities.values()) > 1


def test_the_x_mixer_spreads_over_every_weight() -> None:
    circuit = qaoa_ansatz(COST, 1, measure=False)
    assert weights_with_support(circuit, np.array([0.4, 0.3])) == set(range(7))


def test_ring_pairs_and_bad_settings() -> None:
    assert xy_ring_pairs(5) == [(0, 1), (2, 3), (1, 2), (3, 4), (4, 0)]
    assert xy_ring_pairs(2) == [(0, 1)]
    with pytest.raises(QAOAConfigError, match="mixer='yz'"):
        qaoa_ansatz(COST, 1, mixer="yz")
    with pytest.raises(QAOAConfigError, match="hamming_weight=6"):
        qaoa_ansatz(COST, 1, mixer="xy", hamming_weight=6)
    # the same call gives the same circuit (a stable transpile-cache key)
    assert qaoa_ansatz(COST, 2, mixer="xy", hamming_weight=3) == qaoa_ansatz(COST, 2, mixer="xy", hamming_weight=3)
