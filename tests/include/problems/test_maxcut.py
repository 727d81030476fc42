from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from qiskit.quantum_info import Statevector

from include.problems.maxcut import (
    GraphSpec,
    ProblemSpecError,
    bits_to_bitstring,
    bitstring_to_bits,
    canonical_edges,
    cut_value,
    ising_energies,
    make_graph,
    maxcut_ising,
)
from include.quantum.circuits.qaoa import qaoa_ansatz

SPECS = [
    GraphSpec(4, "regular", 2, "unit", 1),
    GraphSpec(6, "regular", 3, "uniform", 2),
    GraphSpec(7, "erdos_renyi", 3, "uniform", 3),
    GraphSpec(5, "complete", 4, "unit", 4),
]


def all_bits(n: int) -> np.ndarray:
    return np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.int8)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.kind}-{s.n_nodes}-{s.weights}")
def test_every_bitstrings_cut_equals_offset_minus_ising_energy(spec: GraphSpec) -> None:
    edges = make_graph(spec)
    cost, offset = maxcut_ising(edges, spec.n_nodes)
    bits = all_bits(spec.n_nodes)
    energies = ising_energies(bits, cost)
    for row, energy in zip(bits, energies, strict=True):
        assert cut_value(row, edges) == pytest.approx(offset - energy)


@pytest.mark.parametrize("spec", SPECS[:2], ids=lambda s: f"{s.kind}-{s.n_nodes}")
def test_ising_diagonal_matches_matrix_of_sparse_pauli_op(spec: GraphSpec) -> None:
    """Independent of our own energy routine: Qiskit's matrix diagonal, indexed little-endian."""
    edges = make_graph(spec)
    cost, offset = maxcut_ising(edges, spec.n_nodes)
    diagonal = np.real(np.diag(cost.to_matrix()))
    for index, energy in enumerate(diagonal):
        bits = np.array([(index >> q) & 1 for q in range(spec.n_nodes)], dtype=np.int8)
        assert cut_value(bits, edges) == pytest.approx(offset - energy)


def test_bitstring_round_trip_is_little_endian() -> None:
    bits = bitstring_to_bits("0011")
    assert list(bits) == [1, 1, 0, 0]  # rightmost char is node 0
    assert bits_to_bitstring(bits) == "0011"


def test_same_spec_gives_same_graph_and_regular_degrees() -> None:
    spec = GraphSpec(10, "regular", 3, "uniform", 11)
    a, b = make_graph(spec), make_graph(spec)
    pd.testing.assert_frame_equal(a, b)
    degrees = np.bincount(np.concatenate([a["u"], a["v"]]), minlength=10)
    assert set(degrees) == {3}
    assert (a["u"] < a["v"]).all()
    assert not make_graph(GraphSpec(10, "regular", 3, "uniform", 12)).equals(a)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (GraphSpec(1), "n_nodes"),
        (GraphSpec(5, "regular", 3), "n_nodes * degree"),
        (GraphSpec(5, "regular", 7), "degree"),
        (GraphSpec(5, "tree"), "graph_kind"),
        (GraphSpec(5, "complete", weights="heavy"), "weights"),
    ],
)
def test_bad_graph_spec_names_the_field(spec: GraphSpec, field: str) -> None:
    with pytest.raises(ProblemSpecError, match=field.replace("*", r"\*")):
        make_graph(spec)


def test_canonical_edges_orients_sorts_and_names_bad_columns() -> None:
    raw = pd.DataFrame({"v": [0, 3, 1], "u": [2, 1, 1], "weight": [1, 2, 3]})
    out = canonical_edges(raw)
    assert list(out.columns) == ["u", "v", "weight"]
    assert out[["u", "v"]].values.tolist() == [[0, 2], [1, 1], [1, 3]]
    assert out["weight"].dtype == np.float64
    with pytest.raises(ProblemSpecError, match=r"missing column\(s\) \['weight'\]"):
        canonical_edges(raw[["u", "v"]])
    with pytest.raises(ProblemSpecError, match=r"'weight'.*numbers"):
        canonical_edges(raw.assign(weight=["a", "b", "c"]))


def test_qaoa_ansatz_at_zero_angles_is_uniform_and_parameter_count_is_2p() -> None:
    edges = make_graph(GraphSpec(5, "complete", 4, "unit", 0))
    cost, _ = maxcut_ising(edges, 5)
    circuit = qaoa_ansatz(cost, reps=3, measure=False)
    assert circuit.num_parameters == 6
    probabilities = Statevector(circuit.assign_parameters([0.0] * 6)).probabilities()
    assert np.allclose(probabilities, 1 / 32)


def test_qaoa_p1_on_a_ring_reaches_the_known_three_quarters_cut_fraction() -> None:
    """Farhi et al.: on a ring, p=1 QAOA's best expected cut fraction is 3/4 (3 of 4 edges)."""
    edges = make_graph(GraphSpec(4, "regular", 2, "unit", 0))
    cost, offset = maxcut_ising(edges, 4)
    circuit = qaoa_ansatz(cost, reps=1, measure=False)
    grid = np.linspace(0, np.pi, 41)
    best = max(
        offset - Statevector(circuit.assign_parameters([g, b])).expectation_value(cost).real for g in grid for b in grid
    )
    assert best == pytest.approx(3.0, abs=0.05)
