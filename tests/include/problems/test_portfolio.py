"""The portfolio problem on skfolio's real S&P 500 prices: estimators, QUBO / Ising, the penalty
rule checked by brute force, and the classical baselines against naive enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from include.problems.maxcut import ProblemSpecError, ising_energies
from include.problems.portfolio import (
    MarketModel,
    PortfolioProblem,
    estimate_model,
    feasible_selections,
    load_sp500,
    out_of_sample,
    parse_tickers,
    penalty_weight,
    portfolio_qubo,
    price_table,
    price_window,
    qubo_ising,
    select_assets,
    selection_statistics,
)
from include.problems.portfolio_baselines import (
    exact,
    greedy,
    local_search,
    mean_variance,
    random_sampling,
    run_baselines,
    simulated_annealing,
)


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return load_sp500()


def model_of(prices: pd.DataFrame, n: int, lookback: int = 252, holdout: int = 63, offset: int = 0) -> MarketModel:
    table = prices.iloc[: len(prices) - offset] if offset else prices
    return estimate_model(
        price_window(table, select_assets(table.columns, [], n), lookback, holdout), lookback, holdout
    )


def every_state(n: int) -> np.ndarray:
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.int8)


def test_the_bundled_prices_are_real_daily_closes(prices: pd.DataFrame) -> None:
    assert prices.shape == (8313, 21)
    assert prices["date"].is_monotonic_increasing and prices["date"].iloc[0] == pd.Timestamp("1990-01-02")
    assert prices.drop(columns="date").gt(0).all().all()


def test_the_model_is_skfolio_s_estimators_on_the_estimation_window_only(prices: pd.DataFrame) -> None:
    from sklearn.covariance import LedoitWolf

    model = model_of(prices, 6, lookback=120, holdout=30)
    assert len(model.estimation) == 120 and len(model.holdout) == 30
    assert model.estimation["date"].max() < model.holdout["date"].min()
    returns = model.estimation[list(model.tickers)].to_numpy()
    np.testing.assert_allclose(model.mu, returns.mean(axis=0) * 252, rtol=1e-12)
    np.testing.assert_allclose(model.cov, LedoitWolf().fit(returns).covariance_ * 252, rtol=1e-8)
    assert 0 < model.shrinkage < 1
    # Held-out prices never reach the estimates: change them and μ, Σ stay the same.
    window = price_window(prices, list(model.tickers), 120, 30)
    window.loc[window.index[-10:], list(model.tickers)] *= 3.0
    moved = estimate_model(window, 120, 30)
    np.testing.assert_array_equal(moved.mu, model.mu)
    np.testing.assert_array_equal(moved.cov, model.cov)
    assert not np.allclose(moved.holdout[list(model.tickers)], model.holdout[list(model.tickers)])


def test_the_objective_is_the_equal_weight_portfolio_s_negative_utility(prices: pd.DataFrame) -> None:
    model = model_of(prices, 7)
    problem = PortfolioProblem(model.mu, model.cov, 3, 2.5)
    bits = np.array([1, 0, 0, 1, 0, 1, 0])
    w = bits / 3
    assert problem.objective(bits) == pytest.approx(2.5 * w @ model.cov @ w - model.mu @ w, rel=1e-12)


@pytest.mark.parametrize(("n", "k", "q"), [(8, 4, 5.0), (8, 1, 0.0), (9, 7, 50.0), (10, 5, 1.0), (6, 3, 200.0)])
def test_every_infeasible_state_scores_worse_than_the_best_feasible_one(
    prices: pd.DataFrame, n: int, k: int, q: float
) -> None:
    problem = PortfolioProblem(*(lambda m: (m.mu, m.cov))(model_of(prices, n)), k, q)
    qubo = portfolio_qubo(problem, penalty_weight(problem))
    states = every_state(n)
    values = qubo.values(states)
    feasible = problem.feasible(states)
    best_feasible = values[feasible].min()
    assert values[~feasible].min() > best_feasible  # the penalty rule, by brute force
    assert best_feasible == pytest.approx(exact(problem).objective, abs=1e-12)  # the QUBO's minimum is f*
    np.testing.assert_allclose(values[feasible], problem.objectives(states[feasible]), atol=1e-12)


def test_the_flip_bound_bounds_every_single_flip_and_a_smaller_penalty_breaks_the_rule(prices: pd.DataFrame) -> None:
    model = model_of(prices, 8)
    problem = PortfolioProblem(model.mu, model.cov, 4, 0.0)  # q = 0: returns only, no risk to balance them
    states = every_state(8)
    f = problem.objectives(states)
    flips = np.array([np.abs(problem.objectives(states ^ np.eye(8, dtype=np.int8)[i]) - f).max() for i in range(8)])
    assert flips.max() <= problem.flip_bound() + 1e-12
    # Without the penalty the unconstrained minimum holds every positive-μ asset, not k of them:
    # the brute-force check above is one that fails when the rule is not followed.
    free = portfolio_qubo(problem, 0.0)
    assert not problem.feasible(states[np.argmin(free.values(states))])[0]
    with pytest.raises(ProblemSpecError, match="margin"):
        penalty_weight(problem, margin=1.0)


def test_the_ising_hamiltonian_gives_the_qubo_value_of_every_bitstring(prices: pd.DataFrame) -> None:
    model = model_of(prices, 9)
    problem = PortfolioProblem(model.mu, model.cov, 4, 3.0)
    qubo = portfolio_qubo(problem, penalty_weight(problem))
    cost, offset = qubo_ising(qubo)
    assert cost.num_qubits == 9 and all(set(label) <= {"I", "Z"} for label in cost.paulis.to_labels())
    states = every_state(9)
    np.testing.assert_allclose(ising_energies(states, cost) + offset, qubo.values(states), atol=1e-10)


def test_selection_statistics_reads_qiskit_bitstrings_little_endian(prices: pd.DataFrame) -> None:
    model = model_of(prices, 4)
    problem = PortfolioProblem(model.mu, model.cov, 2, 1.0)
    qubo = portfolio_qubo(problem, penalty_weight(problem))
    # "0011": assets 0 and 1 (rightmost bit is asset 0); "0111" holds 3; "1100": assets 2 and 3
    stats = selection_statistics({"0011": 6, "0111": 2, "1100": 2}, problem, qubo)
    assert stats.feasible_probability == pytest.approx(0.8)
    a, b = problem.objective(np.array([1, 1, 0, 0])), problem.objective(np.array([0, 0, 1, 1]))
    assert stats.best_feasible_objective == pytest.approx(min(a, b))
    assert stats.best_feasible_bitstring == ("0011" if a < b else "1100")
    assert stats.expected_feasible_objective == pytest.approx((6 * a + 2 * b) / 8)
    none = selection_statistics({"0111": 5}, problem, qubo)
    assert (
        none.feasible_probability == 0
        and none.best_feasible_bitstring == ""
        and math.isnan(none.best_feasible_objective)
    )


@pytest.mark.parametrize(("n", "k", "q"), [(8, 4, 5.0), (10, 3, 1.0), (12, 6, 20.0)])
def test_baselines_against_naive_enumeration(prices: pd.DataFrame, n: int, k: int, q: float) -> None:
    model = model_of(prices, n)
    problem = PortfolioProblem(model.mu, model.cov, k, q)
    naive = min(
        problem.objective(np.isin(np.arange(n), chosen).astype(np.int8))
        for chosen in itertools.combinations(range(n), k)
    )
    solution = exact(problem)
    assert solution.objective == pytest.approx(naive, abs=1e-14)
    assert solution.evaluations == math.comb(n, k) and solution.worst_objective > solution.objective
    for bits in (greedy(problem)[0], local_search(problem, 3)[0], simulated_annealing(problem, 3).bits):
        assert bits.sum() == k  # every heuristic keeps its selection feasible
        assert problem.objective(bits) >= naive - 1e-14
    again = simulated_annealing(problem, 3)
    assert again.objective == simulated_annealing(problem, 3).objective  # seeded
    assert again.best_trace == sorted(again.best_trace, reverse=True)  # best so far never gets worse
    weights = mean_variance(model.estimation[list(model.tickers)], q)
    assert weights.min() >= 0 and weights.sum() == pytest.approx(1.0)
    continuous = q * weights @ model.cov @ weights - model.mu @ weights
    assert continuous <= naive + 1e-9  # a lower bound: every equal-weight selection is one of its portfolios


def test_random_sampling_finds_k_assets_as_often_as_combinatorics_says(prices: pd.DataFrame) -> None:
    model = model_of(prices, 10)
    problem = PortfolioProblem(model.mu, model.cov, 5, 5.0)
    result = random_sampling(problem, 40_000, seed=1)
    assert result.feasible_probability == pytest.approx(math.comb(10, 5) / 2**10, abs=0.01)
    assert result.objective >= exact(problem).objective and result.bitstring.count("1") == 5


def test_run_baselines_times_each_method(prices: pd.DataFrame) -> None:
    model = model_of(prices, 8)
    problem = PortfolioProblem(model.mu, model.cov, 4, 5.0)
    results, solution = run_baselines(problem, model.estimation[list(model.tickers)], seed=7)
    assert [r.method for r in results] == ["exact", "greedy", "local_search", "simulated_annealing", "mean_variance"]
    assert results[0].objective == solution.objective and results[0].exact
    assert all(r.seconds >= 0 for r in results) and results[-1].bitstring == ""


def test_out_of_sample_is_the_fixed_weight_portfolio_annualised(prices: pd.DataFrame) -> None:
    model = model_of(prices, 3)
    weights = np.array([0.5, 0.5, 0.0])
    daily = model.holdout[list(model.tickers)].to_numpy() @ weights
    ret, vol = out_of_sample(weights, model.holdout, model.tickers)
    assert ret == pytest.approx(daily.mean() * 252) and vol == pytest.approx(daily.std(ddof=1) * math.sqrt(252))


def test_price_tables_and_tickers_refuse_what_cannot_be_read() -> None:
    with pytest.raises(ProblemSpecError, match="no 'date' column"):
        price_table(pd.DataFrame({"AAPL": [1.0]}))
    with pytest.raises(ProblemSpecError, match="'AAPL' has dtype"):
        price_table(pd.DataFrame({"date": ["2024-01-02"], "AAPL": ["one"]}))
    with pytest.raises(ProblemSpecError, match=r"\['AAPL'\] more than once"):
        parse_tickers("aapl, MSFT, AAPL")
    assert parse_tickers(" aapl,msft ") == ["AAPL", "MSFT"]
    with pytest.raises(ProblemSpecError, match="k=5"):
        PortfolioProblem(np.zeros(4), np.eye(4), 5, 1.0).check()
    assert feasible_selections(5, 2).sum(axis=1).tolist() == [2] * 10
