"""The data stages: load → validate raw → preprocess (reused by content) → validate features."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from include.data.datasets import DataSpecError
from include.data.validation import raise_with_stored_report
from include.pipelines.vqc_classifier.params import DATA_DOCS, DEFAULT_CACHE_PREFIX, VQCClassifierParams
from include.pipelines.vqc_classifier.reuse import REUSE_DISABLED, lookup_reuse, reuse_key
from include.store.artifacts import ArtifactRef, ArtifactStore, canonical_json
from include.store.versions import code_version_known

log = logging.getLogger(__name__)


def _seconds(started: float) -> float:
    return time.perf_counter() - started


def _require_passed(store: ArtifactStore, validation: ArtifactRef) -> dict[str, Any]:
    manifest = store.read_manifest(validation.uri)
    if manifest["stage"] != "validate" or not manifest["measurements"].get("success"):
        raise DataSpecError(f"{validation.uri} is not a passed validation; later stages only take validated inputs")
    return manifest


# -- load and validate ----------------------------------------------------------------------


def stage_load(store: ArtifactStore, prefix: str, params: VQCClassifierParams) -> ArtifactRef:
    """A built-in scikit-learn data set (offline), or a Parquet/CSV table from S3."""
    from include.data.datasets import load_builtin, parse_table

    started = time.perf_counter()
    inputs: list[ArtifactRef] = []
    if params.dataset == "s3":
        source = store.source_ref(params.data_uri)
        frame = parse_table(store.get_bytes(source.uri), params.data_uri, params.max_rows)
        inputs = [source]
        declared = params.feature_list() or [
            str(c) for c in frame.columns if c not in (params.id_column, params.label_column)
        ]
        origin = params.data_uri
    else:
        loaded = load_builtin(params.dataset, params.n_classes)
        frame, origin = loaded.frame, loaded.source
        declared = params.feature_list() or list(loaded.feature_columns)
        unknown = sorted(set(declared) - set(loaded.feature_columns))
        if unknown:
            raise DataSpecError(
                f"features: {unknown} are not columns of {params.dataset}; choose from {list(loaded.feature_columns)}"
            )
        frame = frame[[params.id_column, *declared, params.label_column]]  # the subset asked for
    return store.put_table(
        prefix,
        "raw",
        frame,
        stage="load",
        inputs=inputs,
        params={
            "dataset": params.dataset,
            "source": origin,
            "n_classes": params.n_classes if params.dataset != "s3" else 0,
            "feature_columns": declared,
            "label_column": params.label_column,
            "id_column": params.id_column,
        },
        measurements={"seconds": _seconds(started), "rows": len(frame)},
    )


def _store_validation(
    store: ArtifactStore,
    prefix: str,
    name: str,
    report: Any,
    inputs: list[ArtifactRef],
    params: dict[str, Any],
    started: float,
) -> ArtifactRef:
    return store.put_table(
        prefix,
        name,
        report.frame(),
        stage="validate",
        inputs=inputs,
        # data_docs: "rendered", or "render failed: ..." when the attachment is only a stub saying so.
        params={"suite": report.suite, "data_docs": report.data_docs, **params},
        attachments={DATA_DOCS: report.data_docs_html.encode()},
        measurements={
            "success": report.success,
            "failed": len(report.failures),
            "seconds": _seconds(started),
        },
    )


def stage_validate_raw(store: ArtifactStore, prefix: str, raw: ArtifactRef, params: VQCClassifierParams) -> ArtifactRef:
    """The raw-table suite; its report (and Data Docs) is stored, then a failure stops the run."""
    from include.data.validation import RawTableSchema, validate_raw_table

    started = time.perf_counter()
    declared = store.read_manifest(raw.uri)["params"]
    schema = RawTableSchema(
        feature_columns=tuple(declared["feature_columns"]),
        label_column=params.label_column,
        id_column=params.id_column,
        min_rows=params.min_rows,
    )
    report = validate_raw_table(store.read_table(raw), schema)
    ref = _store_validation(
        store,
        prefix,
        "validation_raw",
        report,
        [raw],
        {"feature_columns": list(schema.feature_columns), "min_rows": schema.min_rows},
        started,
    )
    log.info("raw-table suite: %s (%.2fs)", "passed" if report.success else "FAILED", _seconds(started))
    raise_with_stored_report(report, ref)
    return ref


# -- preprocess (content-addressed) ---------------------------------------------------------


def preprocess_spec(store: ArtifactStore, raw: ArtifactRef, params: VQCClassifierParams) -> Any:
    from include.data.preprocess import PreprocessSpec

    declared = store.read_manifest(raw.uri)["params"]
    return PreprocessSpec(
        feature_columns=tuple(declared["feature_columns"]),
        label_column=params.label_column,
        id_column=params.id_column,
        impute=params.impute,
        scaler=params.scaler,
        reduction=params.reduction,
        n_components=min(params.features_kept, len(declared["feature_columns"])),
        angle_range=(0.0, math.pi),
        test_size=params.test_size,
        seed=params.seed,
    )


def stage_preprocess(
    store: ArtifactStore,
    prefix: str,
    raw: ArtifactRef,
    validation: ArtifactRef,
    params: VQCClassifierParams,
    cache_prefix: str = DEFAULT_CACHE_PREFIX,
) -> ArtifactRef:
    """Impute / standardise / reduce / scale into the angle range, fitted on the train split.

    Content-addressed: when the raw table's hash and the preprocessing parameters match an
    earlier run's (and that run's artifacts still verify), their features artifact is returned
    and the work is skipped (logged). Otherwise writes ``transform`` and ``features``.
    """
    from include.data.preprocess import preprocess_frame

    _require_passed(store, validation)
    started = time.perf_counter()
    spec = preprocess_spec(store, raw, params)
    key = reuse_key([raw], spec.params())
    index_uri = store.uri(f"{cache_prefix.strip('/')}/{key}.json")
    # With no known code version the key cannot tell this code from any other: never reuse, and
    # record nothing for reuse either (the manifest says so under params.reuse).
    reusable = code_version_known()
    if not reusable:
        log.warning("preprocess: not reusing earlier work (%s)", REUSE_DISABLED)
    reused = lookup_reuse(store, index_uri) if reusable else None
    if reused is not None:
        log.info(
            "preprocess: inputs and parameters unchanged (key %s); reusing %s and skipping the work",
            key[:16],
            reused["features"].uri,
        )
        return reused["features"]
    result = preprocess_frame(store.read_table(raw), spec)
    transform = result.transform
    transform_ref = store.put_table(
        prefix,
        "transform",
        transform.frame(),
        stage="preprocess",
        inputs=[raw],
        params={"transform_sha256": transform.sha256, **spec.params()},
        seeds={"split": spec.seed},
        attachments={"transform.json": transform.to_json()},
    )
    assert result.features is not None
    n_classes = int(result.features["label"].nunique())
    features_ref = store.put_table(
        prefix,
        "features",
        result.features,
        stage="preprocess",
        inputs=[raw, validation, transform_ref],
        params={
            **spec.params(),
            "transform_sha256": transform.sha256,
            "feature_columns": transform.output_columns,
            "n_classes": n_classes,
            "n_train": result.n_train,
            "n_test": result.n_test,
            "n_dropped": result.n_dropped,
            "n_clipped_test": result.n_clipped_test,
            "reuse_key": key,
            "reuse": "enabled" if reusable else REUSE_DISABLED,
        },
        seeds={"split": spec.seed},
        measurements={"seconds": _seconds(started)},
    )
    if not reusable:
        log.info("preprocess: wrote %s (not recorded for reuse: code version unknown)", features_ref.uri)
        return features_ref
    index = {
        "key": key,
        "artifacts": {"features": features_ref.to_xcom(), "transform": transform_ref.to_xcom()},
    }
    store.put_bytes(index_uri, canonical_json(index), content_type="application/json")
    log.info("preprocess: wrote %s; recorded for reuse under key %s", features_ref.uri, key[:16])
    return features_ref


def stage_validate_features(store: ArtifactStore, prefix: str, features: ArtifactRef) -> ArtifactRef:
    from include.data.validation import validate_features

    started = time.perf_counter()
    manifest = store.read_manifest(features.uri)["params"]
    angle_range = (float(manifest["angle_range"][0]), float(manifest["angle_range"][1]))
    report = validate_features(store.read_table(features), manifest["feature_columns"], angle_range)
    ref = _store_validation(
        store, prefix, "validation_features", report, [features], {"angle_range": list(angle_range)}, started
    )
    raise_with_stored_report(report, ref)
    return ref
