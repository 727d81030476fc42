"""`airflow dags test vqc_classifier` against the real local SeaweedFS and Aer, checked with
boto3, the metadata DB's XCom table and `qflow lineage verify`; plus the DAG's shape and form."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from include.data.datasets import load_builtin
from include.store.artifacts import ArtifactStore, parquet_bytes, safe_key_part
from tests.conftest import airflow_dags_test, deferred_loop_on_job_service

DAGS = Path(__file__).resolve().parents[2] / "dags"
SMALL_CONF = {
    "dataset": "iris",
    "n_classes": 2,
    "features_kept": 2,
    "max_iterations": 6,
    "shots": 128,
    "seed": 5,
}
TASKS = {
    "load",
    "validate_raw",
    "preprocess",
    "validate_features",
    "encode",
    "train",
    "evaluate",
    "baselines",
    "aggregate",
}
STAGES = (
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
)


def test_shape_and_param_form() -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS / "vqc_classifier.py")).dags["vqc_classifier"]
    assert set(dag.task_ids) == TASKS | {"dataset_version"}
    # dataset_version decides what an asset-triggered run trains on; a manual run uses its Params.
    assert dag.get_task("load").upstream_task_ids == {"dataset_version"}
    assert dag.get_task("validate_raw").upstream_task_ids == {"load"}
    assert dag.get_task("preprocess").upstream_task_ids == {"load", "validate_raw"}
    assert dag.get_task("encode").upstream_task_ids == {"preprocess", "validate_features"}
    assert dag.get_task("train").upstream_task_ids == {"preprocess", "encode"}
    assert dag.get_task("baselines").upstream_task_ids == {"preprocess", "validate_features"}
    assert dag.get_task("aggregate").upstream_task_ids == TASKS - {"aggregate"}
    expected = {
        "dataset",
        "features_kept",
        "encoding",
        "ansatz_reps",
        "optimiser",
        "max_iterations",
        "shots",
        "seed",
        "loop_backend",
        "backend",
    }
    assert expected <= set(dag.params)
    assert dag.params.get_param("backend").schema["enum"] == ["aer_simulator"]
    # The training loop runs on any registry backend the form offers, each one explained there.
    from include.quantum.backends.catalogue import LOOP_BACKENDS
    from include.quantum.backends.registry import backend_profile

    loop_backends = dag.params.get_param("loop_backend").schema["enum"]
    assert loop_backends == list(LOOP_BACKENDS) and dag.params["loop_backend"] == "aer"
    assert {"aer", "jobservice:fake_manila", "ibm:fake_manila"} <= set(loop_backends)
    assert all(backend_profile(b) for b in loop_backends)
    description = dag.params.get_param("loop_backend").description or ""
    assert all(f"{b} — {LOOP_BACKENDS[b]}" in description for b in loop_backends)
    from operators.operators.loop import VariationalLoopOperator

    train = dag.get_task("train")
    assert isinstance(train, VariationalLoopOperator) and train.loop_backend == "{{ params.loop_backend }}"
    assert "auto" in dag.params.get_param("encoding").schema["enum"]
    assert all(dag.params.get_param(name).schema.get("title") for name in dag.params)
    links = {type(link).__name__ for link in dag.get_task("validate_raw").operator_extra_links}
    assert links == {"ArtifactManifestLink", "DataDocsLink"}


def dags_test(env: dict[str, str], conf: Mapping[str, object]) -> tuple[str, str, str]:
    return airflow_dags_test("vqc_classifier", env, conf, timeout=600)


@pytest.fixture(scope="module")
def good_run(qflow_env: dict[str, str]) -> tuple[str, str]:
    run_id, state, output = dags_test(qflow_env, SMALL_CONF)
    assert state == "success", output[-4000:]
    return run_id, output


@pytest.mark.integration
def test_every_stage_wrote_parquet_and_a_manifest(store: ArtifactStore, good_run: tuple[str, str]) -> None:
    run_id, output = good_run
    base = store.uri(f"runs/vqc_classifier/{safe_key_part(run_id)}")
    summary = store.read_table(f"{base}/summary/data.parquet").iloc[0]
    # Preprocessing may have been reused from an earlier identical run (content-addressed).
    features_uri = store.read_manifest(f"{base}/encode/manifest.json")["inputs"][0]["uri"]
    written = set(store.list_uris(base + "/"))
    for stage in STAGES:
        if stage in ("transform", "features") and not features_uri.startswith(base):
            assert "reusing" in output and features_uri in output
            continue
        assert f"{base}/{stage}/data.parquet" in written, stage
        assert f"{base}/{stage}/manifest.json" in written, stage
    for suite in ("validation_raw", "validation_features", "validation_results"):
        assert f"{base}/{suite}/data_docs.html" in written
    train = store.read_manifest(f"{base}/train/manifest.json")
    assert train["measurements"]["iterations"] <= SMALL_CONF["max_iterations"]
    assert train["params"]["shots"] == SMALL_CONF["shots"]
    result = store.read_table(f"{base}/result/data.parquet")
    assert list(result["method"]) == ["vqc", "logistic_regression", "rbf_svm"]
    assert summary["quantum_value_added"] == pytest.approx(summary["vqc_accuracy"] - summary["best_classical_accuracy"])
    assert "quantum value added" in output and "vqc_classifier result" in output


@pytest.mark.integration
def test_lineage_verifies(qflow_env: dict[str, str], store: ArtifactStore, good_run: tuple[str, str]) -> None:
    run_id, _ = good_run
    summary = store.uri(f"runs/vqc_classifier/{safe_key_part(run_id)}/summary/manifest.json")
    verify = subprocess.run(["qflow", "lineage", "verify", summary], env=qflow_env, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    show = subprocess.run(["qflow", "lineage", "show", summary], env=qflow_env, capture_output=True, text=True)
    for stage in (
        "[aggregate]",
        "[train]",
        "[encode]",
        "[preprocess]",
        "[validate]",
        "[load]",
        "[baselines]",
    ):
        assert stage in show.stdout, stage


@pytest.mark.integration
def test_xcom_carries_only_refs_and_link_urls(good_run: tuple[str, str]) -> None:
    run_id, _ = good_run
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select task_id, \"key\", value from xcom where dag_id='vqc_classifier' and run_id=?", (run_id,)
        ).fetchall()
    returned = {task: json.loads(raw) for task, key, raw in rows if key == "return_value"}
    assert set(returned) == TASKS
    for task, value in returned.items():
        assert set(value) == {"uri", "sha256", "manifest_uri"}, (task, value)
    links = [(task, key, json.loads(raw)) for task, key, raw in rows if key != "return_value"]
    assert links and all(str(url).startswith(("http", "/qflow/artifacts/")) for _, _, url in links)
    docs = [url for task, key, url in links if task == "validate_raw" and key == "_link_DataDocsLink"]
    assert docs and docs[0].endswith("/validation_raw/data_docs.html")


@pytest.mark.integration
def test_a_table_with_nan_stops_at_raw_validation(qflow_env: dict[str, str], store: ArtifactStore, prefix: str) -> None:
    frame = load_builtin("iris", 2).frame
    frame.loc[7, "petal_length_cm"] = np.nan
    uri = store.uri(f"{prefix}/upload/iris-nan.parquet")
    store.put_bytes(uri, parquet_bytes(frame))
    run_id, state, output = dags_test(qflow_env, {**SMALL_CONF, "dataset": "s3", "data_uri": uri})
    assert state == "failed"
    assert "expect_column_values_to_not_be_null on column 'petal_length_cm'" in output
    written = store.list_uris(store.uri(f"runs/vqc_classifier/{safe_key_part(run_id)}/"))
    assert any(u.endswith("/validation_raw/data_docs.html") for u in written)
    assert not [u for u in written if re.search(r"/(features|encode|train|predictions|summary)/", u)]
    # The failed task still links its Data Docs (the report's ref is pushed before failing).
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        rows = dict(
            conn.execute(
                "select \"key\", value from xcom where dag_id='vqc_classifier' and run_id=? and task_id='validate_raw'",
                (run_id,),
            ).fetchall()
        )
    assert "return_value" not in rows
    assert json.loads(rows["_link_DataDocsLink"]).endswith("/validation_raw/data_docs.html")


@pytest.mark.integration
def test_training_on_the_job_service_defers_between_evaluations_and_submits_each_once(
    qflow_env: dict[str, str], store: ArtifactStore, tmp_path: Path
) -> None:
    """`airflow dags test` (triggers in-process): the training loop on a queued backend defers at
    every evaluation, and the service holds exactly one job per evaluation — the whole training
    split as one job of many parameter sets."""
    conf = {**SMALL_CONF, "max_iterations": 3, "shots": 64}
    run_id, manifest, evaluations = deferred_loop_on_job_service(
        "vqc_classifier", "train", qflow_env, conf, tmp_path, store
    )
    base = f"runs/vqc_classifier/{safe_key_part(run_id)}"
    n_train = manifest["params"]["samples_per_job"]
    assert n_train > 10 and all(e["shots"] == 64 for e in evaluations)
    trace = store.read_table(store.uri(f"{base}/train/data.parquet"))
    assert list(trace["backend"]) == ["jobservice:fake_manila"] * 3
    summary = store.read_table(store.uri(f"{base}/summary/data.parquet")).iloc[0]
    assert 0 <= summary["vqc_accuracy"] <= 1
