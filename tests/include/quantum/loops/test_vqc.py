"""The VQC control loop and its baselines on a small, seeded problem."""

from __future__ import annotations

import numpy as np
import pytest

from include.data.datasets import load_builtin
from include.data.preprocess import PreprocessSpec, preprocess_frame
from include.problems.classifier_baselines import classical_baselines
from include.quantum.circuits.classifier import class_of_bits
from include.quantum.loops.vqc import TrainRecord, VQCConfig, VQCConfigError, predict, train_vqc


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
    seen: list[TrainRecord] = []
    result = train_vqc(config, x_train, y_train, on_iteration=seen.append)
    assert [r.iteration for r in seen] == list(range(len(result.iterations))) and len(seen) <= 20
    assert result.transpile_count == 1  # one ISA circuit for every sample and iteration
    assert result.best_loss < result.iterations[0].loss
    probabilities, totals = predict(config, result.best_parameters, x_test)
    assert np.all(totals == 256) and np.allclose(probabilities.sum(axis=1), 1.0)
    assert (probabilities.argmax(axis=1) == y_test).mean() >= 0.8


def test_a_resumed_loop_continues_the_iteration_count_and_budget(iris_split) -> None:
    x_train, y_train, _, _ = iris_split
    config = VQCConfig("amplitude", 2, 2, reps=1, shots=128, max_iterations=8, seed=2)
    full = train_vqc(config, x_train, y_train)
    resumed = train_vqc(
        config,
        x_train,
        y_train,
        previous=full.iterations[:3],
        initial_point=min(full.iterations[:3], key=lambda r: r.loss).parameters,
    )
    assert [r.iteration for r in resumed.iterations] == list(range(len(resumed.iterations)))
    assert resumed.iterations[:3] == full.iterations[:3] and len(resumed.iterations) <= 8
    assert resumed.transpile_count == len(x_train)  # amplitude: one circuit per sample, once


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
