"""Operators for the portfolio optimisation workflow, one per stage of `include.pipelines.portfolio`.

Parameters arrive as a mapping (the DAG passes its Params, templated); references to earlier
artifacts arrive as XComArgs and are resolved before `execute`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from operators.operators.base import ArtifactStageOperator, ValidationStageOperator
from operators.operators.loop import VariationalLoopOperator

if TYPE_CHECKING:
    from include.pipelines.portfolio import PortfolioParams
    from include.store.artifacts import ArtifactRef, ArtifactStore


class _PortfolioOperator(ArtifactStageOperator):
    template_fields: tuple[str, ...] = ("problem",)

    def __init__(self, *, problem: Mapping[str, Any] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problem = problem

    def params_obj(self) -> PortfolioParams:
        from include.pipelines.portfolio import PortfolioParams
        from include.problems.maxcut import ProblemSpecError

        if not isinstance(self.problem, Mapping):
            raise ProblemSpecError(f"problem must be a mapping of portfolio parameters, got {self.problem!r}")
        return PortfolioParams.from_mapping(self.problem)


class PortfolioPricesOperator(_PortfolioOperator):
    """The price table: skfolio's bundled S&P 500 extract, or a Parquet/CSV in S3 (``data_uri``)."""

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.portfolio import stage_prices

        return stage_prices(store, prefix, self.params_obj())


class PortfolioValidateOperator(ValidationStageOperator, _PortfolioOperator):
    """The GX price suite on the run's window; a failure stops the run before any model or job.
    Its report and GX Data Docs are stored (the "GX Data Docs" link, also on a failed task)."""

    template_fields = ("problem", "prices")

    def __init__(self, *, prices: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prices = prices

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.portfolio import stage_validate

        return stage_validate(store, prefix, self.ref(self.prices), self.params_obj())


class PortfolioModelOperator(_PortfolioOperator):
    """Returns, expected returns and the Ledoit–Wolf covariance; the held-out window after it."""

    template_fields = ("problem", "prices", "validation")

    def __init__(self, *, prices: Any, validation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prices = prices
        self.validation = validation

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.portfolio import stage_model

        return stage_model(store, prefix, self.ref(self.prices), self.ref(self.validation), self.params_obj())


class PortfolioEncodeOperator(_PortfolioOperator):
    """K-of-N selection → QUBO with the checked penalty → Ising SparsePauliOp → QAOA ansatz (QPY)."""

    template_fields = ("problem", "model", "validation")

    def __init__(self, *, model: Any, validation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.validation = validation

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.portfolio import stage_encode

        return stage_encode(store, prefix, self.ref(self.model), self.ref(self.validation), self.params_obj())


class PortfolioOptimiseOperator(VariationalLoopOperator, _PortfolioOperator):
    """The QAOA loop on ``loop_backend``: one job per evaluation through the submission protocol,
    transpiled once, held or deferred between evaluations, checkpointed each step."""

    template_fields = ("problem", "model", "encoding", "loop_backend", "approved")
    ui_color = "#efe4fb"
    loop_stage = ("include.pipelines.portfolio", "portfolio_loop", "store_optimise")
    loop_inputs = ("model", "encoding")

    def __init__(self, *, model: Any, encoding: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.encoding = encoding


class PortfolioBaselinesOperator(_PortfolioOperator):
    """Exact, greedy, local search, simulated annealing and the continuous mean-variance optimum."""

    template_fields = ("problem", "model", "validation")

    def __init__(self, *, model: Any, validation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.validation = validation

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.portfolio import stage_baselines

        return stage_baselines(store, prefix, self.ref(self.model), self.ref(self.validation), self.params_obj())


class PortfolioAggregateOperator(ArtifactStageOperator):
    """Objective, feasibility, approximation gap, out-of-sample figures, quantum value added."""

    template_fields = ("stages", "workload")

    def __init__(self, *, stages: Mapping[str, Any], workload: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stages = stages
        self.workload = workload  # records quantum value added per workload (None: not recorded)

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        import math

        from include.pipelines.portfolio import stage_aggregate
        from include.summary import format_summary

        upstream = {name: self.ref(value) for name, value in self.stages.items()}
        summary = stage_aggregate(store, prefix, upstream["optimise"], upstream["baselines"], upstream)
        self.log.info("\n%s", format_summary(store, summary.uri))
        row = store.read_table(summary).iloc[0]
        if self.workload and "sample_tier" in row.index and int(row["sample_tier"]) == 1:
            from include.governance.quantum_value import QuantumValueRecord

            # Recorded as utilities (−objective: higher is better, as the record's value added
            # reads); a run whose samples held no feasible selection counts as the worst one.
            quantum = float(row["qaoa_objective"])
            if math.isnan(quantum):
                quantum = float(row["worst_feasible_objective"])
            value = QuantumValueRecord().record(
                self.workload,
                context["run_id"],
                quantum_objective=-quantum,
                classical_objective=-float(row["best_classical_objective"]),
                quantum_seconds=float(row["qaoa_compute_seconds"]),
                classical_seconds=float(row["best_heuristic_seconds"]),
            )
            self.log.info("quantum value added for %s: %+g (recorded)", self.workload, value)
        return summary
