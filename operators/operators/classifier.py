"""Operators for the variational-classifier workflow, one per stage of
`include.pipelines.vqc_classifier`. Parameters arrive as a mapping (the DAG's Params, rendered
natively); earlier artifacts arrive as XComArgs (refs) resolved before `execute`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from operators.operators.base import ArtifactStageOperator, ValidationStageOperator
from operators.operators.loop import VariationalLoopOperator

if TYPE_CHECKING:
    from include.pipelines.vqc_classifier import VQCClassifierParams
    from include.store.artifacts import ArtifactRef, ArtifactStore


class _ClassifierOperator(ArtifactStageOperator):
    template_fields: tuple[str, ...] = ("config",)

    def __init__(self, *, config: Mapping[str, Any] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config

    def params_obj(self) -> VQCClassifierParams:
        from include.data.datasets import DataSpecError
        from include.pipelines.vqc_classifier import VQCClassifierParams

        if not isinstance(self.config, Mapping):
            raise DataSpecError(f"config must be a mapping of vqc_classifier parameters, got {self.config!r}")
        return VQCClassifierParams.from_mapping(self.config)


class LoadTableOperator(_ClassifierOperator):
    """A scikit-learn data set (offline) or a Parquet/CSV table from S3, as the raw artifact."""

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.vqc_classifier import stage_load

        return stage_load(store, prefix, self.params_obj())


class ValidateOperator(ValidationStageOperator, _ClassifierOperator):
    """A Great Expectations suite (``raw`` table or preprocessed ``features``) over an artifact.
    Its report and GX Data Docs are stored (see the "GX Data Docs" link); a failure stops the
    run before any quantum work."""

    template_fields = ("config", "table")
    SUITES = ("raw", "features")

    def __init__(self, *, suite: str, table: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if suite not in self.SUITES:
            raise ValueError(f"suite={suite!r} is not one of {self.SUITES}")
        self.suite = suite
        self.table = table

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.vqc_classifier import stage_validate_features, stage_validate_raw

        if self.suite == "raw":
            return stage_validate_raw(store, prefix, self.ref(self.table), self.params_obj())
        return stage_validate_features(store, prefix, self.ref(self.table))


class PreprocessOperator(_ClassifierOperator):
    """Impute / standardise / reduce / scale, fitted on the train split; reused (and the work
    skipped, as the log says) when the raw table and parameters are unchanged."""

    template_fields = ("config", "raw", "validation")

    def __init__(self, *, raw: Any, validation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.raw = raw
        self.validation = validation

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.vqc_classifier import stage_preprocess

        return stage_preprocess(store, prefix, self.ref(self.raw), self.ref(self.validation), self.params_obj())


class EncodeOperator(_ClassifierOperator):
    """Cost model over the candidate encodings and the choice (figures in the manifest)."""

    template_fields = ("config", "features", "validation")

    def __init__(self, *, features: Any, validation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.features = features
        self.validation = validation

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.vqc_classifier import stage_encode

        return stage_encode(store, prefix, self.ref(self.features), self.ref(self.validation), self.params_obj())


class VQCTrainOperator(VariationalLoopOperator, _ClassifierOperator):
    """The VQC training loop on ``loop_backend``: one job of the whole training split per
    evaluation through the submission protocol, transpiled once, held or deferred between
    evaluations, checkpointed each step."""

    template_fields = ("config", "features", "encoding", "loop_backend", "approved")
    ui_color = "#efe4fb"
    loop_stage = ("include.pipelines.vqc_classifier", "vqc_loop", "store_train")
    loop_inputs = ("features", "encoding")

    def __init__(self, *, features: Any, encoding: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.features = features
        self.encoding = encoding


class VQCEvaluateOperator(_ClassifierOperator):
    """Predict the held-out split; the results suite gates the predictions."""

    template_fields = ("config", "features", "encoding", "train")

    def __init__(self, *, features: Any, encoding: Any, train: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.features = features
        self.encoding = encoding
        self.train = train

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.vqc_classifier import stage_evaluate

        return stage_evaluate(
            store,
            prefix,
            self.ref(self.features),
            self.ref(self.encoding),
            self.ref(self.train),
            self.params_obj(),
        )


class ClassicalBaselinesOperator(_ClassifierOperator):
    """Logistic regression and RBF SVM on the same split, each timed."""

    template_fields = ("config", "features", "validation")

    def __init__(self, *, features: Any, validation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.features = features
        self.validation = validation

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.vqc_classifier import stage_baselines

        return stage_baselines(
            store, prefix, self.ref(self.features), self.ref(self.validation), self.params_obj().seed
        )


class ClassifierAggregateOperator(ArtifactStageOperator):
    """Accuracy, F1, training time and quantum value added; the result table and summary."""

    template_fields = ("stages",)

    def __init__(self, *, stages: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stages = stages

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.pipelines.vqc_classifier import stage_aggregate

        upstream = {name: self.ref(value) for name, value in self.stages.items()}
        summary = stage_aggregate(
            store, prefix, upstream["evaluate"], upstream["baselines"], upstream["train"], upstream
        )
        from include.summary import format_summary

        self.log.info("\n%s", format_summary(store, summary.uri))
        return summary
