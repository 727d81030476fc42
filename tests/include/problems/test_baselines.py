from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from include.problems.baselines import (
    exact_brute_force,
    exact_milp,
    greedy,
    local_search,
    run_baselines,
    simulated_annealing,
)
from include.problems.maxcut import GraphSpec, cut_value, make_graph


def optimum_by_enumeration(edges: pd.DataFrame, n: int) -> float:
    """An independent, naive optimum: every assignment, one at a time."""
    return max(cut_value(np.array(bits), edges) for bits in itertools.product([0, 1], repeat=n))


GRAPHS = [
    (GraphSpec(6, "regular", 3, "unit", 1), 6),
    (GraphSpec(8, "regular", 3, "uniform", 2), 8),
    (GraphSpec(9, "erdos_renyi", 4, "uniform", 3), 9),
    (GraphSpec(7, "complete", 6, "unit", 4), 7),
]


@pytest.mark.parametrize(("spec", "n"), GRAPHS, ids=lambda x: str(x) if isinstance(x, int) else x.kind)
def test_exact_solvers_and_search_heuristics_reach_the_optimum_on_small_graphs(spec: GraphSpec, n: int) -> None:
    edges = make_graph(spec)
    optimum = optimum_by_enumeration(edges, n)
    assert cut_value(exact_brute_force(edges, n), edges) == pytest.approx(optimum)
    assert cut_value(exact_milp(edges, n), edges) == pytest.approx(optimum)
    assert cut_value(local_search(edges, n, seed=5), edges) == pytest.approx(optimum)
    assert cut_value(simulated_annealing(edges, n, seed=5), edges) == pytest.approx(optimum)


@pytest.mark.parametrize(("spec", "n"), GRAPHS, ids=lambda x: str(x) if isinstance(x, int) else x.kind)
def test_greedy_meets_its_half_weight_guarantee(spec: GraphSpec, n: int) -> None:
    edges = make_graph(spec)
    assert cut_value(greedy(edges, n), edges) >= edges["weight"].sum() / 2 - 1e-9


def test_milp_handles_negative_weights_exactly() -> None:
    rng = np.random.default_rng(0)
    pairs = [(a, b) for a in range(7) for b in range(a + 1, 7)]
    edges = pd.DataFrame(
        {"u": [p[0] for p in pairs], "v": [p[1] for p in pairs], "weight": rng.normal(size=len(pairs))}
    )
    assert cut_value(exact_milp(edges, 7), edges) == pytest.approx(optimum_by_enumeration(edges, 7))
    assert cut_value(exact_brute_force(edges, 7), edges) == pytest.approx(optimum_by_enumeration(edges, 7))


def test_run_baselines_uses_milp_beyond_brute_force_size_and_times_each() -> None:
    edges = make_graph(GraphSpec(22, "regular", 3, "unit", 9))
    results = {r.method: r for r in run_baselines(edges, 22, seed=1)}
    assert set(results) == {"exact", "greedy", "local_search", "simulated_annealing"}
    assert results["exact"].exact
    assert all(r.cut <= results["exact"].cut + 1e-9 for r in results.values())
    assert all(r.seconds > 0 for r in results.values())
    assert len(results["exact"].bitstring) == 22


def test_random_sampling_is_seeded_and_at_16_nodes_finds_the_optimum_with_qaoa_sized_budgets() -> None:
    """The point of the baseline: 61 evaluations x 1024 shots of uniform guesses already hit the
    exact max cut of a 16-node 3-regular graph, so "QAOA's best sample is optimal" says little."""
    from include.problems.baselines import exact_brute_force, random_sampling
    from include.problems.maxcut import GraphSpec, cut_value, make_graph

    edges = make_graph(GraphSpec(16, "regular", 3, "unit", 7))
    shots = 1024 * 61
    first, again = random_sampling(edges, 16, shots, seed=7), random_sampling(edges, 16, shots, seed=7)
    assert (first.cut, first.bitstring, first.expected_cut) == (again.cut, again.bitstring, again.expected_cut)
    assert first.shots == shots and first.cut == cut_value(np.array([int(b) for b in reversed(first.bitstring)]), edges)
    assert first.cut == cut_value(exact_brute_force(edges, 16), edges)
    assert abs(first.expected_cut - len(edges) / 2) < 0.1  # a uniform guess cuts each edge half the time
    assert random_sampling(edges, 16, 50, seed=1).cut < first.cut  # a small budget does not
