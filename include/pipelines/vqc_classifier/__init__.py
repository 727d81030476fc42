"""The variational-classifier workflow as stage functions over the artifact store.

load → validate raw → preprocess (content-addressed, reused) → validate features → encode
(cost model + chooser) → train (checkpointed control loop) → evaluate (+ results suite) →
classical baselines → aggregate. Each stage reads its inputs by reference (verifying hashes)
and writes one artifact with a manifest; the Airflow operators call exactly these functions,
and ``run_pipeline`` chains them in one process.
"""

from include.pipelines.vqc_classifier.data_stages import (
    _store_validation,
    preprocess_spec,
    stage_load,
    stage_preprocess,
    stage_validate_features,
    stage_validate_raw,
)
from include.pipelines.vqc_classifier.model_stages import (
    stage_aggregate,
    stage_baselines,
    stage_encode,
    stage_evaluate,
    stage_train,
    store_train,
    vqc_config,
    vqc_loop,
)
from include.pipelines.vqc_classifier.params import BACKENDS, DATA_DOCS, DEFAULT_CACHE_PREFIX, VQCClassifierParams
from include.pipelines.vqc_classifier.reuse import REUSE_DISABLED, lookup_reuse, reuse_key
from include.store.artifacts import ArtifactRef, ArtifactStore

__all__ = [
    "BACKENDS",
    "DATA_DOCS",
    "DEFAULT_CACHE_PREFIX",
    "REUSE_DISABLED",
    "VQCClassifierParams",
    "_store_validation",
    "lookup_reuse",
    "preprocess_spec",
    "reuse_key",
    "run_pipeline",
    "stage_aggregate",
    "stage_baselines",
    "stage_encode",
    "stage_evaluate",
    "stage_load",
    "stage_preprocess",
    "stage_train",
    "stage_validate_features",
    "stage_validate_raw",
    "store_train",
    "vqc_config",
    "vqc_loop",
]


def run_pipeline(
    store: ArtifactStore,
    prefix: str,
    params: VQCClassifierParams,
    cache_prefix: str = DEFAULT_CACHE_PREFIX,
) -> ArtifactRef:
    """The whole workflow in one process, stage after stage (no orchestrator)."""
    raw = stage_load(store, prefix, params)
    validation_raw = stage_validate_raw(store, prefix, raw, params)
    features = stage_preprocess(store, prefix, raw, validation_raw, params, cache_prefix)
    validation_features = stage_validate_features(store, prefix, features)
    encoding = stage_encode(store, prefix, features, validation_features, params)
    train = stage_train(store, prefix, features, encoding, params)
    predictions = stage_evaluate(store, prefix, features, encoding, train, params)
    baselines = stage_baselines(store, prefix, features, validation_features, params.seed)
    upstream = {
        "load": raw,
        "validate_raw": validation_raw,
        "preprocess": features,
        "validate_features": validation_features,
        "encode": encoding,
        "train": train,
        "evaluate": predictions,
        "baselines": baselines,
    }
    return stage_aggregate(store, prefix, predictions, baselines, train, upstream)
