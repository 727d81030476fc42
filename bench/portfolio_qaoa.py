"""QAOA against simulated annealing on cardinality-constrained portfolio selection, real prices.

Instances: skfolio's bundled S&P 500 daily prices (20 stocks, to 2022-12-28), the first N tickers,
K = N/2, risk aversion q; instance i estimates from the 252 daily returns ending i × 63 trading
days before the last date (so each seed is a different real market window), with skfolio's
EmpiricalMu and LedoitWolf — the workload's own path (include.problems.portfolio: estimate_model,
penalty_weight, portfolio_qubo, qubo_ising; include.quantum.loops.portfolio through the one loop
engine, held on ideal Aer in this process). Exact: every one of the C(N, K) selections.

Per (N, method), medians over the instances:

* gap — approximation gap of the method's best feasible selection, (f − f*) / (f_worst − f*) over
  the feasible selections (0 = the exact optimum, 1 = the worst selection). QAOA's best feasible
  selection is the best among all its sampled bitstrings (every evaluation's shots); "mean gap" is
  the gap of the mean objective over the feasible shots at the optimiser's best θ (what one shot
  gives on average, which best-of-many-shots hides); "random" beside it is the mean gap of a
  uniformly random feasible selection (exact, over all C(N, K)).
* feasible — the probability that a sampled bitstring holds exactly K assets, at the best θ
  (QAOA). Uniform random bitstrings: C(N, K) / 2^N, printed beside it ("random"). Simulated annealing moves
  by swaps among feasible selections only, so its every state is feasible (1 by construction).
* evals→99% — evaluations until the best-so-far reached 99% of the best quality (1 − gap) the run
  found. A QAOA evaluation is one circuit job of --shots shots (COBYLA, linear-ramp start, at most
  --max-iterations); a simulated-annealing evaluation is one objective evaluation of a proposed
  swap (--sweeps × N in all). Their costs differ by orders of magnitude: the wall seconds per run
  are printed beside them (QAOA: transpile + sampling; SA: the whole anneal).

* "xy" rows: the same QAOA with the constraint-preserving XY ring mixer from a K-hot state
  (include.quantum.circuits.qaoa, mixer="xy"): every ideal sample is feasible by construction.

Usage: python bench/portfolio_qaoa.py [--sizes 8 12 16] [--reps 1 2 3] [--seeds 2] [--shots 1024]
       [--max-iterations 40] [--risk-aversion 5] [--sweeps 200] [--mixers x xy]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import pandas as pd

from include.problems.portfolio import (
    WINDOW_HOLDOUT_DAYS,
    WINDOW_LOOKBACK_DAYS,
    PortfolioProblem,
    estimate_model,
    load_sp500,
    market_window,
)
from include.problems.portfolio_baselines import ExactSolution, approximation_gap, exact, simulated_annealing
from include.quantum.backends.aer import AerBackend
from include.quantum.loops.portfolio import PortfolioLoopResult, portfolio_qaoa
from include.quantum.loops.qaoa import run_held_loop

LOOKBACK, HOLDOUT = WINDOW_LOOKBACK_DAYS, WINDOW_HOLDOUT_DAYS


def evaluations_to_99(qualities: list[float]) -> int:
    """1-based index of the first best-so-far quality reaching 99% of the best one in the run."""
    target = 0.99 * max(qualities)
    return next(i for i, value in enumerate(qualities, 1) if value >= target - 1e-12)


def instance(prices: pd.DataFrame, n: int, seed: int, q: float) -> PortfolioProblem:
    model = estimate_model(market_window(prices, n, seed), LOOKBACK, HOLDOUT)
    return PortfolioProblem(model.mu, model.cov, n // 2, q)


def quality(objective: float, solution: ExactSolution) -> float:
    return 1.0 - approximation_gap(objective, solution) if math.isfinite(objective) else 0.0


def run_qaoa(
    problem: PortfolioProblem, reps: int, seed: int, args: argparse.Namespace, mixer: str = "x"
) -> dict[str, float]:
    started = time.perf_counter()
    outcome = run_held_loop(
        portfolio_qaoa(problem, reps, mixer),
        shots=args.shots,
        max_iterations=args.max_iterations,
        seed=seed,
        backend=AerBackend(seed=seed),
        run=("bench", f"portfolio-{problem.n_assets}-{reps}-{mixer}-{seed}", "optimise", -1),
    )
    seconds = time.perf_counter() - started
    result = PortfolioLoopResult.from_outcome(outcome)
    solution = exact(problem)
    trace = [quality(v, solution) for v in result.best_feasible_trace]
    return {
        "gap": 1.0 - trace[-1],
        "mean_gap": approximation_gap(result.expected_feasible_objective, solution),
        "feasible": result.feasible_probability,
        "evals": float(evaluations_to_99(trace)) if max(trace) > 0 else math.nan,
        "evaluations": float(len(outcome.evaluations)),
        "seconds": seconds,
    }


def run_annealing(problem: PortfolioProblem, seed: int, sweeps: int) -> dict[str, float]:
    solution = exact(problem)
    started = time.perf_counter()
    run = simulated_annealing(problem, seed, sweeps=sweeps)
    seconds = time.perf_counter() - started
    trace = [quality(v, solution) for v in run.best_trace[1:]]
    return {
        "gap": 1.0 - trace[-1],
        "mean_gap": math.nan,
        "feasible": 1.0,
        "evals": float(evaluations_to_99(trace)),
        "evaluations": float(len(trace)),
        "seconds": seconds,
    }


def median(rows: list[dict[str, float]], key: str) -> float:
    values = [r[key] for r in rows if math.isfinite(r[key])]
    return statistics.median(values) if values else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 12, 16])
    parser.add_argument("--reps", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--max-iterations", type=int, default=40)
    parser.add_argument("--risk-aversion", type=float, default=5.0)
    parser.add_argument("--sweeps", type=int, default=200)
    parser.add_argument("--mixers", nargs="+", default=["x", "xy"], choices=["x", "xy"])
    args = parser.parse_args()
    prices = load_sp500()
    began = time.perf_counter()
    print(
        f"portfolio selection, skfolio sp500_dataset, K = N/2, q = {args.risk_aversion:g}, {args.seeds} market windows"
        f" per N; QAOA ({'/'.join(args.mixers)} mixer): COBYLA <= {args.max_iterations} evaluations"
        f" x {args.shots} shots, ideal Aer; SA: {args.sweeps}"
        " sweeps of N swap proposals"
    )
    print(
        f"{'N':>3} {'method':<13} {'gap':>7} {'mean gap':>9} {'random':>7} {'feasible':>9} {'random':>7}"
        f" {'evals→99%':>10} {'evals':>6} {'s/run':>7}"
    )
    for n in args.sizes:
        problems = [instance(prices, n, seed, args.risk_aversion) for seed in range(args.seeds)]
        random_share = math.comb(n, n // 2) / 2**n
        random_gaps = []
        for p in problems:
            solution = exact(p)
            random_gaps.append(approximation_gap(solution.mean_objective, solution))
        random_gap = statistics.median(random_gaps)
        table: dict[str, list[dict[str, float]]] = {}
        for mixer in args.mixers:
            for reps in args.reps:
                label = f"QAOA p={reps}" + (" xy" if mixer == "xy" else "")
                table[label] = [run_qaoa(p, reps, seed, args, mixer) for seed, p in enumerate(problems)]
        table["SA"] = [run_annealing(p, seed, args.sweeps) for seed, p in enumerate(problems)]
        for method, rows in table.items():
            mean_gap = median(rows, "mean_gap")
            print(
                f"{n:>3} {method:<13} {median(rows, 'gap'):>7.4f} {mean_gap:>9.4f} {random_gap:>7.4f}"
                f" {median(rows, 'feasible'):>9.3f}"
                f" {random_share:>7.3f} {median(rows, 'evals'):>10.0f} {median(rows, 'evaluations'):>6.0f}"
                f" {median(rows, 'seconds'):>7.2f}"
            )
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
