"""Operators for the QAOA MaxCut workflow, one per stage of `include.pipelines.qaoa_maxcut`.

Parameters arrive as a mapping (the DAG passes its Params, templated); references to earlier
artifacts arrive as XComArgs and are resolved before `execute`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from operators.operators.base import ArtifactStageOperator
from operators.operators.loop import VariationalLoopOperator

if TYPE_CHECKING:
    from include.pipelines.qaoa_maxcut import QAOAMaxCutParams
    from include.store.artifacts import ArtifactRef, ArtifactStore


class _MaxCutOperator(ArtifactStageOperator):
    template_fields: tuple[str, ...] = ("problem",)

    def __init__(self, *, problem: Mapping[str, Any] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problem = problem

    def params_obj(self) -> QAOAMaxCutParams:
        from include.pipelines.qaoa_maxcut import QAOAMaxCutParams
        from include.problems.maxcut import ProblemSpecError

        if not isinstance(self.problem, Mapping):
            raise ProblemSpecError(f"problem must be a mapping of QAOA MaxCut parameters, got {self.problem!r}")
        return QAOAMaxCutParams.from_mapping(self.problem)


class MaxCutGraphOperator(_MaxCutOperator):
    """Make the seeded graph, or load an edge-list Parquet from S3 (``edge_list_uri``)."""

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.qaoa_maxcut import stage_graph

        return stage_graph(store, prefix, self.params_obj())


class GraphValidateOperator(ArtifactStageOperator):
    """Great Expectations graph suite; failure stops the run before any quantum work."""

    template_fields = ("graph",)
    ui_color = "#fff4d6"

    def __init__(self, *, graph: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graph = graph

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.qaoa_maxcut import stage_validate

        return stage_validate(store, prefix, self.ref(self.graph))


class QAOAEncodeOperator(_MaxCutOperator):
    """MaxCut → Ising SparsePauliOp → QAOA ansatz (stored as QPY)."""

    template_fields = ("problem", "graph", "validation")

    def __init__(self, *, graph: Any, validation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graph = graph
        self.validation = validation

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.qaoa_maxcut import stage_encode

        return stage_encode(store, prefix, self.ref(self.graph), self.ref(self.validation), self.params_obj().reps)


class QAOAOptimiseOperator(VariationalLoopOperator, _MaxCutOperator):
    """The QAOA control loop on ``loop_backend``: one job per evaluation through the submission
    protocol, transpiled once, held or deferred between evaluations, checkpointed each step."""

    template_fields = ("problem", "graph", "encoding", "loop_backend", "approved")
    ui_color = "#efe4fb"
    loop_stage = ("include.pipelines.qaoa_maxcut", "qaoa_loop", "store_optimise")
    loop_inputs = ("graph", "encoding")

    def __init__(self, *, graph: Any, encoding: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graph = graph
        self.encoding = encoding


class MaxCutBaselinesOperator(_MaxCutOperator):
    """Exact, greedy, local search and simulated annealing on the same graph, each timed."""

    template_fields = ("problem", "graph", "validation")

    def __init__(self, *, graph: Any, validation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graph = graph
        self.validation = validation  # a dependency: baselines run only on validated graphs

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.qaoa_maxcut import stage_baselines

        return stage_baselines(store, prefix, self.ref(self.graph), self.params_obj().seed)


class MaxCutAggregateOperator(ArtifactStageOperator):
    """Approximation ratios and quantum value added; writes the result table and summary."""

    template_fields = ("stages", "workload")

    def __init__(self, *, stages: Mapping[str, Any], workload: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stages = stages
        self.workload = workload  # records quantum value added per workload (None: not recorded)

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.qaoa_maxcut import stage_aggregate
        from include.summary import format_summary

        upstream = {name: self.ref(value) for name, value in self.stages.items()}
        summary = stage_aggregate(store, prefix, upstream["optimise"], upstream["baselines"], upstream)
        self.log.info("\n%s", format_summary(store, summary.uri))
        row = store.read_table(summary).iloc[0]
        if self.workload and "sample_tier" in row.index and int(row["sample_tier"]) == 1:
            from include.governance.quantum_value import QuantumValueRecord

            value = QuantumValueRecord().record(
                self.workload,
                context["run_id"],
                quantum_objective=float(row["sample_best_cut"]),
                # The best of the heuristics and random sampling with QAOA's total shots.
                classical_objective=float(row["best_classical_cut"]),
                quantum_seconds=float(row["qaoa_compute_seconds"]),
                classical_seconds=float(row["best_heuristic_seconds"]),
            )
            self.log.info("quantum value added for %s: %+g (recorded)", self.workload, value)
        return summary
