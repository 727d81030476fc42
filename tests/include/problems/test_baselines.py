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
