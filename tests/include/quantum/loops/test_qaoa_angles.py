from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from qiskit.quantum_info import Statevector

from include.problems.baselines import exact_brute_force
from include.problems.maxcut import (
    GraphSpec,
    bitstring_to_bits,
    canonical_edges,
    cut_value,
    cut_values,
    make_graph,
    maxcut_ising,
)
from include.quantum.circuits.qaoa import qaoa_ansatz
from include.quantum.loops.qaoa_angles import (
    AngleError,
    AngleResult,
    angle_schedule,
    cut_diagonal,
    in_circuit_order,
    interp_start,
    optimal_angles,
    qaoa_expected_cut,
)

GRAPHS = [
    GraphSpec(6, "regular", 3, "unit", 1),
    GraphSpec(7, "erdos_renyi", 3, "uniform", 2),
    GraphSpec(8, "regular", 4, "uniform", 5),
    GraphSpec(5, "complete", 4, "unit", 0),
]


def _circuit_expected_cut(spec: GraphSpec, theta: np.ndarray) -> float:
    """<C> of the very circuit that runs, bound by parameter name, via Qiskit's Statevector."""
    edges = make_graph(spec)
    n = spec.n_nodes
    circuit = qaoa_ansatz(maxcut_ising(edges, n)[0], len(theta) // 2, measure=False)
    names = [param.name for param in circuit.parameters]
    bound = circuit.assign_parameters(in_circuit_order(theta, names))
    probabilities = Statevector(bound).probabilities()
    all_bits = np.array([bitstring_to_bits(format(k, f"0{n}b")) for k in range(1 << n)])
    return float(probabilities @ cut_values(all_bits, edges))


@pytest.mark.parametrize("spec", GRAPHS, ids=lambda s: f"{s.kind}-{s.weights}-{s.n_nodes}")
@pytest.mark.parametrize("reps", [1, 2, 3])
def test_expected_cut_matches_the_qiskit_circuit_statevector(spec: GraphSpec, reps: int) -> None:
    rng = np.random.default_rng(100 * reps + spec.seed)
    diagonal = cut_diagonal(make_graph(spec), spec.n_nodes)
    for _ in range(3):
        theta = rng.uniform(-math.pi, math.pi, 2 * reps)
        assert qaoa_expected_cut(diagonal, theta) == pytest.approx(_circuit_expected_cut(spec, theta), abs=1e-9)


def test_circuit_parameters_sort_beta_first_so_positional_binding_needs_reordering() -> None:
    # qaoa_ansatz's docstring says γ then β, but Qiskit sorts circuit.parameters by name and β < γ:
    # positional binding (SamplerPub rows, as optimise_qaoa does) therefore takes [β..., γ...].
    circuit = qaoa_ansatz(maxcut_ising(make_graph(GRAPHS[0]), 6)[0], 2, measure=False)
    names = [param.name for param in circuit.parameters]
    assert names == ["β[0]", "β[1]", "γ[0]", "γ[1]"]
    assert in_circuit_order([1.0, 2.0, 3.0, 4.0], names) == [3.0, 4.0, 1.0, 2.0]
    with pytest.raises(AngleError, match="parameters"):
        in_circuit_order([1.0, 2.0], names)


def test_cut_diagonal_agrees_with_cut_values_on_every_bitstring() -> None:
    spec = GraphSpec(7, "erdos_renyi", 3, "uniform", 4)
    edges = make_graph(spec)
    diagonal = cut_diagonal(edges, 7)
    assert diagonal.dtype == np.float64 and diagonal.shape == (1 << 7,)
    for k in range(1 << 7):
        bits = bitstring_to_bits(format(k, "07b"))  # Qiskit bitstring of index k
        assert bits[0] == k & 1  # qubit 0 = node 0 = least significant bit
        assert diagonal[k] == pytest.approx(cut_value(bits, edges), abs=1e-12)


def _f(diagonal: np.ndarray, gamma: float, beta: float) -> float:
    return qaoa_expected_cut(diagonal, [gamma, beta])


def test_the_symmetries_the_p1_grid_relies_on() -> None:
    rng = np.random.default_rng(0)
    cubic = cut_diagonal(make_graph(GraphSpec(10, "regular", 3, "unit", 2)), 10)  # every degree odd
    quartic = cut_diagonal(make_graph(GraphSpec(9, "regular", 4, "unit", 2)), 9)  # every degree even
    weighted = cut_diagonal(make_graph(GraphSpec(8, "regular", 3, "uniform", 2)), 8)
    broke_period_pi = False
    for _ in range(5):
        gamma, beta = rng.uniform(-3, 3, 2)
        for diagonal in (cubic, quartic, weighted):
            base = _f(diagonal, gamma, beta)
            assert _f(diagonal, gamma, beta + math.pi / 2) == pytest.approx(base, abs=1e-10)  # β period π/2
            assert _f(diagonal, -gamma, -beta) == pytest.approx(base, abs=1e-10)  # time reversal
        for diagonal in (cubic, quartic):
            assert _f(diagonal, gamma + 2 * math.pi, beta) == pytest.approx(_f(diagonal, gamma, beta), abs=1e-10)
        # Odd degrees: shifting γ by π flips β. Even degrees: γ has period π.
        assert _f(cubic, gamma + math.pi, beta) == pytest.approx(_f(cubic, gamma, -beta), abs=1e-10)
        assert _f(quartic, gamma + math.pi, beta) == pytest.approx(_f(quartic, gamma, beta), abs=1e-10)
        broke_period_pi |= abs(_f(cubic, gamma + math.pi, beta) - _f(cubic, gamma, beta)) > 1e-3
    assert broke_period_pi  # so "γ has period π for unit weights" is false for 3-regular graphs


def _optimum(spec: GraphSpec) -> tuple[pd.DataFrame, float]:
    edges = make_graph(spec)
    return edges, cut_value(exact_brute_force(edges, spec.n_nodes), edges)


@pytest.mark.parametrize("n", [8, 10, 12])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_p1_optimal_angles_meet_the_3_regular_guarantee(n: int, seed: int) -> None:
    edges, best = _optimum(GraphSpec(n, "regular", 3, "unit", seed))
    result = optimal_angles(edges, n, 1)
    assert result.expected_cut / best >= 0.6924
    assert result.expected_cut == pytest.approx(qaoa_expected_cut(cut_diagonal(edges, n), result.parameters), abs=1e-9)
    assert result.evaluations == len(result.trace) <= 400
    assert max(result.trace) == result.expected_cut
    assert -math.pi / 4 <= result.parameters[1] < math.pi / 4


@pytest.mark.parametrize("spec", [GraphSpec(8, "regular", 3, "unit", 3), GraphSpec(8, "regular", 3, "uniform", 3)])
def test_p1_result_is_at_least_a_dense_grid_over_the_full_period(spec: GraphSpec) -> None:
    edges, _ = _optimum(spec)
    diagonal = cut_diagonal(edges, 8)
    result = optimal_angles(edges, 8, 1)
    # A dense grid over a full period (unit weights: γ in [0, 2π)) or a wide window (real weights).
    span = 2 * math.pi if spec.weights == "unit" else 4 * math.pi
    dense = max(_f(diagonal, g, b) for g in np.linspace(0, span, 121) for b in np.linspace(-0.8, 0.8, 41))
    assert result.expected_cut >= dense - 1e-9


def test_interp_chain_improves_with_depth_and_is_deterministic() -> None:
    edges, best = _optimum(GraphSpec(10, "regular", 3, "unit", 4))
    schedule = angle_schedule(edges, 10, [3, 1, 2], max_evaluations=200)
    assert sorted(schedule) == [1, 2, 3]
    assert schedule[1].expected_cut <= schedule[2].expected_cut <= schedule[3].expected_cut <= best
    assert schedule[2].expected_cut > schedule[1].expected_cut + 1e-3
    for reps, result in schedule.items():
        assert result.reps == reps and len(result.parameters) == 2 * reps
        assert result.evaluations == len(result.trace) <= 200
    # The chain reuses lower levels: warm-starting from level 1 gives level 2 exactly, as does no warm start.
    assert optimal_angles(edges, 10, 2, warm_start=schedule[1], max_evaluations=200) == _same(schedule[2])
    assert optimal_angles(edges, 10, 2, max_evaluations=200) == _same(schedule[2])
    # INTERP's start from p=2 is already at least as good as the p=2 optimum (p=3 contains it).
    diagonal = cut_diagonal(edges, 10)
    assert qaoa_expected_cut(diagonal, interp_start(schedule[2].parameters)) >= schedule[2].expected_cut - 1e-9


class _same:
    """Equal to an AngleResult up to wall-clock seconds."""

    def __init__(self, result: AngleResult) -> None:
        self.result = result

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, AngleResult)
            and other.parameters == self.result.parameters
            and other.trace == self.result.trace
            and other.evaluations == self.result.evaluations
            and other.expected_cut == self.result.expected_cut
        )


def test_interp_start_follows_zhou_et_al() -> None:
    assert interp_start([0.5, -0.3]).tolist() == [0.5, 0.5, -0.3, -0.3]
    start = interp_start([1.0, 2.0, -1.0, -2.0]).tolist()
    assert start == pytest.approx([1.0, 1.5, 2.0, -1.0, -1.5, -2.0])


def test_the_budget_holds() -> None:
    edges, _ = _optimum(GraphSpec(8, "regular", 3, "unit", 1))
    for reps in (1, 2):
        result = optimal_angles(edges, 8, reps, max_evaluations=25)
        assert result.evaluations == len(result.trace) <= 25


def test_errors_name_the_field_and_the_fix() -> None:
    edges = make_graph(GraphSpec(6, "regular", 3, "unit", 1))
    cases = [
        (lambda: optimal_angles(edges, 6, 0), "reps=0"),
        (lambda: optimal_angles(edges, 23, 1), "n_nodes=23"),
        (lambda: optimal_angles(edges, 1, 1), "n_nodes=1"),
        (lambda: cut_diagonal(edges.iloc[:0], 6), "edges is empty"),
        (lambda: cut_diagonal(edges, 4), "node ids outside"),
        (lambda: cut_diagonal(edges.drop(columns="weight"), 6), "missing column"),
        (lambda: cut_diagonal(pd.DataFrame({"u": [1], "v": [1], "weight": [1.0]}), 6), "self-loop"),
        (lambda: optimal_angles(edges, 6, 1, max_evaluations=5), "max_evaluations=5"),
        (lambda: angle_schedule(edges, 6, []), "reps_list"),
        (lambda: angle_schedule(edges, 6, [2, 0]), "reps_list entry=0"),
        (lambda: qaoa_expected_cut(cut_diagonal(edges, 6), [0.1, 0.2, 0.3]), "parameters has 3 values"),
        (lambda: qaoa_expected_cut(np.ones(10), [0.1, 0.2]), "cut_diag"),
    ]
    for call, field in cases:
        with pytest.raises(AngleError, match=field.replace("(", r"\(")):
            call()
    level1 = optimal_angles(edges, 6, 1, max_evaluations=30)
    with pytest.raises(AngleError, match="warm_start"):
        optimal_angles(edges, 6, 3, warm_start=level1)
    assert issubclass(AngleError, ValueError)
    nan_weight = canonical_edges(pd.DataFrame({"u": [0], "v": [1], "weight": [float("nan")]}))
    with pytest.raises(AngleError, match="weight"):
        cut_diagonal(nan_weight, 2)
