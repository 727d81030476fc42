"""The VQC control loop through the loop engine (one job of the whole split per evaluation) and its
baselines, on a small, seeded problem on Aer."""

from __future__ import annotations

import numpy as np
import pytest

from include.data.datasets import load_builtin
from include.data.preprocess import PreprocessSpec, preprocess_frame
from include.problems.classifier_baselines import classical_baselines
from include.quantum.backends.aer import AerBackend
from include.quantum.circuits.classifier import class_of_bits
from include.quantum.loops.vqc import VQCConfig, VQCConfigError, VQCProblem, predict, train_vqc


@pytest.fixture(scope="module")
def iris_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    table = load_builtin("iris", 2)
    result = preprocess_frame(table.frame, PreprocessSpec(table.feature_columns, n_components=2, seed=1))
    assert result.features is not None
    f = result.features
    train, test = f[f["split"] == "train"], f[f["split"] == "test"]
    cols = ["f0", "f1"]
    return train[cols].to_numpy(), train["label"].to_numpy(), test[cols].to_numpy(), test["label"].to_numpy()


def test_class_readout_is_parity_for_two_classes_and_modulo_otherwise() -> None:
    bits = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])  # qubit 0 first: values 0, 1, 2, 3
    assert class_of_bits(bits, 2).tolist() == [0, 1, 1, 0]
    assert class_of_bits(bits, 3).tolist() == [0, 1, 2, 0]


def test_training_learns_iris_and_beats_chance_on_the_held_out_split(iris_split) -> None:
    x_train, y_train, x_test, y_test = iris_split
    config = VQCConfig("angle", 2, 2, reps=1, shots=256, max_iterations=20, seed=1)
    backend = AerBackend(seed=1)
    result = train_vqc(config, x_train, y_train, backend=backend)
    assert [e.iteration for e in result.evaluations] == list(range(len(result.iterations))) and len(
        result.iterations
    ) <= 20
    assert result.transpile_count == 1  # one ISA circuit for every sample and iteration
    assert result.best_loss < result.iterations[0].loss
    # Each evaluation was one job of the whole split: one pub, one parameter row per sample.
    assert len(backend._jobs) == len(result.iterations)
    assert all(len(raw.counts) == 1 and len(raw.counts[0]) == len(x_train) for _, raw in backend._jobs.values())
    assert {e.backend for e in result.evaluations} == {"aer:automatic"}
    assert all(e.shots == 256 and e.mode == "held" and e.job_id for e in result.evaluations)
    probabilities, totals = predict(config, result.best_parameters, x_test)
    assert np.all(totals == 256) and np.allclose(probabilities.sum(axis=1), 1.0)
    assert (probabilities.argmax(axis=1) == y_test).mean() >= 0.8


def test_the_loss_is_scored_from_the_jobs_counts_through_the_protocol(iris_split) -> None:
    """VQCProblem on its own: the pubs the engine submits and the loss read back from counts."""
    from include.quantum.loops.engine import LoopSettings, MemoryCheckpoint, VariationalLoop
    from include.quantum.submission import local_protocol

    x_train, y_train, _, _ = iris_split
    config = VQCConfig("angle", 2, 2, reps=1, shots=128, max_iterations=1, seed=1)
    problem = VQCProblem(config, x_train, y_train)
    loop = VariationalLoop(
        problem,
        local_protocol(AerBackend(seed=1)),
        MemoryCheckpoint(),
        LoopSettings(shots=128),
        run=["t", "r", "x", -1],
        dataset_version="v",
    )
    loop.prepare()
    (pub,) = problem.pubs(loop.isa, problem.start)
    assert pub.parameter_values.shape == (len(x_train), 2 + 2 * 2)  # features + weights per sample
    raw = loop.sample(problem.start)
    loss, metrics = problem.score(raw.counts)
    probabilities, totals = problem.probabilities(raw.counts)
    assert np.all(totals == 128) and loss == pytest.approx(
        -np.mean(np.log(probabilities[np.arange(len(y_train)), y_train] + 1e-6))
    )
    assert metrics["train_accuracy"] == pytest.approx((probabilities.argmax(axis=1) == y_train).mean())


@pytest.mark.parametrize("encoding", ["angle", "amplitude"])
def test_a_resumed_training_replays_to_the_same_trace(iris_split, encoding: str) -> None:
    from include.quantum.loops.engine import MemoryCheckpoint

    x_train, y_train, _, _ = iris_split
    config = VQCConfig(encoding, 2, 2, reps=1, shots=128, max_iterations=8, seed=2)
    full = train_vqc(config, x_train, y_train)
    checkpoint = MemoryCheckpoint()
    checkpoint.history = list(full.evaluations[:3])  # a training stopped after 3 evaluations
    backend = AerBackend(seed=2)
    resumed = train_vqc(config, x_train, y_train, checkpoint=checkpoint, backend=backend)
    assert resumed.trace_frame().equals(full.trace_frame())
    assert [(e.parameters, e.value, e.job_id) for e in resumed.evaluations] == [
        (e.parameters, e.value, e.job_id) for e in full.evaluations
    ]
    assert len(backend._jobs) == len(full.evaluations) - 3  # the 3 recorded ones are replayed, not re-run
    if encoding == "amplitude":
        assert resumed.transpile_count == len(x_train)  # one circuit per sample, once


def test_a_split_over_the_per_job_shot_limit_fails_before_any_job(iris_split) -> None:
    from include.governance.policy import current_environment_name, load_policy

    x_train, y_train, _, _ = iris_split
    policy = load_policy()
    limit = policy.environments[current_environment_name(policy)].shots_per_job  # per job, as the policy says
    shots = limit // len(x_train) + 1  # each sample's shots fit; the split's do not
    assert shots * len(x_train) > limit and shots < AerBackend().max_shots()
    backend = AerBackend(seed=1)
    with pytest.raises(VQCConfigError, match=rf"{len(x_train)} samples x shots={shots}.*per-job budget of {limit}"):
        train_vqc(VQCConfig("angle", 2, 2, shots=shots, max_iterations=3), x_train, y_train, backend=backend)
    assert backend._jobs == {}


def test_a_backend_too_small_for_the_classifier_fails_before_any_job(iris_split) -> None:
    x_train, y_train, _, _ = iris_split
    wide = np.hstack([x_train] * 4)  # 8 features, angle encoding: 8 qubits
    backend = AerBackend(noise_backend="fake_manila", seed=1)  # 5 qubits
    with pytest.raises(VQCConfigError, match="needs 8 qubits but aer:fake_manila has 5"):
        train_vqc(VQCConfig("angle", 8, 2, shots=64, max_iterations=3), wide, y_train, backend=backend)
    assert backend._jobs == {}


def test_the_iteration_budget_holds_even_below_the_optimisers_minimum(iris_split) -> None:
    x_train, y_train, _, _ = iris_split
    config = VQCConfig("angle", 2, 2, reps=2, shots=64, max_iterations=3, seed=1)  # 6 weights
    assert len(train_vqc(config, x_train[:10], y_train[:10]).iterations) == 3


def test_config_errors_name_the_field() -> None:
    with pytest.raises(VQCConfigError, match="optimiser='adam'"):
        VQCConfig("angle", 2, 2, optimiser="adam").check()
    with pytest.raises(VQCConfigError, match="3 classes cannot be read out of 1 qubit"):
        VQCConfig("amplitude", 2, 3).check()


def test_classical_baselines_score_the_same_split(iris_split) -> None:
    x_train, y_train, x_test, y_test = iris_split
    scores = classical_baselines(x_train, y_train, x_test, y_test, seed=1)
    assert [s.method for s in scores] == ["logistic_regression", "rbf_svm"]
    assert all(0.9 <= s.accuracy <= 1.0 and 0 <= s.f1_macro <= 1 and s.train_seconds >= 0 for s in scores)


def test_prediction_binds_the_weights_of_an_isa_circuit_another_build_cached(iris_split) -> None:
    """The transpile cache hands back the ISA circuit of whichever build of the classifier circuit
    transpiled it first; a later VQCProblem (the evaluate stage, a sweep's prediction) must bind its
    weights to that circuit's parameters by name, not by object identity."""
    from include.quantum.transpile_cache import TranspileCache

    x_train, y_train, x_test, _ = iris_split
    config = VQCConfig("angle", 2, 2, reps=1, shots=128, max_iterations=3, seed=1)
    cache = TranspileCache()
    result = train_vqc(config, x_train, y_train, backend=AerBackend(seed=1), transpile_cache=cache)
    probabilities, totals = predict(config, result.best_parameters, x_test, transpile_cache=cache)
    assert np.all(totals == 128) and probabilities.shape == (len(x_test), 2)
    uncached, _ = predict(config, result.best_parameters, x_test)
    assert np.allclose(probabilities.sum(axis=1), 1.0) and uncached.shape == probabilities.shape
