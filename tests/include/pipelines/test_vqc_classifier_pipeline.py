"""The classifier stage functions against the real local SeaweedFS and Aer."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from include.data.datasets import DataSpecError, TableTooLargeError, load_builtin
from include.data.validation import ValidationFailed
from include.pipelines.vqc_classifier import (
    VQCClassifierParams,
    run_pipeline,
    stage_encode,
    stage_load,
    stage_preprocess,
    stage_train,
    stage_validate_features,
    stage_validate_raw,
)
from include.quantum.circuits.encodings import EncodingError
from include.store.artifacts import ArtifactStore, parquet_bytes

SMALL = VQCClassifierParams(dataset="iris", n_classes=2, features_kept=2, max_iterations=6, shots=128, seed=3)


def through_features(store: ArtifactStore, prefix: str, params: VQCClassifierParams, cache: str):
    raw = stage_load(store, prefix, params)
    validation = stage_validate_raw(store, prefix, raw, params)
    features = stage_preprocess(store, prefix, raw, validation, params, cache)
    return raw, validation, features


def test_pipeline_writes_every_stage_and_reports_quantum_value_added(store: ArtifactStore, prefix: str) -> None:
    summary_ref = run_pipeline(store, f"{prefix}/run", SMALL, cache_prefix=f"{prefix}/cache")
    written = set(store.list_uris(store.uri(f"{prefix}/run/")))
    for stage in (
        "raw",
        "validation_raw",
        "transform",
        "features",
        "validation_features",
        "encode",
        "train",
        "validation_results",
        "predictions",
        "baselines",
        "result",
        "summary",
    ):
        assert store.uri(f"{prefix}/run/{stage}/manifest.json") in written, stage
    for suite in ("validation_raw", "validation_features", "validation_results"):
        html = store.read_attachment(store.uri(f"{prefix}/run/{suite}/data.parquet"), "data_docs.html")
        assert b"Great Expectations" in html
    summary = store.read_table(summary_ref).iloc[0]
    result = store.read_table(store.uri(f"{prefix}/run/result/data.parquet"))
    assert list(result["method"]) == ["vqc", "logistic_regression", "rbf_svm"]
    best = result.iloc[1:]["accuracy"].max()
    assert summary["quantum_value_added"] == pytest.approx(result.iloc[0]["accuracy"] - best)
    assert 0 <= summary["vqc_accuracy"] <= 1
    encode = store.read_manifest(store.uri(f"{prefix}/run/encode/manifest.json"))["params"]
    assert encode["requested"] == "auto" and encode["encoding"] == summary["encoding"]
    assert {"n_qubits", "depth", "two_qubit_gates"} <= set(encode["cost"])
    predictions = store.read_table(store.uri(f"{prefix}/run/predictions/data.parquet"))
    assert (predictions["counts_total"] == SMALL.shots).all()
    assert np.allclose(predictions["probability_sum"], 1.0)
    features = store.read_manifest(store.uri(f"{prefix}/run/features/manifest.json"))
    transform_ref = next(i for i in features["inputs"] if "/transform/" in i["uri"])
    transform = json.loads(store.read_attachment(transform_ref["uri"], "transform.json"))
    transform_manifest = store.read_manifest(transform_ref["uri"])
    assert features["params"]["transform_sha256"] == transform_manifest["params"]["transform_sha256"]
    assert len(transform["components"]) == 2 and features["params"]["n_classes"] == 2


def test_same_inputs_give_the_same_hashes(store: ArtifactStore, prefix: str) -> None:
    manifests = []
    for run in ("one", "two"):
        raw, _validation, features = through_features(store, f"{prefix}/{run}", SMALL, f"{prefix}/cache-{run}")
        encoding = stage_encode(
            store,
            f"{prefix}/{run}",
            features,
            stage_validate_features(store, f"{prefix}/{run}", features),
            SMALL,
        )
        train = stage_train(store, f"{prefix}/{run}", features, encoding, SMALL)
        manifests.append([store.read_manifest(r.uri) for r in (raw, features, encoding, train)])
    for first, second in zip(*manifests, strict=True):
        assert first["artifact"]["sha256"] == second["artifact"]["sha256"], first["stage"]
        assert [f["sha256"] for f in first["files"]] == [f["sha256"] for f in second["files"]]


def test_preprocessing_is_reused_when_inputs_and_parameters_are_unchanged(
    store: ArtifactStore, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = f"{prefix}/cache"
    _, _, first = through_features(store, f"{prefix}/a", SMALL, cache)
    with caplog.at_level(logging.INFO, logger="include.pipelines.vqc_classifier"):
        _, _, second = through_features(store, f"{prefix}/b", SMALL, cache)
    assert second == first  # the earlier run's artifact, not a copy
    assert "reusing" in caplog.text and "skipping the work" in caplog.text
    assert not [u for u in store.list_uris(store.uri(f"{prefix}/b/")) if "/features/" in u or "/transform/" in u]
    # Different parameters: computed afresh.
    _, _, other = through_features(store, f"{prefix}/c", VQCClassifierParams(**{**SMALL.__dict__, "seed": 4}), cache)
    assert other.uri.startswith(store.uri(f"{prefix}/c/"))
    # A changed (tampered) earlier artifact is never reused: the work is redone.
    store.put_bytes(first.uri, parquet_bytes(pd.DataFrame({"x": [1]})))
    _, _, redone = through_features(store, f"{prefix}/d", SMALL, cache)
    assert redone.uri.startswith(store.uri(f"{prefix}/d/")) and redone.sha256 == first.sha256
    # An unreadable index entry is a miss, not a crash.
    key = store.read_manifest(redone.uri)["params"]["reuse_key"]
    store.put_bytes(store.uri(f"{cache}/{key}.json"), b"not json")
    _, _, again = through_features(store, f"{prefix}/e", SMALL, cache)
    assert again.uri.startswith(store.uri(f"{prefix}/e/"))


def test_training_resumes_from_its_checkpoint(store: ArtifactStore, prefix: str) -> None:
    params = VQCClassifierParams(**{**SMALL.__dict__, "max_iterations": 8})
    _, _, features = through_features(store, prefix, params, f"{prefix}/cache")
    encoding = stage_encode(store, prefix, features, stage_validate_features(store, prefix, features), params)
    full = stage_train(store, prefix, features, encoding, params)
    full_trace = store.read_table(full)
    first = store.read_manifest(full.uri)
    evaluations = first["measurements"]["evaluations"]
    assert len(evaluations) == len(full_trace) and {e["backend"] for e in evaluations} == {"aer:automatic"}
    n_train = int((store.read_table(features)["split"] == "train").sum())
    assert first["params"]["samples_per_job"] == n_train  # one job of the whole split per evaluation
    assert all(e["dataset_version"] == features.sha256 and e["target_fingerprint"] for e in evaluations)
    # A worker killed after 3 evaluations: only those are in the checkpoint.
    checkpoint_uri = store.uri(f"{prefix}/train/checkpoint.json")
    state = json.loads(store.get_bytes(checkpoint_uri))
    state["iterations"] = state["iterations"][:3]
    store.put_bytes(checkpoint_uri, json.dumps(state).encode())
    resumed = stage_train(store, prefix, features, encoding, params)
    manifest = store.read_manifest(resumed.uri)
    assert manifest["measurements"]["resumed_from_iteration"] == 3
    trace = store.read_table(resumed)
    # Replayed from the checkpoint, then run on: the same trace (and artifact) as the uninterrupted one.
    assert trace.equals(full_trace) and resumed.sha256 == full.sha256
    assert list(trace["iteration"]) == list(range(len(trace))) and len(trace) <= 8


def test_training_runs_on_the_loop_backend_and_a_too_small_one_fails_before_any_job(
    store: ArtifactStore, prefix: str
) -> None:
    from include.quantum.loops.engine import LoopConfigError

    params = VQCClassifierParams(**{**SMALL.__dict__, "loop_backend": "aer:statevector", "max_iterations": 3})
    _, _, features = through_features(store, prefix, params, f"{prefix}/cache")
    encoding = stage_encode(store, prefix, features, stage_validate_features(store, prefix, features), params)
    train = store.read_manifest(stage_train(store, prefix, features, encoding, params).uri)
    assert train["params"]["backend"] == "aer:statevector" and train["params"]["backends"] == {"aer:statevector": 3}
    # 8 features (angle: 8 qubits) on a 5-qubit noisy Manila: refused in preflight, nothing stored.
    wide = VQCClassifierParams(
        **{
            **SMALL.__dict__,
            "dataset": "breast_cancer",
            "n_classes": 0,
            "features_kept": 8,
            "encoding": "angle",
            "loop_backend": "aer:fake_manila",
        }
    )
    _, _, features = through_features(store, f"{prefix}/w", wide, f"{prefix}/cache")
    encoding = stage_encode(
        store, f"{prefix}/w", features, stage_validate_features(store, f"{prefix}/w", features), wide
    )
    with pytest.raises(LoopConfigError, match="needs 8 qubits but aer:fake_manila has 5"):
        stage_train(store, f"{prefix}/w", features, encoding, wide)
    assert not [u for u in store.list_uris(store.uri(f"{prefix}/w/")) if "/train/" in u]


def upload(store: ArtifactStore, prefix: str, name: str, frame: pd.DataFrame) -> str:
    uri = store.uri(f"{prefix}/upload/{name}")
    data = frame.to_csv(index=False).encode() if name.endswith(".csv") else parquet_bytes(frame)
    store.put_bytes(uri, data)
    return uri


IRIS = load_builtin("iris", 2).frame


@pytest.mark.parametrize(
    ("name", "frame", "features", "message"),
    [
        ("nan.parquet", IRIS.assign(petal_width_cm=IRIS["petal_width_cm"].where(IRIS.index != 3)), "", "NaN"),
        (
            "text.csv",
            IRIS.assign(sepal_width_cm=IRIS["sepal_width_cm"].astype(str).where(IRIS.index != 5, "three")),
            "",
            "'three'",
        ),
        ("extra.parquet", IRIS.assign(notes="x"), ",".join(IRIS.columns[1:5]), "unexpected notes"),
        (
            "missing.parquet",
            IRIS.drop(columns=["sepal_length_cm"]),
            ",".join(IRIS.columns[1:5]),
            "missing sepal",
        ),
        ("one-class.parquet", IRIS[IRIS["label"] == 0], "", "at least 2 classes"),
    ],
    ids=["nan", "string-in-numeric", "extra-column", "missing-column", "one-class"],
)
def test_bad_uploaded_tables_stop_at_validation_before_preprocessing(
    store: ArtifactStore, prefix: str, name: str, frame: pd.DataFrame, features: str, message: str
) -> None:
    params = VQCClassifierParams(dataset="s3", data_uri=upload(store, prefix, name, frame), features=features)
    raw = stage_load(store, prefix, params)
    assert store.read_manifest(raw.uri)["inputs"][0]["uri"] == params.data_uri
    with pytest.raises(ValidationFailed, match=message):
        stage_validate_raw(store, prefix, raw, params)
    written = store.list_uris(store.uri(f"{prefix}/"))
    assert any(u.endswith("/validation_raw/data_docs.html") for u in written)
    assert not [u for u in written if "/features/" in u or "/encode/" in u or "/train/" in u]


def test_a_million_row_upload_is_refused_clearly_at_load(store: ArtifactStore, prefix: str) -> None:
    n = 1_000_000
    table = pa.table({"sample_id": np.arange(n), "x": np.ones(n), "label": np.arange(n) % 2})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    uri = store.uri(f"{prefix}/upload/big.parquet")
    store.put_bytes(uri, sink.getvalue().to_pybytes())
    with pytest.raises(TableTooLargeError, match=r"1,000,000 rows, over max_rows=200,000"):
        stage_load(store, prefix, VQCClassifierParams(dataset="s3", data_uri=uri))
    assert not store.list_uris(store.uri(f"{prefix}/raw/"))


def test_encode_refuses_when_no_encoding_fits(store: ArtifactStore, prefix: str) -> None:
    params = VQCClassifierParams(**{**SMALL.__dict__, "features_kept": 4, "max_qubits": 1})
    _, _, features = through_features(store, prefix, params, f"{prefix}/cache")
    validation = stage_validate_features(store, prefix, features)
    with pytest.raises(EncodingError, match=r"encoding='auto': no encoding of 4 features fits max_qubits=1"):
        stage_encode(store, prefix, features, validation, params)
    assert not store.list_uris(store.uri(f"{prefix}/encode/"))


def test_a_feature_subset_of_a_builtin_set_is_loaded_and_validated(store: ArtifactStore, prefix: str) -> None:
    params = VQCClassifierParams(features="petal_length_cm,petal_width_cm", features_kept=2)
    raw = stage_load(store, prefix, params)
    assert list(store.read_table(raw).columns) == ["sample_id", "petal_length_cm", "petal_width_cm", "label"]
    stage_validate_raw(store, prefix, raw, params)
    with pytest.raises(DataSpecError, match=r"features: \['petal_size'\] are not columns of iris"):
        stage_load(store, prefix, VQCClassifierParams(features="petal_size"))


def test_params_name_bad_fields() -> None:
    assert VQCClassifierParams.from_mapping({"shots": 64.0, "data_uri": None}).shots == 64
    with pytest.raises(DataSpecError, match=r"unknown parameter\(s\) \['qubits'\]"):
        VQCClassifierParams.from_mapping({"qubits": 4})
    with pytest.raises(DataSpecError, match="dataset='s3' needs data_uri"):
        VQCClassifierParams.from_mapping({"dataset": "s3"})
    with pytest.raises(DataSpecError, match="backend='ibm_torino'"):
        VQCClassifierParams.from_mapping({"backend": "ibm_torino"})
    with pytest.raises(DataSpecError, match="loop_backend='qpu9'"):
        VQCClassifierParams.from_mapping({"loop_backend": "qpu9"})
    with pytest.raises(DataSpecError, match="encoding='fourier'"):
        VQCClassifierParams.from_mapping({"encoding": "fourier"})


def test_preprocessing_is_never_reused_when_the_code_version_is_unknown(
    store: ArtifactStore,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """No QFLOW_GIT_SHA and no git (an image built without the build argument): the reuse key
    cannot see code changes, so nothing is reused or recorded for reuse, and the manifest says so."""
    from include.store import versions

    monkeypatch.delenv("QFLOW_GIT_SHA", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    versions._git_commit.cache_clear()
    try:
        cache = f"{prefix}/cache"
        _, _, first = through_features(store, f"{prefix}/a", SMALL, cache)
        with caplog.at_level(logging.INFO, logger="include.pipelines.vqc_classifier"):
            _, _, second = through_features(store, f"{prefix}/b", SMALL, cache)
        assert second.uri.startswith(store.uri(f"{prefix}/b/")) and second.sha256 == first.sha256  # recomputed
        assert "not reusing earlier work" in caplog.text and "code version unknown" in caplog.text
        assert store.list_uris(store.uri(f"{cache}/")) == []  # nothing recorded for reuse
        params = store.read_manifest(second.uri)["params"]
        assert params["reuse"].startswith("disabled: code version unknown")
    finally:
        versions._git_commit.cache_clear()


def test_training_runs_on_braket_local(store: ArtifactStore, prefix: str) -> None:
    """The form offers braket:local for the VQC's loop too: every evaluation (the whole train split,
    one parameter set per sample) runs on Braket's LocalSimulator, seeded, and repeats exactly."""
    params = VQCClassifierParams(**{**SMALL.__dict__, "loop_backend": "braket:local", "max_iterations": 3})
    _, _, features = through_features(store, prefix, params, f"{prefix}/cache")
    encoding = stage_encode(store, prefix, features, stage_validate_features(store, prefix, features), params)
    first = stage_train(store, prefix, features, encoding, params)
    train = store.read_manifest(first.uri)
    assert train["params"]["backend"] == "braket:local" and train["params"]["backends"] == {"braket:local": 3}
    trace = store.read_table(first)
    assert ((trace["train_accuracy"] >= 0) & (trace["train_accuracy"] <= 1)).all()
    again = stage_train(store, f"{prefix}/again", features, encoding, params)
    assert store.read_table(again)["loss"].tolist() == trace["loss"].tolist()
