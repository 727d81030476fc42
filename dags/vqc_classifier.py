"""vqc_classifier: a tabular data set (scikit-learn's iris / wine / breast cancer, or a Parquet/CSV
table in S3) → GX raw-table validation → preprocessing (fitted transform, reused when unchanged)
→ GX feature validation → encoding chosen by a cost model → a variational quantum classifier
trained as a checkpointed control loop on the loop backend (one job of the whole training split per
evaluation; deferred between evaluations on queued backends) → held-out evaluation (GX results suite) →
logistic regression and RBF SVM on the same split → accuracy, F1, training time and quantum
value added. Every stage is stored in S3 with a lineage manifest."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag

from include.quantum.backends.catalogue import loop_backend_param
from operators.operators.classifier import (
    ClassicalBaselinesOperator,
    ClassifierAggregateOperator,
    EncodeOperator,
    LoadTableOperator,
    PreprocessOperator,
    ValidateOperator,
    VQCEvaluateOperator,
    VQCTrainOperator,
)
from operators.operators.datasets import DatasetVersionOperator, dataset_asset, from_dataset_version
from operators.retries import INFRASTRUCTURE_RETRIES

ENCODINGS = ["auto", "angle", "dense_angle", "amplitude", "zz", "iqp", "basis"]

PARAMS = {
    "dataset": Param("iris", enum=["iris", "wine", "breast_cancer", "s3"], title="Data set"),
    "data_uri": Param(
        None,
        type=["null", "string"],
        title="Table in S3 (dataset = s3)",
        description="s3://bucket/key.parquet or .csv with an id column, feature columns and a label column.",
    ),
    "n_classes": Param(2, type="integer", minimum=0, title="Classes kept (built-in data sets; 0 = all)"),
    "features": Param(
        None,
        type=["null", "string"],
        title="Feature columns (comma-separated)",
        description="Empty: every column except the id and the label.",
    ),
    "label_column": Param("label", type="string", minLength=1, title="Label column"),
    "id_column": Param("sample_id", type="string", title="Row id column"),
    "features_kept": Param(4, type="integer", minimum=1, maximum=16, title="Features kept (after PCA/selection)"),
    "reduction": Param("pca", enum=["pca", "select", "none"], title="Reduction (PCA or ANOVA-F selection)"),
    "scaler": Param("minmax", enum=["minmax", "standard"], title="Scaling into the angle range [0, π]"),
    "impute": Param("reject", enum=["reject", "mean", "drop"], title="Missing values"),
    "test_size": Param(0.25, type="number", exclusiveMinimum=0, exclusiveMaximum=1, title="Test share"),
    "encoding": Param("auto", enum=ENCODINGS, title="Encoding ('auto': cheapest that fits)"),
    "max_qubits": Param(8, type="integer", minimum=1, maximum=24, title="Qubit limit"),
    "max_depth": Param(200, type="integer", minimum=1, title="Encoding depth limit (after transpilation)"),
    "ansatz_reps": Param(1, type="integer", minimum=1, maximum=8, title="Ansatz reps"),
    "optimiser": Param("COBYLA", enum=["COBYLA", "Nelder-Mead", "Powell"], title="Classical optimiser"),
    "max_iterations": Param(40, type="integer", minimum=1, maximum=2000, title="Max loss evaluations"),
    "shots": Param(512, type="integer", minimum=1, maximum=100_000, title="Shots per circuit"),
    "seed": Param(7, type="integer", minimum=0, title="Seed (split, initial point, simulator, transpiler)"),
    "loop_backend": Param(
        **loop_backend_param(
            "training loop",
            "one job of the whole training split each",
            "A backend with fewer qubits than the chosen encoding needs fails before any job.",
        )
    ),
    "backend": Param(
        "aer_simulator",
        enum=["aer_simulator"],
        title="Backend for the held-out evaluation",
        description="The trained classifier predicts the test split here (in-process Aer); it is also the "
        "encoding cost model's target.",
    ),
    "max_rows": Param(200_000, type="integer", minimum=1, title="Row limit for the in-memory path"),
    "min_rows": Param(10, type="integer", minimum=2, title="Minimum rows (validation)"),
}

# A published classifier_table version (the asset-triggered run) sets the data source.
FROM_DATASET = ("dataset", "data_uri")
CONFIG = {name: from_dataset_version(name) if name in FROM_DATASET else "{{ params." + name + " }}" for name in PARAMS}


@dag(
    dag_id="vqc_classifier",
    # Retrains when a new classifier_table version is published (debounced, de-duplicated by content
    # hash: docs/datasets.md); the form and the REST API still trigger it by hand.
    schedule=[dataset_asset("classifier_table")],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=INFRASTRUCTURE_RETRIES,  # a killed worker or an outage retries; bad data fails at once
    params=PARAMS,
    render_template_as_native_obj=True,
    tags=["qflow", "qml", "vqc"],
    doc_md=__doc__,
)
def vqc_classifier() -> None:
    version = DatasetVersionOperator(task_id="dataset_version", dataset="classifier_table")
    raw = LoadTableOperator(task_id="load", config=CONFIG)
    version >> raw
    validate_raw = ValidateOperator(task_id="validate_raw", suite="raw", config=CONFIG, table=raw.output)
    features = PreprocessOperator(task_id="preprocess", config=CONFIG, raw=raw.output, validation=validate_raw.output)
    validate_features = ValidateOperator(
        task_id="validate_features", suite="features", config=CONFIG, table=features.output
    )
    encoding = EncodeOperator(
        task_id="encode", config=CONFIG, features=features.output, validation=validate_features.output
    )
    train = VQCTrainOperator(
        task_id="train",
        config=CONFIG,
        features=features.output,
        encoding=encoding.output,
        loop_backend="{{ params.loop_backend }}",
    )
    evaluate = VQCEvaluateOperator(
        task_id="evaluate",
        config=CONFIG,
        features=features.output,
        encoding=encoding.output,
        train=train.output,
    )
    baselines = ClassicalBaselinesOperator(
        task_id="baselines", config=CONFIG, features=features.output, validation=validate_features.output
    )
    ClassifierAggregateOperator(
        task_id="aggregate",
        stages={
            "load": raw.output,
            "validate_raw": validate_raw.output,
            "preprocess": features.output,
            "validate_features": validate_features.output,
            "encode": encoding.output,
            "train": train.output,
            "evaluate": evaluate.output,
            "baselines": baselines.output,
        },
    )


vqc_classifier()
