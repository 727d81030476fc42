"""Classical MaxCut baselines, each timed: exact (brute force or MILP), greedy, local search,
simulated annealing, and uniform random sampling with a given shot budget. Every quantum result is
compared against these.

QAOA reports the best of all the bitstrings it sampled; ``random_sampling`` with the same total
shots is the baseline that says whether the circuit did better than guessing that often."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from include.problems.maxcut import bits_to_bitstring, cut_value, cut_values, edge_arrays

BRUTE_FORCE_MAX_NODES = 20
HEURISTICS: tuple[str, ...] = ("greedy", "local_search", "simulated_annealing")
RANDOM_SAMPLING = "random_sampling"
# What quantum value added is judged against: every classical method but exact (the reference).
COMPETITORS: tuple[str, ...] = (*HEURISTICS, RANDOM_SAMPLING)


@dataclass(frozen=True)
class BaselineResult:
    method: str
    cut: float
    bitstring: str
    seconds: float
    exact: bool = False


def adjacency(edges: pd.DataFrame, n_nodes: int) -> np.ndarray:
    u, v, w = edge_arrays(edges)
    matrix = np.zeros((n_nodes, n_nodes))
    np.add.at(matrix, (u, v), w)
    np.add.at(matrix, (v, u), w)
    return matrix


def exact_brute_force(edges: pd.DataFrame, n_nodes: int, chunk: int = 1 << 16) -> np.ndarray:
    """Enumerate every cut with the last node fixed to side 0 (cuts are symmetric)."""
    if n_nodes > BRUTE_FORCE_MAX_NODES:
        raise ValueError(f"brute force is for n_nodes <= {BRUTE_FORCE_MAX_NODES}; use exact_milp")
    free = n_nodes - 1
    shifts = np.arange(n_nodes, dtype=np.int64)
    best_value, best_bits = -np.inf, np.zeros(n_nodes, dtype=np.int8)
    for start in range(0, 1 << free, chunk):
        codes = np.arange(start, min(start + chunk, 1 << free), dtype=np.int64)
        bits = ((codes[:, None] >> shifts) & 1).astype(np.int8)
        values = cut_values(bits, edges)
        i = int(np.argmax(values))
        if values[i] > best_value:
            best_value, best_bits = values[i], bits[i]
    return best_bits


def exact_milp(edges: pd.DataFrame, n_nodes: int) -> np.ndarray:
    """MaxCut as a MILP: binary x per node, e_uv = x_u XOR x_v linearised exactly
    (valid for weights of either sign), maximise sum w e."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import lil_array

    u, v, w = edge_arrays(edges)
    m = len(w)
    n_vars = n_nodes + m
    rows = lil_array((4 * m, n_vars))
    lower = np.full(4 * m, -np.inf)
    upper = np.zeros(4 * m)
    for k in range(m):
        e, a, b = n_nodes + k, u[k], v[k]
        rows[4 * k, [e, a, b]] = [1, -1, -1]  # e <= x_a + x_b
        rows[4 * k + 1, [e, a, b]] = [1, 1, 1]  # e <= 2 - x_a - x_b
        upper[4 * k + 1] = 2
        rows[4 * k + 2, [e, a, b]] = [-1, 1, -1]  # e >= x_a - x_b
        rows[4 * k + 3, [e, a, b]] = [-1, -1, 1]  # e >= x_b - x_a
    cost = np.concatenate([np.zeros(n_nodes), -w])
    result = milp(
        cost,
        constraints=LinearConstraint(rows.tocsr(), lower, upper),
        integrality=np.ones(n_vars),
        bounds=Bounds(0, 1),
    )
    if not result.success:
        raise RuntimeError(f"MILP solver failed: {result.message}")
    return np.round(result.x[:n_nodes]).astype(np.int8)


def greedy(edges: pd.DataFrame, n_nodes: int) -> np.ndarray:
    """Place nodes in id order, each on the side that cuts more weight to nodes already placed."""
    weights = adjacency(edges, n_nodes)
    bits = np.zeros(n_nodes, dtype=np.int8)
    placed = np.zeros(n_nodes, dtype=bool)
    for node in range(n_nodes):
        to_side0 = weights[node, placed & (bits == 0)].sum()
        to_side1 = weights[node, placed & (bits == 1)].sum()
        bits[node] = 1 if to_side0 > to_side1 else 0
        placed[node] = True
    return bits


def _flip_gains(weights: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Cut change from flipping each node: same-side neighbours become cut, others uncut."""
    same = bits[:, None] == bits[None, :]
    gains: np.ndarray = (weights * np.where(same, 1.0, -1.0)).sum(axis=1)
    return gains


def local_search(edges: pd.DataFrame, n_nodes: int, seed: int, restarts: int = 10) -> np.ndarray:
    """Best-improvement single-flip hill climbing from seeded random starts."""
    weights = adjacency(edges, n_nodes)
    rng = np.random.default_rng(seed)
    best_bits, best_value = np.zeros(n_nodes, dtype=np.int8), -np.inf
    for _ in range(restarts):
        bits = rng.integers(0, 2, n_nodes).astype(np.int8)
        while True:
            gains = _flip_gains(weights, bits)
            node = int(np.argmax(gains))
            if gains[node] <= 1e-12:
                break
            bits[node] ^= 1
        value = cut_value(bits, edges)
        if value > best_value:
            best_bits, best_value = bits.copy(), value
    return best_bits


def simulated_annealing(edges: pd.DataFrame, n_nodes: int, seed: int, sweeps: int = 300) -> np.ndarray:
    """Metropolis single flips on a geometric temperature schedule; keeps the best state seen."""
    weights = adjacency(edges, n_nodes)
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, n_nodes).astype(np.int8)
    gains = _flip_gains(weights, bits)
    value = cut_value(bits, edges)
    best_bits, best_value = bits.copy(), value
    scale = float(np.abs(weights).sum(axis=1).max()) or 1.0
    temperatures = np.geomspace(scale, scale * 1e-3, sweeps)
    for temperature in temperatures:
        for node in rng.permutation(n_nodes):
            gain = gains[node]
            if gain >= 0 or rng.random() < np.exp(gain / temperature):
                # Flipping `node` changes its neighbours' gains by ±2w (side relation inverts).
                sign = np.where(bits == bits[node], -2.0, 2.0)
                gains += sign * weights[node]
                gains[node] = -gain
                bits[node] ^= 1
                value += gain
                if value > best_value + 1e-12:
                    best_bits, best_value = bits.copy(), value
    return best_bits


def run_baselines(edges: pd.DataFrame, n_nodes: int, seed: int) -> list[BaselineResult]:
    """All baselines on one instance, each timed with a monotonic clock."""
    solvers: list[tuple[str, Callable[[], np.ndarray], bool]] = [
        (
            "exact",
            (lambda: exact_brute_force(edges, n_nodes))
            if n_nodes <= BRUTE_FORCE_MAX_NODES
            else (lambda: exact_milp(edges, n_nodes)),
            True,
        ),
        ("greedy", lambda: greedy(edges, n_nodes), False),
        ("local_search", lambda: local_search(edges, n_nodes, seed), False),
        ("simulated_annealing", lambda: simulated_annealing(edges, n_nodes, seed), False),
    ]
    results = []
    for method, solve, exact in solvers:
        started = time.perf_counter()
        bits = solve()
        seconds = time.perf_counter() - started
        results.append(BaselineResult(method, cut_value(bits, edges), bits_to_bitstring(bits), seconds, exact))
    return results


@dataclass(frozen=True)
class RandomSamplingResult:
    """``shots`` uniform random bitstrings: the best one's cut (and bitstring) and the mean cut."""

    cut: float
    bitstring: str
    expected_cut: float
    shots: int
    seconds: float
    method: str = RANDOM_SAMPLING


def random_sampling(
    edges: pd.DataFrame, n_nodes: int, shots: int, seed: int, chunk: int = 1 << 16
) -> RandomSamplingResult:
    """Draw ``shots`` uniformly random assignments (seeded), in chunks so memory stays bounded."""
    if shots < 1:
        raise ValueError(f"shots={shots}: random sampling needs at least one shot")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    best_value, best_bits, total = -np.inf, np.zeros(n_nodes, dtype=np.int8), 0.0
    for start in range(0, shots, chunk):
        bits = rng.integers(0, 2, (min(chunk, shots - start), n_nodes), dtype=np.int8)
        values = cut_values(bits, edges)
        total += float(values.sum())
        i = int(np.argmax(values))
        if values[i] > best_value:
            best_value, best_bits = float(values[i]), bits[i].copy()
    seconds = time.perf_counter() - started
    return RandomSamplingResult(float(best_value), bits_to_bitstring(best_bits), total / shots, shots, seconds)
