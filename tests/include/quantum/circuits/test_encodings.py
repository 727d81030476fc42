"""Encodings: analytic statevectors, amplitude fidelity, the cost model and the chooser."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit.quantum_info import Statevector

from include.quantum.circuits.encodings import (
    EncodingError,
    amplitude_circuit,
    amplitude_vector,
    basis_circuit,
    choose_encoding,
    encode_sample,
    encoding_cost,
    feature_map,
    n_qubits_for,
)


def product_state(single_qubit_states: list[np.ndarray]) -> np.ndarray:
    state = np.array([1.0 + 0j])
    for qubit in single_qubit_states:  # qubit i is bit i: later qubits are more significant
        state = np.kron(qubit, state)
    return state


def test_angle_encoding_is_the_analytic_product_state() -> None:
    x = [0.1, 1.3, 2.9, math.pi]
    expected = product_state([np.array([math.cos(v / 2), math.sin(v / 2)]) for v in x])
    assert np.allclose(Statevector(encode_sample("angle", x)).data, expected, atol=1e-12)


def test_dense_angle_encodes_two_features_per_qubit() -> None:
    x = [0.4, 0.7, 2.0, 1.1, 0.3]
    states = []
    for i in range(0, len(x), 2):
        ry = np.array([math.cos(x[i] / 2), math.sin(x[i] / 2)], dtype=complex)
        if i + 1 < len(x):  # RZ(φ) = diag(e^{-iφ/2}, e^{iφ/2})
            ry = ry * np.array([np.exp(-1j * x[i + 1] / 2), np.exp(1j * x[i + 1] / 2)])
        states.append(ry)
    circuit = encode_sample("dense_angle", x)
    assert circuit.num_qubits == 3
    assert np.allclose(Statevector(circuit).data, product_state(states), atol=1e-12)


@pytest.mark.parametrize("x", [[0.3, 1.2, 2.5], [1.0, 2.0, 3.0, 4.0, 5.0], [0.5, 0.25]])
def test_amplitude_encoding_reproduces_the_normalised_padded_vector(x: list[float]) -> None:
    vector = amplitude_vector(x)
    assert len(vector) == 2 ** n_qubits_for("amplitude", len(x)) and abs(np.linalg.norm(vector) - 1) < 1e-12
    assert np.allclose(vector[: len(x)], np.asarray(x) / np.linalg.norm(x), atol=1e-12)
    state = Statevector(amplitude_circuit(x)).data
    assert np.max(np.abs(state - vector)) < 1e-9


def test_amplitude_refuses_a_zero_vector_and_basis_takes_bits() -> None:
    with pytest.raises(EncodingError, match="non-zero finite vector"):
        amplitude_vector([0.0, 0.0])
    assert Statevector(basis_circuit([1, 0, 1])).probabilities_dict() == {"101": 1.0}
    with pytest.raises(EncodingError, match="bits 0/1"):
        basis_circuit([2])


def test_feature_maps_are_parametrised_by_x_and_reproducible() -> None:
    for name in ("angle", "dense_angle", "zz", "iqp"):
        circuit = feature_map(name, 4)
        assert [p.name for p in circuit.parameters] == [f"x[{i}]" for i in range(4)], name
        assert circuit == feature_map(name, 4)


def test_cost_model_counts_qubits_depth_and_two_qubit_gates() -> None:
    angle = encoding_cost("angle", 4)
    assert (angle.n_qubits, angle.two_qubit_gates, angle.depth) == (4, 0, 1)
    dense = encoding_cost("dense_angle", 4)
    assert dense.n_qubits == 2 and dense.two_qubit_gates == 0
    iqp = encoding_cost("iqp", 4)
    assert iqp.two_qubit_gates > 0 and iqp.depth > angle.depth
    amplitude = encoding_cost("amplitude", 8)
    assert amplitude.n_qubits == 3 and amplitude.two_qubit_gates > 0
    fake = encoding_cost("zz", 4, target="fake_manila")
    assert fake.target == "fake_manila" and fake.two_qubit_gates >= encoding_cost("zz", 4).two_qubit_gates
    with pytest.raises(EncodingError, match="target='ibm_nowhere'"):
        encoding_cost("angle", 2, target="ibm_nowhere")


def test_chooser_picks_the_cheapest_admissible_and_reports_every_candidate() -> None:
    chosen, costs = choose_encoding(4, max_qubits=8, max_depth=100)
    assert {c.encoding for c in costs} == {"angle", "dense_angle", "amplitude", "zz", "iqp"}
    admissible = [c for c in costs if c.admissible]
    assert chosen.key() == min(c.key() for c in admissible)
    chosen, _ = choose_encoding(4, max_qubits=8, max_depth=100, candidates=["zz", "iqp"])
    assert chosen.encoding == min((encoding_cost(n, 4) for n in ("zz", "iqp")), key=lambda c: c.key()).encoding
    limited, costs = choose_encoding(8, max_qubits=3, max_depth=100)
    assert limited.encoding == "amplitude"
    assert next(c for c in costs if c.encoding == "angle").reason == "needs 8 qubits > max_qubits=3"


def test_chooser_refuses_with_a_clear_message_when_nothing_fits() -> None:
    with pytest.raises(EncodingError) as info:
        choose_encoding(8, max_qubits=2, max_depth=100)
    message = str(info.value)
    assert "no encoding of 8 features fits max_qubits=2" in message
    assert "amplitude: needs 3 qubits > max_qubits=2" in message
    assert "raise max_qubits to >= 3" in message
    with pytest.raises(EncodingError, match=r"raise max_depth to >= \d+"):
        choose_encoding(4, max_qubits=4, max_depth=1, candidates=["zz", "iqp"])
