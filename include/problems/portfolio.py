"""Cardinality-constrained portfolio selection: real prices → returns → a market model → a QUBO /
Ising Hamiltonian with the cardinality constraint as a checked penalty.

The decision is which K of N assets to hold, equally weighted: ``x ∈ {0,1}^N`` with ``Σx = K`` and
weights ``w = x / K``. The objective (minimised) is the negative mean-variance utility of that
portfolio, ``f(x) = q·wᵀΣw − μᵀw`` (annualised μ and Σ, risk aversion q) — the same utility the
continuous long-only optimum (``include.problems.portfolio_baselines.mean_variance``) maximises
over all weights, so the continuous optimum's objective is a lower bound on every selection's.

The constraint enters as ``P·(Σx − K)²``. The penalty weight follows one stated rule
(``penalty_weight``): P exceeds a bound on the largest change of f a single bit flip can make.
Any infeasible x with |Σx − K| = d ≥ 1 is d flips from a feasible y with f(y) ≤ f(x) + d·Δ, so its
penalised value f(x) + P·d² > f(y) ≥ f*: every infeasible state scores worse than the best
feasible one, and the QUBO's minimum is the constrained optimum (tested by brute force).

Prices are a wide table: a ``date`` column (one row per trading day) and one float column per
ticker. skfolio ships one offline (``sp500_dataset``: 20 US stocks, daily, 1990–2022).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from include.problems.maxcut import ProblemSpecError, bits_to_bitstring, bitstring_to_bits

if TYPE_CHECKING:  # Qiskit loads only when the Hamiltonian is built
    from qiskit.quantum_info import SparsePauliOp

DATE_COLUMN = "date"
TRADING_DAYS = 252  # annualisation of daily returns (mean × 252, covariance × 252, volatility × √252)
SP500_SOURCE = "skfolio:sp500_dataset"
PENALTY_MARGIN = 1.05  # P = 1.05 × the single-flip bound: strictly above it, no larger than needed


def load_sp500() -> pd.DataFrame:
    """skfolio's bundled S&P 500 extract (20 stocks' adjusted daily closes; read from the wheel,
    nothing downloaded) as a price table."""
    from skfolio.datasets import load_sp500_dataset

    frame = load_sp500_dataset()
    frame = frame.rename_axis(DATE_COLUMN).reset_index()
    return price_table(frame)


def price_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical price table: ``date`` (datetime64[ns], sorted) then the ticker columns as float64.

    Structural problems (no date column, unparseable dates, text in a price column) raise here,
    naming the column; value problems (NaN, non-positive prices, gaps, short history) are left to
    the GX suite, which reports every one of them.
    """
    if DATE_COLUMN not in frame.columns:
        raise ProblemSpecError(
            f"the price table has no {DATE_COLUMN!r} column (columns: {list(frame.columns)[:8]}...); "
            f"it needs a {DATE_COLUMN!r} column and one numeric column per ticker"
        )
    try:
        dates = pd.to_datetime(frame[DATE_COLUMN]).astype("datetime64[ns]")
    except (ValueError, TypeError) as exc:
        raise ProblemSpecError(f"price table column {DATE_COLUMN!r} has values that are not dates: {exc}") from exc
    tickers = [str(c) for c in frame.columns if c != DATE_COLUMN]
    if not tickers:
        raise ProblemSpecError("the price table has no ticker columns besides 'date'")
    out = pd.DataFrame({DATE_COLUMN: dates.to_numpy()})
    for column, ticker in zip([c for c in frame.columns if c != DATE_COLUMN], tickers, strict=True):
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values):
            raise ProblemSpecError(
                f"price table column {ticker!r} has dtype {values.dtype}; prices must be numbers "
                f"(e.g. {values.iloc[0]!r})"
            )
        out[ticker] = values.astype("float64").to_numpy()
    return out.sort_values(DATE_COLUMN, kind="mergesort", ignore_index=True)


def parse_tickers(text: str) -> list[str]:
    """'AAPL, msft' → ['AAPL', 'MSFT'] (tickers are upper case; order kept, duplicates refused)."""
    tickers = [t.strip().upper() for t in text.split(",") if t.strip()]
    duplicated = sorted({t for t in tickers if tickers.count(t) > 1})
    if duplicated:
        raise ProblemSpecError(f"tickers={text!r} lists {duplicated} more than once; list each ticker once")
    return tickers


def select_assets(columns: Sequence[str], tickers: Sequence[str], n_assets: int) -> list[str]:
    """The run's assets: the listed ``tickers``, else the table's first ``n_assets`` ticker columns.
    (Listed tickers missing from the table are reported by validation, not here.)"""
    available = [c for c in columns if c != DATE_COLUMN]
    return list(tickers) if tickers else available[:n_assets]


def price_window(prices: pd.DataFrame, assets: Sequence[str], lookback_days: int, holdout_days: int) -> pd.DataFrame:
    """The most recent ``lookback_days + holdout_days + 1`` prices of ``assets`` (the extra row
    gives the first return), with ``gap_days`` = calendar days since the previous row."""
    present = [a for a in assets if a in prices.columns]
    window = prices[[DATE_COLUMN, *present]].tail(lookback_days + holdout_days + 1).reset_index(drop=True)
    gaps = window[DATE_COLUMN].diff().dt.days.fillna(0).astype("int64")
    return window.assign(gap_days=gaps.to_numpy())


# Market windows over one price history (the benchmarks' instances): window w estimates from the
# LOOKBACK daily returns ending w × STEP trading days before the last date, HOLDOUT days after.
WINDOW_LOOKBACK_DAYS, WINDOW_HOLDOUT_DAYS, WINDOW_STEP_DAYS = 252, 63, 63


def market_window(
    prices: pd.DataFrame,
    n_assets: int,
    window: int,
    lookback_days: int = WINDOW_LOOKBACK_DAYS,
    holdout_days: int = WINDOW_HOLDOUT_DAYS,
    step_days: int = WINDOW_STEP_DAYS,
) -> pd.DataFrame:
    """The price window of market window ``window`` (0 = the most recent) of the table's first
    ``n_assets`` tickers: ``price_window`` of the history cut ``window × step_days`` rows early."""
    if window < 0:
        raise ProblemSpecError(f"window={window}: market windows count from 0 (the most recent)")
    table = prices.iloc[: len(prices) - window * step_days]
    return price_window(table, select_assets(table.columns, [], n_assets), lookback_days, holdout_days)


@dataclass(frozen=True, eq=False)
class MarketModel:
    """Annualised expected returns and shrunk covariance from the estimation window, and the
    held-out daily returns that come after it (never used to estimate)."""

    tickers: tuple[str, ...]
    mu: np.ndarray
    cov: np.ndarray
    shrinkage: float
    estimation: pd.DataFrame  # daily simple returns, date + tickers
    holdout: pd.DataFrame


def estimate_model(window: pd.DataFrame, lookback_days: int, holdout_days: int) -> MarketModel:
    """Simple daily returns (skfolio's ``prices_to_returns``), split into the first
    ``lookback_days`` (estimation) and the last ``holdout_days`` (out of sample); μ = skfolio's
    ``EmpiricalMu``, Σ = skfolio's ``LedoitWolf`` (Ledoit–Wolf shrinkage to a scaled identity),
    both on the estimation window, annualised."""
    from skfolio.moments import EmpiricalMu, LedoitWolf
    from skfolio.preprocessing import prices_to_returns

    tickers = tuple(c for c in window.columns if c not in (DATE_COLUMN, "gap_days"))
    prices = window.set_index(DATE_COLUMN)[list(tickers)]
    returns = prices_to_returns(prices, log_returns=False, fill_nan=False)
    assert isinstance(returns, pd.DataFrame)
    if len(returns) != lookback_days + holdout_days:
        raise ProblemSpecError(
            f"{len(returns)} daily returns in the window; lookback_days + holdout_days = "
            f"{lookback_days + holdout_days} are needed (validate the price table first)"
        )
    estimation, holdout = returns.iloc[:lookback_days], returns.iloc[lookback_days:]
    mu = EmpiricalMu().fit(estimation.to_numpy()).mu_ * TRADING_DAYS
    covariance = LedoitWolf().fit(estimation.to_numpy())
    cov = covariance.covariance_ * TRADING_DAYS
    shrinkage = float(covariance.shrinkage_)  # the weight on the scaled identity, in [0, 1]
    return MarketModel(
        tickers,
        np.asarray(mu, dtype=np.float64),
        np.asarray(cov, dtype=np.float64),
        shrinkage,
        estimation.rename_axis(DATE_COLUMN).reset_index(),
        holdout.rename_axis(DATE_COLUMN).reset_index(),
    )


@dataclass(frozen=True, eq=False)
class PortfolioProblem:
    """Choose ``k`` of the assets (equal weights 1/k) minimising ``q·wᵀΣw − μᵀw``."""

    mu: np.ndarray
    cov: np.ndarray
    k: int
    risk_aversion: float

    @property
    def n_assets(self) -> int:
        return int(self.mu.size)

    def check(self) -> None:
        if not 1 <= self.k <= self.n_assets:
            raise ProblemSpecError(f"k={self.k}: choose between 1 and n_assets={self.n_assets} assets")
        if self.risk_aversion < 0:
            raise ProblemSpecError(f"risk_aversion={self.risk_aversion}: set risk_aversion >= 0")

    def objectives(self, bits: np.ndarray) -> np.ndarray:
        """f of each row of ``bits`` ((m, n) of 0/1), feasible or not, with w = x / k."""
        w = np.atleast_2d(np.asarray(bits, dtype=np.float64)) / self.k
        values: np.ndarray = self.risk_aversion * np.einsum("mi,ij,mj->m", w, self.cov, w) - w @ self.mu
        return values

    def objective(self, bits: np.ndarray) -> float:
        return float(self.objectives(bits)[0])

    def feasible(self, bits: np.ndarray) -> np.ndarray:
        counts: np.ndarray = np.atleast_2d(np.asarray(bits)).sum(axis=1) == self.k
        return counts

    def flip_bound(self) -> float:
        """An upper bound on |f(x ⊕ eᵢ) − f(x)| over every x and i: flipping bit i changes f by
        (q/k²)(Σᵢᵢ + 2Σⱼ≠ᵢ Σᵢⱼxⱼ) − μᵢ/k, whose size is at most (q/k²)(Σᵢᵢ + 2Σⱼ≠ᵢ|Σᵢⱼ|) + |μᵢ|/k."""
        off = np.abs(self.cov).sum(axis=1) - np.abs(np.diag(self.cov))
        per_bit = self.risk_aversion / self.k**2 * (np.diag(self.cov) + 2 * off) + np.abs(self.mu) / self.k
        return float(per_bit.max())


def penalty_weight(problem: PortfolioProblem, margin: float = PENALTY_MARGIN) -> float:
    """The rule: P = margin × ``flip_bound`` (margin > 1), so every infeasible state's penalised
    value exceeds the best feasible one's (see the module docstring)."""
    if margin <= 1:
        raise ProblemSpecError(f"penalty margin={margin}: the rule needs a margin > 1 over the flip bound")
    return margin * max(problem.flip_bound(), 1e-12)


@dataclass(frozen=True, eq=False)
class Qubo:
    """``value(x) = xᵀQx + cᵀx + constant`` (Q symmetric; xᵢ² = xᵢ for bits)."""

    quadratic: np.ndarray
    linear: np.ndarray
    constant: float

    def values(self, bits: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(bits, dtype=np.float64))
        values: np.ndarray = np.einsum("mi,ij,mj->m", x, self.quadratic, x) + x @ self.linear + self.constant
        return values


def portfolio_qubo(problem: PortfolioProblem, penalty: float) -> Qubo:
    """f(x) + P(Σx − k)² as a QUBO: Q = (q/k²)Σ + P·𝟙𝟙ᵀ, c = −μ/k − 2Pk·𝟙, constant = Pk²."""
    n, k = problem.n_assets, problem.k
    quadratic = problem.risk_aversion / k**2 * problem.cov + penalty * np.ones((n, n))
    linear = -problem.mu / k - 2 * penalty * k * np.ones(n)
    return Qubo(quadratic, linear, float(penalty * k * k))


def qubo_ising(qubo: Qubo) -> tuple[SparsePauliOp, float]:
    """The QUBO as an Ising Hamiltonian: with xᵢ = (1 − zᵢ)/2 (bit 0 ↔ Z eigenvalue +1, Qiskit's
    little-endian qubit i = asset i), value(x) = ⟨x|H|x⟩ + offset for every bitstring.
    ZZᵢⱼ (i<j): Qᵢⱼ/2; Zᵢ: −(cᵢ + Qᵢᵢ)/2 − Σⱼ≠ᵢ Qᵢⱼ/2; offset: constant + Σ(cᵢ + Qᵢᵢ)/2 + Σᵢ<ⱼ Qᵢⱼ/2."""
    from qiskit.quantum_info import SparsePauliOp

    q = (qubo.quadratic + qubo.quadratic.T) / 2
    n = q.shape[0]
    linear = qubo.linear + np.diag(q)
    off = q - np.diag(np.diag(q))
    terms: list[tuple[str, list[int], float]] = []
    for i, j in itertools.combinations(range(n), 2):
        if off[i, j] != 0:
            terms.append(("ZZ", [i, j], float(off[i, j]) / 2))
    for i in range(n):
        terms.append(("Z", [i], float(-linear[i] / 2 - off[i].sum() / 2)))
    offset = qubo.constant + float(linear.sum()) / 2 + float(np.triu(off, 1).sum()) / 2
    return SparsePauliOp.from_sparse_list(terms, num_qubits=n).simplify(atol=0.0), offset


def feasible_selections(n_assets: int, k: int) -> np.ndarray:
    """Every selection of exactly k of n assets, as rows of bits (C(n, k) rows)."""
    rows = list(itertools.combinations(range(n_assets), k))
    bits = np.zeros((len(rows), n_assets), dtype=np.int8)
    for r, chosen in enumerate(rows):
        bits[r, list(chosen)] = 1
    return bits


@dataclass(frozen=True, eq=False)
class SelectionStatistics:
    """What a measured distribution says about a portfolio instance."""

    expected_value: float  # mean penalised QUBO value over the shots (what the QAOA loop minimises)
    feasible_probability: float  # share of shots with exactly k assets
    best_feasible_bitstring: str  # "" when no shot was feasible
    best_feasible_objective: float  # f of it (NaN when none)
    expected_feasible_objective: float  # mean f over the feasible shots (NaN when none)


def selection_statistics(counts: Mapping[str, int], problem: PortfolioProblem, qubo: Qubo) -> SelectionStatistics:
    """The one counts → portfolio figures path (the loop, the final sample, the bench)."""
    keys = sorted(counts)
    bits = np.array([bitstring_to_bits(k) for k in keys])
    weights = np.array([counts[k] for k in keys], dtype=np.float64)
    values = qubo.values(bits)
    feasible = problem.feasible(bits)
    objectives = problem.objectives(bits)
    total = weights.sum()
    if feasible.any():
        masked = np.where(feasible, objectives, np.inf)
        best = int(np.argmin(masked))
        best_bitstring, best_objective = keys[best], float(objectives[best])
        expected_feasible = float(objectives[feasible] @ weights[feasible] / weights[feasible].sum())
    else:
        best_bitstring, best_objective, expected_feasible = "", float("nan"), float("nan")
    return SelectionStatistics(
        float(values @ weights / total),
        float(weights[feasible].sum() / total),
        best_bitstring,
        best_objective,
        expected_feasible,
    )


def selection_tickers(bitstring: str, tickers: Sequence[str]) -> list[str]:
    bits = bitstring_to_bits(bitstring)
    return [t for t, b in zip(tickers, bits, strict=True) if b]


def selection_bitstring(bits: np.ndarray) -> str:
    return bits_to_bitstring(np.asarray(bits, dtype=np.int8))


def out_of_sample(weights: np.ndarray, holdout: pd.DataFrame, tickers: Sequence[str]) -> tuple[float, float]:
    """Annualised mean return and volatility of the fixed-weight portfolio (rebalanced daily to
    ``weights``) over the held-out daily returns."""
    daily = holdout[list(tickers)].to_numpy() @ np.asarray(weights, dtype=np.float64)
    return float(daily.mean() * TRADING_DAYS), float(daily.std(ddof=1) * np.sqrt(TRADING_DAYS))
