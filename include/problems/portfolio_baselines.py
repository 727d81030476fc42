"""Classical baselines for cardinality-constrained portfolio selection, on the same problem QAOA gets:
exact (every one of the C(N, K) selections), greedy, local search (swaps), simulated annealing
(swaps), uniform random bitstrings with QAOA's shot budget, and the continuous mean-variance
optimum (skfolio's ``MeanRisk``: long-only, fully invested, no cardinality — a lower bound on
every selection's objective, not a selection itself).

The heuristics keep every state feasible (they move by swapping one held asset for one not held),
and are named like the MaxCut heuristics (``include.problems.baselines.HEURISTICS``), so the
fallback's classical tier (``include.governance.fallback.classical_counts``) picks the best of them
by its ``score`` (= −objective: higher is better).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from include.problems.baselines import RANDOM_SAMPLING
from include.problems.portfolio import PortfolioProblem, feasible_selections, selection_bitstring

BRUTE_FORCE_MAX_SELECTIONS = 2_000_000  # C(N, K) enumerated in chunks; C(20, 10) = 184,756
MEAN_VARIANCE = "mean_variance"


@dataclass(frozen=True)
class PortfolioBaseline:
    method: str
    bitstring: str  # "" for the continuous optimum (weights, not a selection)
    objective: float
    seconds: float
    exact: bool = False
    evaluations: int = 0  # objective evaluations the method made
    weights: tuple[float, ...] = ()


@dataclass(frozen=True, eq=False)
class ExactSolution:
    bits: np.ndarray
    objective: float
    worst_objective: float  # the worst feasible selection: the approximation gap's scale
    evaluations: int
    mean_objective: float  # over every feasible selection: what a uniformly random one scores on average


def approximation_gap(objective: float, solution: ExactSolution) -> float:
    """(f − f*) / (f_worst − f*) over the feasible selections: 0 = the exact optimum, 1 = the worst
    selection; NaN for no selection (NaN objective). A degenerate instance (every selection equal)
    has gap 0."""
    if math.isnan(objective):
        return math.nan
    spread = solution.worst_objective - solution.objective
    return (objective - solution.objective) / spread if spread > 0 else 0.0


def exact(problem: PortfolioProblem, chunk: int = 1 << 15) -> ExactSolution:
    """Every feasible selection evaluated; the best and the worst."""
    total = math.comb(problem.n_assets, problem.k)
    if total > BRUTE_FORCE_MAX_SELECTIONS:
        raise ValueError(f"C({problem.n_assets}, {problem.k}) = {total:,} selections is past brute force")
    bits = feasible_selections(problem.n_assets, problem.k)
    values = np.concatenate([problem.objectives(bits[s : s + chunk]) for s in range(0, len(bits), chunk)])
    best = int(np.argmin(values))
    return ExactSolution(bits[best].copy(), float(values[best]), float(values.max()), len(bits), float(values.mean()))


def greedy(problem: PortfolioProblem) -> tuple[np.ndarray, int]:
    """Add, k times, the asset whose addition gives the lowest objective (weights 1/k throughout)."""
    bits = np.zeros(problem.n_assets, dtype=np.int8)
    evaluations = 0
    for _ in range(problem.k):
        candidates = np.flatnonzero(bits == 0)
        trial = np.repeat(bits[None, :], candidates.size, axis=0)
        trial[np.arange(candidates.size), candidates] = 1
        values = problem.objectives(trial)
        evaluations += candidates.size
        bits[candidates[int(np.argmin(values))]] = 1
    return bits, evaluations


def _swaps(bits: np.ndarray) -> np.ndarray:
    """Every selection one swap away (one held asset out, one other in)."""
    held, free = np.flatnonzero(bits == 1), np.flatnonzero(bits == 0)
    out = np.repeat(bits[None, :], held.size * free.size, axis=0)
    rows = np.arange(out.shape[0])
    out[rows, np.repeat(held, free.size)] = 0
    out[rows, np.tile(free, held.size)] = 1
    return out


def local_search(problem: PortfolioProblem, seed: int, restarts: int = 5) -> tuple[np.ndarray, int]:
    """Best-improvement swap hill climbing from the greedy selection and seeded random ones."""
    rng = np.random.default_rng(seed)
    start, evaluations = greedy(problem)
    best_bits, best_value = start, problem.objective(start)
    for restart in range(restarts + 1):
        if restart:
            start = np.zeros(problem.n_assets, dtype=np.int8)
            start[rng.choice(problem.n_assets, problem.k, replace=False)] = 1
        bits, value = start.copy(), problem.objective(start)
        evaluations += 1
        while problem.k < problem.n_assets:
            neighbours = _swaps(bits)
            values = problem.objectives(neighbours)
            evaluations += len(values)
            i = int(np.argmin(values))
            if values[i] >= value - 1e-15:
                break
            bits, value = neighbours[i].copy(), float(values[i])
        if value < best_value:
            best_bits, best_value = bits, value
    return best_bits, evaluations


@dataclass
class AnnealingRun:
    bits: np.ndarray
    objective: float
    best_trace: list[float] = field(default_factory=list)  # best objective after each evaluation


def simulated_annealing(problem: PortfolioProblem, seed: int, sweeps: int = 200) -> AnnealingRun:
    """Metropolis swap moves from a seeded random selection on a geometric temperature schedule
    (from the single-flip bound down a thousandfold); keeps the best selection seen. One evaluation
    per proposed swap: ``sweeps × n_assets`` in all."""
    rng = np.random.default_rng(seed)
    n, k = problem.n_assets, problem.k
    bits = np.zeros(n, dtype=np.int8)
    bits[rng.choice(n, k, replace=False)] = 1
    value = problem.objective(bits)
    run = AnnealingRun(bits.copy(), value, [value])
    if k == n:
        return run
    scale = problem.flip_bound() or 1.0
    for temperature in np.geomspace(scale, scale * 1e-3, sweeps):
        for _ in range(n):
            out, into = rng.choice(np.flatnonzero(bits == 1)), rng.choice(np.flatnonzero(bits == 0))
            bits[out], bits[into] = 0, 1
            trial = problem.objective(bits)
            delta = trial - value
            if delta <= 0 or rng.random() < math.exp(-delta / temperature):
                value = trial
                if value < run.objective - 1e-15:
                    run.bits, run.objective = bits.copy(), value
            else:
                bits[out], bits[into] = 1, 0
            run.best_trace.append(run.objective)
    return run


def mean_variance(estimation_returns: pd.DataFrame, risk_aversion: float) -> np.ndarray:
    """skfolio's continuous mean-variance optimum on the same estimation window and the same
    estimators (EmpiricalMu, LedoitWolf): maximise μᵀw − q·wᵀΣw, w ≥ 0, Σw = 1 (CLARABEL)."""
    from skfolio.moments import EmpiricalMu, LedoitWolf
    from skfolio.optimization import MeanRisk, ObjectiveFunction
    from skfolio.prior import EmpiricalPrior

    model = MeanRisk(
        objective_function=ObjectiveFunction.MAXIMIZE_UTILITY,
        risk_aversion=risk_aversion,
        prior_estimator=EmpiricalPrior(mu_estimator=EmpiricalMu(), covariance_estimator=LedoitWolf()),
    )
    model.fit(estimation_returns.to_numpy())
    weights: np.ndarray = np.clip(np.asarray(model.weights_, dtype=np.float64), 0.0, None)
    return weights / weights.sum()


@dataclass(frozen=True)
class RandomSelections:
    bitstring: str  # the best feasible one ("" when none was feasible)
    objective: float
    feasible_probability: float
    shots: int
    seconds: float
    method: str = RANDOM_SAMPLING


def random_sampling(problem: PortfolioProblem, shots: int, seed: int, chunk: int = 1 << 16) -> RandomSelections:
    """``shots`` uniformly random bitstrings (seeded): the share with exactly k assets and the best
    feasible one — what QAOA's samples must beat to have done better than guessing as often."""
    if shots < 1:
        raise ValueError(f"shots={shots}: random sampling needs at least one shot")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    best_value, best_bits, feasible = math.inf, None, 0
    for start in range(0, shots, chunk):
        bits = rng.integers(0, 2, (min(chunk, shots - start), problem.n_assets), dtype=np.int8)
        mask = problem.feasible(bits)
        feasible += int(mask.sum())
        if mask.any():
            values = problem.objectives(bits[mask])
            i = int(np.argmin(values))
            if values[i] < best_value:
                best_value, best_bits = float(values[i]), bits[mask][i].copy()
    seconds = time.perf_counter() - started
    bitstring = selection_bitstring(best_bits) if best_bits is not None else ""
    objective = best_value if best_bits is not None else float("nan")
    return RandomSelections(bitstring, objective, feasible / shots, shots, seconds)


def run_baselines(
    problem: PortfolioProblem, estimation_returns: pd.DataFrame, seed: int
) -> tuple[list[PortfolioBaseline], ExactSolution]:
    """Every baseline on one instance, each timed with a monotonic clock."""
    results: list[PortfolioBaseline] = []

    def timed(method: str, solve: Callable[[], tuple[np.ndarray, int]], is_exact: bool = False) -> None:
        started = time.perf_counter()
        bits, evaluations = solve()
        seconds = time.perf_counter() - started
        results.append(
            PortfolioBaseline(
                method,
                selection_bitstring(bits),
                problem.objective(bits),
                seconds,
                is_exact,
                evaluations,
                tuple(float(b) / problem.k for b in bits),
            )
        )

    solution: list[ExactSolution] = []

    def solve_exact() -> tuple[np.ndarray, int]:
        solution.append(exact(problem))
        return solution[0].bits, solution[0].evaluations

    def solve_annealing() -> tuple[np.ndarray, int]:
        run = simulated_annealing(problem, seed)
        return run.bits, len(run.best_trace) - 1

    timed("exact", solve_exact, True)
    timed("greedy", lambda: greedy(problem))
    timed("local_search", lambda: local_search(problem, seed))
    timed("simulated_annealing", solve_annealing)
    started = time.perf_counter()
    weights = mean_variance(estimation_returns, problem.risk_aversion)
    seconds = time.perf_counter() - started
    value = float(problem.risk_aversion * weights @ problem.cov @ weights - problem.mu @ weights)
    results.append(PortfolioBaseline(MEAN_VARIANCE, "", value, seconds, False, 0, tuple(map(float, weights))))
    return results, solution[0]
