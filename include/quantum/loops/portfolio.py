"""QAOA for cardinality-constrained portfolio selection, through the one loop engine.

``PortfolioQAOAProblem`` is ``QAOAProblem`` (the same ansatz builder, the same one pub per
evaluation, the same start point) with the portfolio's score: the mean penalised QUBO value of the
sampled selections (what the optimiser minimises), the share of shots that hold exactly K assets,
and the best *feasible* sampled selection's objective.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from include.problems.portfolio import PortfolioProblem, Qubo, selection_statistics
from include.quantum.loops.engine import Evaluation, LoopOutcome
from include.quantum.loops.qaoa import QAOAProblem


class PortfolioObjective:
    """Figures of sampled bitstrings for one portfolio instance (its problem and penalised QUBO)."""

    def __init__(self, problem: PortfolioProblem, qubo: Qubo) -> None:
        self.problem = problem
        self.qubo = qubo

    def metrics(self, counts: Mapping[str, int]) -> tuple[float, dict[str, Any]]:
        stats = selection_statistics(counts, self.problem, self.qubo)
        best = stats.best_feasible_objective
        return stats.expected_value, {
            "expected_value": stats.expected_value,
            "feasible_probability": stats.feasible_probability,
            "best_feasible_bitstring": stats.best_feasible_bitstring,
            # None, not NaN, when no shot was feasible: the checkpoint is JSON
            "best_feasible_objective": None if math.isnan(best) else best,
            # the mean objective over the feasible shots: what one feasible shot gives on average
            "expected_feasible_objective": None
            if math.isnan(stats.expected_feasible_objective)
            else stats.expected_feasible_objective,
        }


class PortfolioQAOAProblem(QAOAProblem):
    kind = "qaoa_portfolio"

    def __init__(self, ansatz: Any, objective: PortfolioObjective, initial_point: Sequence[float] | None = None):
        super().__init__(ansatz, objective, initial_point)  # type: ignore[arg-type]
        self.portfolio = objective

    def score(self, counts: Sequence[Sequence[Mapping[str, int]]]) -> tuple[float, dict[str, Any]]:
        return self.portfolio.metrics(dict(counts[0][0]))


def portfolio_qaoa(problem: PortfolioProblem, reps: int, mixer: str = "x") -> PortfolioQAOAProblem:
    """The instance's QAOA problem: the penalised QUBO (``penalty_weight``'s P) as an Ising cost,
    scaled to a largest coefficient of 1 (the optimiser's angles then mean the same across
    instances), in the p-layer ansatz with the chosen mixer."""
    import numpy as np

    from include.problems.portfolio import penalty_weight, portfolio_qubo, qubo_ising
    from include.quantum.circuits.qaoa import qaoa_ansatz

    qubo = portfolio_qubo(problem, penalty_weight(problem))
    cost, _ = qubo_ising(qubo)
    scale = float(np.abs(cost.coeffs).max()) or 1.0
    ansatz = qaoa_ansatz(cost / scale, reps, mixer=mixer, hamming_weight=problem.k)
    return PortfolioQAOAProblem(ansatz, PortfolioObjective(problem, qubo))


@dataclass
class PortfolioLoopResult:
    best_parameters: list[float]  # the lowest mean penalised value's θ: what the final sample uses
    best_value: float
    expected_value: float
    feasible_probability: float  # at best_parameters
    expected_feasible_objective: float  # at best_parameters (NaN: no feasible shot there)
    best_feasible_bitstring: str  # the best feasible selection sampled in any evaluation ("" if none)
    best_feasible_objective: float
    evaluations: list[Evaluation] = field(default_factory=list)
    best_feasible_trace: list[float] = field(default_factory=list)  # best feasible objective so far
    transpile_seconds: float = 0.0
    execute_seconds: float = 0.0
    transpile_count: int = 0

    @classmethod
    def from_outcome(cls, outcome: LoopOutcome) -> PortfolioLoopResult:
        best_so_far, trace = math.inf, []
        best_bitstring = ""
        for e in outcome.evaluations:
            value = e.metrics.get("best_feasible_objective")
            if value is not None and float(value) < best_so_far:
                best_so_far, best_bitstring = float(value), str(e.metrics["best_feasible_bitstring"])
            trace.append(best_so_far if best_bitstring else math.nan)
        best = outcome.best
        return cls(
            best_parameters=list(best.parameters) if best else [],
            best_value=best.value if best else math.nan,
            expected_value=float(best.metrics["expected_value"]) if best else math.nan,
            feasible_probability=float(best.metrics["feasible_probability"]) if best else math.nan,
            expected_feasible_objective=float(best.metrics.get("expected_feasible_objective") or math.nan)
            if best
            else math.nan,
            best_feasible_bitstring=best_bitstring,
            best_feasible_objective=best_so_far if best_bitstring else math.nan,
            evaluations=outcome.evaluations,
            best_feasible_trace=trace,
            transpile_seconds=outcome.transpile_seconds,
            execute_seconds=outcome.execute_seconds,
            transpile_count=outcome.transpile_count,
        )

    def trace_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "iteration": [e.iteration for e in self.evaluations],
                "parameters": [list(map(float, e.parameters)) for e in self.evaluations],
                "expected_value": [float(e.value) for e in self.evaluations],
                "feasible_probability": [float(e.metrics["feasible_probability"]) for e in self.evaluations],
                "best_feasible_objective": self.best_feasible_trace,
                "backend": [e.backend for e in self.evaluations],
            }
        )
