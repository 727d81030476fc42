"""The portfolio's QAOA problem through the one loop engine, on Aer, on real prices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from include.problems.portfolio import (
    PortfolioProblem,
    estimate_model,
    load_sp500,
    penalty_weight,
    portfolio_qubo,
    price_window,
    qubo_ising,
    select_assets,
    selection_statistics,
)
from include.problems.portfolio_baselines import exact
from include.quantum.circuits.qaoa import qaoa_ansatz
from include.quantum.loops.engine import LoopOutcome, MemoryCheckpoint
from include.quantum.loops.portfolio import PortfolioLoopResult, PortfolioObjective, PortfolioQAOAProblem
from include.quantum.loops.qaoa import run_held_loop


@pytest.fixture(scope="module")
def problem() -> PortfolioProblem:
    prices = load_sp500()
    model = estimate_model(price_window(prices, select_assets(prices.columns, [], 6), 252, 63), 252, 63)
    return PortfolioProblem(model.mu, model.cov, 3, 5.0)


def loop(
    problem: PortfolioProblem, max_iterations: int, checkpoint: MemoryCheckpoint | None = None
) -> tuple[LoopOutcome, PortfolioObjective]:
    qubo = portfolio_qubo(problem, penalty_weight(problem))
    cost, _ = qubo_ising(qubo)
    ansatz = qaoa_ansatz(cost / float(np.abs(cost.coeffs).max()), 1)
    objective = PortfolioObjective(problem, qubo)
    outcome = run_held_loop(
        PortfolioQAOAProblem(ansatz, objective),
        shots=512,
        max_iterations=max_iterations,
        seed=11,
        checkpoint=checkpoint,
    )
    return outcome, objective


def test_the_loop_minimises_the_penalised_value_and_keeps_the_best_feasible_selection(
    problem: PortfolioProblem,
) -> None:
    outcome, _ = loop(problem, 25)
    result = PortfolioLoopResult.from_outcome(outcome)
    assert 1 <= len(result.evaluations) <= 25
    assert result.best_value == min(e.value for e in outcome.evaluations)
    assert result.best_feasible_bitstring.count("1") == 3
    bits = np.array([int(b) for b in reversed(result.best_feasible_bitstring)])
    assert result.best_feasible_objective == pytest.approx(problem.objective(bits))
    assert result.best_feasible_objective >= exact(problem).objective - 1e-12
    trace = result.trace_frame()
    finite = trace["best_feasible_objective"].dropna()
    assert finite.is_monotonic_decreasing and finite.iloc[-1] == result.best_feasible_objective
    assert 0 <= result.feasible_probability <= 1
    assert math.isnan(result.expected_feasible_objective) or (
        result.expected_feasible_objective >= result.best_feasible_objective
    )


def test_the_score_is_selection_statistics_of_the_counts(problem: PortfolioProblem) -> None:
    qubo = portfolio_qubo(problem, penalty_weight(problem))
    objective = PortfolioObjective(problem, qubo)
    counts = {"000111": 3, "111111": 1}
    value, metrics = objective.metrics(counts)
    stats = selection_statistics(counts, problem, qubo)
    assert value == stats.expected_value and metrics["feasible_probability"] == 0.75
    assert metrics["best_feasible_bitstring"] == "000111"
    _, none = objective.metrics({"111111": 4})
    assert none["best_feasible_objective"] is None and none["expected_feasible_objective"] is None  # JSON-safe


def test_an_interrupted_loop_resumes_to_the_same_trace(problem: PortfolioProblem) -> None:
    whole, _ = loop(problem, 8)
    checkpoint = MemoryCheckpoint()
    first, _ = loop(problem, 4, checkpoint)
    assert len(checkpoint.history) == 4  # a loop stopped after 4 evaluations, all checkpointed
    resumed, _ = loop(problem, 8, checkpoint)
    assert resumed.evaluations[:4] == first.evaluations  # replayed from the record, not re-run
    assert [e.parameters for e in resumed.evaluations] == [e.parameters for e in whole.evaluations]
    assert [e.value for e in resumed.evaluations] == [e.value for e in whole.evaluations]
