"""The variational-classifier workflow as stage functions over the artifact store.

load → validate raw → preprocess (content-addressed, reused) → validate features → encode
(cost model + chooser) → train (checkpointed control loop) → evaluate (+ results suite) →
classical baselines → aggregate. Each stage reads its inputs by reference (verifying hashes)
and writes one artifact with a manifest; the Airflow operators call exactly these functions,
and ``run_pipeline`` chains them in one process.
"""

from __future__ import annotations

import io
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from include.data.datasets import BUILTIN_DATASETS, DEFAULT_MAX_ROWS, DataSpecError
from include.params import params_from_mapping
from include.store.artifacts import ArtifactError, ArtifactRef, ArtifactStore, canonical_json, sha256_hex
from include.store.checkpoint import LoopCheckpoint
from include.store.versions import code_version, code_version_known

log = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("aer_simulator",)
DEFAULT_CACHE_PREFIX = "cache/preprocess"
DATA_DOCS = "data_docs.html"


@dataclass(frozen=True)
class VQCClassifierParams:
    """The run's parameters (the DAG's Params form). ``from_mapping`` names any bad field."""

    dataset: str = "iris"  # iris | wine | breast_cancer | s3 (then data_uri)
    data_uri: str = ""
    n_classes: int = 2  # built-in data sets: keep the first n classes (0 = all)
    features: str = ""  # comma-separated feature columns; empty = all but id and label
    label_column: str = "label"
    id_column: str = "sample_id"
    features_kept: int = 4
    reduction: str = "pca"
    scaler: str = "minmax"
    impute: str = "reject"
    test_size: float = 0.25
    encoding: str = "auto"
    max_qubits: int = 8
    max_depth: int = 200
    ansatz_reps: int = 1
    optimiser: str = "COBYLA"
    max_iterations: int = 40
    shots: int = 512
    seed: int = 7
    backend: str = "aer_simulator"
    max_rows: int = DEFAULT_MAX_ROWS
    min_rows: int = 10

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> VQCClassifierParams:
        return params_from_mapping(cls, values, DataSpecError)

    def check(self) -> None:
        from include.data.preprocess import IMPUTE_POLICIES, REDUCTIONS, SCALERS
        from include.quantum.circuits.encodings import ENCODINGS
        from include.quantum.loops.optimiser import OPTIMISERS

        if self.dataset not in (*BUILTIN_DATASETS, "s3"):
            raise DataSpecError(f"dataset={self.dataset!r} is not one of {(*BUILTIN_DATASETS, 's3')}")
        if self.dataset == "s3" and not self.data_uri.startswith("s3://"):
            raise DataSpecError(f"dataset='s3' needs data_uri=s3://bucket/key.parquet (or .csv), got {self.data_uri!r}")
        if self.dataset != "s3" and self.data_uri:
            raise DataSpecError(f"data_uri is only used with dataset='s3' (dataset={self.dataset!r})")
        checks = [
            (self.n_classes == 0 or self.n_classes >= 2, f"n_classes={self.n_classes}: set 0 (all) or >= 2"),
            (self.features_kept >= 1, f"features_kept={self.features_kept}: keep at least 1 feature"),
            (self.reduction in REDUCTIONS, f"reduction={self.reduction!r} is not one of {REDUCTIONS}"),
            (self.scaler in SCALERS, f"scaler={self.scaler!r} is not one of {SCALERS}"),
            (self.impute in IMPUTE_POLICIES, f"impute={self.impute!r} is not one of {IMPUTE_POLICIES}"),
            (0 < self.test_size < 1, f"test_size={self.test_size}: set 0 < test_size < 1"),
            (
                self.encoding == "auto" or self.encoding in ENCODINGS,
                f"encoding={self.encoding!r} is not 'auto' or one of {ENCODINGS}",
            ),
            (self.max_qubits >= 1, f"max_qubits={self.max_qubits}: set max_qubits >= 1"),
            (self.max_depth >= 1, f"max_depth={self.max_depth}: set max_depth >= 1"),
            (self.ansatz_reps >= 1, f"ansatz_reps={self.ansatz_reps}: set ansatz_reps >= 1"),
            (self.optimiser in OPTIMISERS, f"optimiser={self.optimiser!r} is not one of {OPTIMISERS}"),
            (self.max_iterations >= 1, f"max_iterations={self.max_iterations}: set max_iterations >= 1"),
            (self.shots >= 1, f"shots={self.shots}: set shots >= 1"),
            (self.backend in BACKENDS, f"backend={self.backend!r} is not one of {BACKENDS}"),
            (self.max_rows >= 1, f"max_rows={self.max_rows}: set max_rows >= 1"),
            (self.min_rows >= 2, f"min_rows={self.min_rows}: set min_rows >= 2"),
        ]
        for ok, message in checks:
            if not ok:
                raise DataSpecError(message)

    def feature_list(self) -> list[str]:
        return [c.strip() for c in self.features.split(",") if c.strip()]


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


def _raise_for_failures(report: Any, stored: ArtifactRef) -> None:
    """Stop the run on a failed suite; the exception carries the stored report's ref (the
    operator links its Data Docs even though the task fails)."""
    from include.data.validation import ValidationFailed

    try:
        report.raise_for_failures()
    except ValidationFailed as exc:
        exc.artifact = stored
        raise


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
    _raise_for_failures(report, ref)
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


REUSE_DISABLED = "disabled: code version unknown, so the reuse key cannot see code changes; set QFLOW_GIT_SHA"


def reuse_key(inputs: list[ArtifactRef], params: Mapping[str, Any]) -> str:
    """Content address of a stage: its inputs' SHA-256s, its parameters and the code commit."""
    document = {
        "inputs": sorted(ref.sha256 for ref in inputs),
        "params": dict(params),
        "code": code_version()["git"],
    }
    return sha256_hex(canonical_json(document))


def _verified_ref(store: ArtifactStore, value: Mapping[str, Any]) -> ArtifactRef | None:
    """The ref if its manifest exists and its object still hashes to what both record."""
    try:
        ref = ArtifactRef.from_xcom(value)
        manifest = store.read_manifest(ref.uri)
        if manifest["artifact"]["sha256"] != ref.sha256:
            return None
        if sha256_hex(store.get_bytes(manifest["artifact"]["uri"])) != ref.sha256:
            return None
        for entry in manifest["files"]:
            if sha256_hex(store.get_bytes(entry["uri"])) != entry["sha256"]:
                return None
    except ArtifactError:
        return None
    return ref


def lookup_reuse(store: ArtifactStore, index_uri: str) -> dict[str, ArtifactRef] | None:
    if not store.exists(index_uri):
        return None
    try:
        entry = json.loads(store.get_bytes(index_uri))
        refs = {name: _verified_ref(store, value) for name, value in entry["artifacts"].items()}
    except (ValueError, KeyError, AttributeError, ArtifactError):
        log.warning("reuse index %s is unreadable; recomputing", index_uri)
        return None
    if any(ref is None for ref in refs.values()):
        log.warning("reuse index %s points at a missing or changed artifact; recomputing", index_uri)
        return None
    return {name: ref for name, ref in refs.items() if ref is not None}


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
    _raise_for_failures(report, ref)
    return ref


# -- encode, train, evaluate ----------------------------------------------------------------


def _features_params(store: ArtifactStore, features: ArtifactRef) -> dict[str, Any]:
    params: dict[str, Any] = store.read_manifest(features.uri)["params"]
    return params


def stage_encode(
    store: ArtifactStore,
    prefix: str,
    features: ArtifactRef,
    validation: ArtifactRef,
    params: VQCClassifierParams,
) -> ArtifactRef:
    """Cost every candidate encoding for the target and choose (or check the requested one)."""
    from qiskit import qpy

    from include.quantum.circuits.classifier import ansatz
    from include.quantum.circuits.encodings import (
        CONTINUOUS,
        EncodingError,
        choose_encoding,
        feature_map,
        is_parametrised,
    )

    _require_passed(store, validation)
    started = time.perf_counter()
    fp = _features_params(store, features)
    n_features = len(fp["feature_columns"])
    candidates = CONTINUOUS if params.encoding == "auto" else (params.encoding,)
    try:
        chosen, costs = choose_encoding(
            n_features,
            max_qubits=params.max_qubits,
            max_depth=params.max_depth,
            target=params.backend,
            candidates=candidates,
            seed=params.seed,
        )
    except EncodingError as exc:
        raise EncodingError(f"encoding={params.encoding!r}: {exc}") from exc
    table = pd.DataFrame([asdict(c) for c in costs]).sort_values("encoding", ignore_index=True)
    attachments = {}
    if is_parametrised(chosen.encoding):
        circuit = feature_map(chosen.encoding, n_features).compose(ansatz(chosen.n_qubits, params.ansatz_reps))
        circuit.measure_all()
        buffer = io.BytesIO()
        qpy.dump(circuit, buffer)
        attachments["classifier.qpy"] = buffer.getvalue()
    return store.put_table(
        prefix,
        "encode",
        table,
        stage="encode",
        inputs=[features, validation],
        params={
            "encoding": chosen.encoding,
            "requested": params.encoding,
            "cost": asdict(chosen),
            "n_features": n_features,
            "n_qubits": chosen.n_qubits,
            "max_qubits": params.max_qubits,
            "max_depth": params.max_depth,
            "target": params.backend,
            "ansatz": "real_amplitudes",
            "ansatz_reps": params.ansatz_reps,
            "angle_range": fp["angle_range"],
        },
        attachments=attachments,
        measurements={"seconds": _seconds(started)},
    )


def _split(store: ArtifactStore, features: ArtifactRef) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    frame = store.read_table(features)
    columns = list(_features_params(store, features)["feature_columns"])
    return frame[frame["split"] == "train"], frame[frame["split"] == "test"], columns


def vqc_config(store: ArtifactStore, features: ArtifactRef, encoding: ArtifactRef, params: VQCClassifierParams) -> Any:
    from include.quantum.loops.vqc import VQCConfig

    fp = _features_params(store, features)
    ep = store.read_manifest(encoding.uri)["params"]
    return VQCConfig(
        encoding=ep["encoding"],
        n_features=int(ep["n_features"]),
        n_classes=int(fp["n_classes"]),
        reps=params.ansatz_reps,
        shots=params.shots,
        optimiser=params.optimiser,
        max_iterations=params.max_iterations,
        seed=params.seed,
        angle_range=(float(fp["angle_range"][0]), float(fp["angle_range"][1])),
    )


def stage_train(
    store: ArtifactStore,
    prefix: str,
    features: ArtifactRef,
    encoding: ArtifactRef,
    params: VQCClassifierParams,
) -> ArtifactRef:
    """The VQC control loop on Aer; every iteration's parameters and loss are checkpointed to
    S3, and a retried task resumes from the checkpoint instead of starting over."""
    from include.quantum.loops.vqc import TrainRecord, train_vqc

    started = time.perf_counter()
    config = vqc_config(store, features, encoding, params)
    train, _, columns = _split(store, features)
    settings = {**asdict(config), "inputs": [features.sha256, encoding.sha256]}
    settings["angle_range"] = list(config.angle_range)
    checkpoint = LoopCheckpoint(store, store.uri(f"{prefix.strip('/')}/train/checkpoint.json"), settings, TrainRecord)
    previous = checkpoint.load()
    if previous:
        log.info("train: resuming from checkpoint after %d iteration(s)", len(previous))

    resume_point = min(previous, key=lambda r: r.loss).parameters if previous else None
    result = train_vqc(
        config,
        train[columns].to_numpy(),
        train["label"].to_numpy(),
        initial_point=resume_point,
        previous=previous,
        on_iteration=checkpoint.append,
    )
    return store.put_table(
        prefix,
        "train",
        result.trace_frame(),
        stage="train",
        inputs=[features, encoding],
        params={
            "backend": params.backend,
            "transpiler": {"optimization_level": 1, "seed_transpiler": config.seed},
            "encoding": config.encoding,
            "n_qubits": result.n_qubits,
            "isa_depth": result.isa_depth,
            "ansatz_reps": config.reps,
            "optimiser": config.optimiser,
            "max_iterations": config.max_iterations,
            "shots": config.shots,
            "best_parameters": result.best_parameters,
            "best_loss": result.best_loss,
        },
        seeds={"simulator": config.seed, "transpiler": config.seed, "initial_point": config.seed},
        measurements={
            "seconds": _seconds(started),
            "transpile_seconds": result.transpile_seconds,
            "execute_seconds": result.execute_seconds,
            "transpile_count": result.transpile_count,
            "iterations": len(result.iterations),
            "resumed_from_iteration": len(previous),
        },
    )


def stage_evaluate(
    store: ArtifactStore,
    prefix: str,
    features: ArtifactRef,
    encoding: ArtifactRef,
    train: ArtifactRef,
    params: VQCClassifierParams,
) -> ArtifactRef:
    """Predict the held-out split; the results suite (counts sum to shots, probabilities in
    [0, 1] summing to 1, margin within [-1, 1]) must pass before predictions are written."""
    from include.data.validation import validate_results
    from include.problems.classifier_baselines import score
    from include.quantum.loops.vqc import predict

    started = time.perf_counter()
    config = vqc_config(store, features, encoding, params)
    theta = store.read_manifest(train.uri)["params"]["best_parameters"]
    _, test, columns = _split(store, features)
    probabilities, totals = predict(config, theta, test[columns].to_numpy())
    y = test["label"].to_numpy()
    predicted = probabilities.argmax(axis=1)
    predict_seconds = _seconds(started)
    rows = pd.DataFrame(
        {
            "sample_id": test["sample_id"].to_numpy(),
            "label": y,
            "predicted": predicted.astype(np.int64),
            "counts_total": totals.astype(np.int64),
        }
    )
    probability_columns = [f"p{c}" for c in range(config.n_classes)]
    for c, name in enumerate(probability_columns):
        rows[name] = probabilities[:, c]
    rows["probability_sum"] = probabilities.sum(axis=1)
    # The true class's margin p_y - max_{c != y} p_c: an expectation value in [-1, 1].
    true_p = probabilities[np.arange(len(y)), y]
    others = probabilities.copy()
    others[np.arange(len(y)), y] = -np.inf
    rows["margin"] = true_p - others.max(axis=1)
    rows = rows.sort_values("sample_id", ignore_index=True)
    report = validate_results(rows, config.shots, probability_columns, bounded_columns={"margin": (-1.0, 1.0)})
    check = _store_validation(
        store, prefix, "validation_results", report, [train, features], {"shots": config.shots}, started
    )
    _raise_for_failures(report, check)
    quality = score("vqc", y, predicted, 0.0, predict_seconds)
    return store.put_table(
        prefix,
        "predictions",
        rows,
        stage="evaluate",
        inputs=[features, encoding, train, check],
        params={"accuracy": quality.accuracy, "f1_macro": quality.f1_macro, "n_test": len(rows)},
        seeds={"simulator": config.seed},
        measurements={"seconds": _seconds(started)},
    )


def stage_baselines(
    store: ArtifactStore, prefix: str, features: ArtifactRef, validation: ArtifactRef, seed: int
) -> ArtifactRef:
    """Logistic regression and RBF SVM on exactly the same (preprocessed) split."""
    from include.problems.classifier_baselines import classical_baselines

    _require_passed(store, validation)
    started = time.perf_counter()
    train, test, columns = _split(store, features)
    scores = classical_baselines(
        train[columns].to_numpy(),
        train["label"].to_numpy(),
        test[columns].to_numpy(),
        test["label"].to_numpy(),
        seed,
    )
    table = pd.DataFrame([asdict(s) for s in scores])
    return store.put_table(
        prefix,
        "baselines",
        table,
        stage="baselines",
        inputs=[features, validation],
        params={
            "methods": [s.method for s in scores],
            "models": {"logistic_regression": "max_iter=1000", "rbf_svm": "SVC(kernel='rbf')"},
        },
        seeds={"baselines": seed},
        measurements={"seconds": _seconds(started)},
        nondeterministic_columns=["train_seconds", "predict_seconds"],
    )


def stage_aggregate(
    store: ArtifactStore,
    prefix: str,
    predictions: ArtifactRef,
    baselines: ArtifactRef,
    train: ArtifactRef,
    upstream: Mapping[str, ArtifactRef],
) -> ArtifactRef:
    """Accuracy, F1 and training time per method, and quantum value added (VQC accuracy minus
    the best classical accuracy — negative when the classical model is better, and reported so)."""
    started = time.perf_counter()
    evaluation = store.read_manifest(predictions.uri)["params"]
    trained = store.read_manifest(train.uri)
    table = store.read_table(baselines)
    vqc_seconds = float(trained["measurements"]["seconds"])
    rows = pd.concat(
        [
            pd.DataFrame(
                {
                    "method": ["vqc"],
                    "accuracy": [float(evaluation["accuracy"])],
                    "f1_macro": [float(evaluation["f1_macro"])],
                    "train_seconds": [vqc_seconds],
                }
            ),
            table[["method", "accuracy", "f1_macro", "train_seconds"]],
        ],
        ignore_index=True,
    )
    result = store.put_table(
        prefix,
        "result",
        rows,
        stage="aggregate",
        inputs=[predictions, baselines, train],
        nondeterministic_columns=["train_seconds"],
    )
    classical = rows[rows["method"] != "vqc"].sort_values(["accuracy", "f1_macro"], ascending=False)
    best = classical.iloc[0]
    vqc = rows.iloc[0]
    stage_seconds = {
        name: float(store.read_manifest(ref.uri)["measurements"].get("seconds", float("nan")))
        for name, ref in upstream.items()
    }
    stage_seconds["aggregate"] = _seconds(started)
    summary = pd.DataFrame(
        {
            "vqc_accuracy": [float(vqc["accuracy"])],
            "vqc_f1_macro": [float(vqc["f1_macro"])],
            "best_classical": [str(best["method"])],
            "best_classical_accuracy": [float(best["accuracy"])],
            "best_classical_f1_macro": [float(best["f1_macro"])],
            "quantum_value_added": [float(vqc["accuracy"]) - float(best["accuracy"])],
            "quantum_value_added_f1": [float(vqc["f1_macro"]) - float(best["f1_macro"])],
            "train_time_ratio_vqc_vs_best_classical": [vqc_seconds / max(float(best["train_seconds"]), 1e-9)],
            "encoding": [str(trained["params"]["encoding"])],
            "n_qubits": [int(trained["params"]["n_qubits"])],
            "vqc_iterations": [int(trained["measurements"]["iterations"])],
        }
    )
    verdict = "adds value" if summary.loc[0, "quantum_value_added"] > 0 else "adds no value"
    return store.put_table(
        prefix,
        "summary",
        summary,
        stage="aggregate",
        inputs=[result, *upstream.values()],
        params={"verdict": f"on this split the VQC {verdict} over {best['method']}"},
        measurements={"stage_seconds": stage_seconds, "seconds": stage_seconds["aggregate"]},
        nondeterministic_columns=["train_time_ratio_vqc_vs_best_classical"],
    )


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
