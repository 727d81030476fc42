"""The model stages: encode (cost model + chooser) → train (checkpointed loop) → evaluate (+ results
suite) → classical baselines → aggregate."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from include.data.datasets import DataSpecError
from include.data.validation import raise_with_stored_report
from include.pipelines.vqc_classifier.data_stages import (
    _require_passed,
    _seconds,
    _store_validation,
)
from include.pipelines.vqc_classifier.params import VQCClassifierParams
from include.store.artifacts import ArtifactRef, ArtifactStore

log = logging.getLogger(__name__)

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


def loop_identity(features: ArtifactRef, encoding: ArtifactRef, config: Any) -> dict[str, Any]:
    """What makes two trainings the same loop (a checkpoint resumes only its own): the split and
    encoding, the classifier and the optimiser with its seed — not the backend or the budget."""
    settings = {**asdict(config), "inputs": [features.sha256, encoding.sha256], "kind": "vqc"}
    settings["angle_range"] = list(config.angle_range)
    settings.pop("max_iterations")
    return settings


def vqc_loop(
    store: ArtifactStore,
    prefix: str,
    features: ArtifactRef,
    encoding: ArtifactRef,
    params: VQCClassifierParams,
    *,
    protocol: Any,
    run: list[Any],
    allow_deferral: bool = True,
) -> tuple[Any, list[ArtifactRef]]:
    """The VQC training loop of this run on ``protocol``'s backend (one job of the whole training
    split per evaluation), with its S3 checkpoint loaded; the loop and its lineage inputs."""
    from include.pipelines.loop_stage import open_checkpoint, policy_loop
    from include.quantum.loops.vqc import VQCProblem

    config = vqc_config(store, features, encoding, params)
    train, _, columns = _split(store, features)
    checkpoint = open_checkpoint(store, prefix, "train", loop_identity(features, encoding, config))
    loop = policy_loop(
        store,
        VQCProblem(config, train[columns].to_numpy(), train["label"].to_numpy()),
        checkpoint,
        protocol=protocol,
        optimiser=config.optimiser,
        max_iterations=config.max_iterations,
        shots=config.shots,
        seed=config.seed,
        run=run,
        dataset_version=features.sha256,
        allow_deferral=allow_deferral,
    )
    return loop, [features, encoding]


def store_train(
    store: ArtifactStore,
    prefix: str,
    params: VQCClassifierParams,
    loop: Any,
    inputs: list[ArtifactRef],
    *,
    seconds: float,
    worker_seconds: float | None = None,
) -> ArtifactRef:
    """The training trace (one row per evaluation: where it ran) and the trained weights."""
    from include.quantum.loops.engine import evaluation_dicts
    from include.quantum.loops.vqc import TrainResult

    config = loop.problem.config
    result = TrainResult.from_outcome(loop.outcome(), config)
    if not result.evaluations:
        raise DataSpecError("the VQC loop ran no evaluation; raise max_iterations")
    modes = {m: sum(1 for e in result.evaluations if e.mode == m) for m in ("held", "deferred")}
    return store.put_table(
        prefix,
        "train",
        result.trace_frame(),
        stage="train",
        inputs=inputs,
        params={
            "backend": loop.backend.name,
            "backends": loop.outcome().by_backend(),  # which evaluations ran where
            "transpiler": {"optimization_level": 1, "seed_transpiler": config.seed},
            "target_fingerprint": result.evaluations[-1].target_fingerprint,
            "encoding": config.encoding,
            "n_qubits": result.n_qubits,
            "isa_depth": result.isa_depth,
            "ansatz_reps": config.reps,
            "optimiser": config.optimiser,
            "max_iterations": config.max_iterations,
            "shots": config.shots,
            "samples_per_job": len(loop.problem.x),
            "best_parameters": result.best_parameters,
            "best_loss": result.best_loss,
            "evaluation_modes": modes,
        },
        seeds={"simulator": config.seed, "transpiler": config.seed, "initial_point": config.seed},
        measurements={
            # Every evaluation's state as the orchestrator owns it (job id, mode, run, fingerprint...).
            "evaluations": evaluation_dicts(result.evaluations),
            "seconds": seconds,
            "transpile_seconds": result.transpile_seconds,
            "execute_seconds": result.execute_seconds,
            "transpile_count": result.transpile_count,
            "iterations": len(result.iterations),
            "resumed_from_iteration": loop.resumed_from,
            "worker_seconds": worker_seconds,
            "checkpoint_writes": result.checkpoint_writes,
        },
    )


def stage_train(
    store: ArtifactStore,
    prefix: str,
    features: ArtifactRef,
    encoding: ArtifactRef,
    params: VQCClassifierParams,
    *,
    protocol: Any = None,
    run: list[Any] | None = None,
) -> ArtifactRef:
    """The VQC control loop held in this process on ``params.loop_backend`` (the plain-Python path;
    the Airflow loop operator runs the same loop and defers between evaluations where the backend
    queues). Every evaluation is checkpointed to S3; a rerun resumes from it."""
    from include.pipelines.loop_stage import held_loop_stage

    run = run or ["vqc_classifier", prefix, "train", -1]
    return held_loop_stage(
        store, prefix, [features, encoding], params, vqc_loop, store_train, run=run, protocol=protocol
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
    probabilities, totals = predict(
        config, theta, test[columns].to_numpy(), run=["vqc_classifier", prefix, "evaluate", -1]
    )
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
    raise_with_stored_report(report, check)
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
