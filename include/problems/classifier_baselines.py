"""Classical baselines for the classifier workload: logistic regression and an RBF SVM on the
same split as the VQC, scored with the same metrics (accuracy, macro-F1) and timed."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassifierScore:
    method: str
    accuracy: float
    f1_macro: float
    train_seconds: float
    predict_seconds: float


def score(method: str, y_true: np.ndarray, y_pred: np.ndarray, train_s: float, predict_s: float) -> ClassifierScore:
    from sklearn.metrics import accuracy_score, f1_score

    return ClassifierScore(
        method,
        float(accuracy_score(y_true, y_pred)),
        float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        train_s,
        predict_s,
    )


def classical_baselines(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, seed: int
) -> list[ClassifierScore]:
    """Logistic regression and an RBF SVM (scikit-learn defaults), each timed."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    models = {
        "logistic_regression": LogisticRegression(max_iter=1000, random_state=seed),
        "rbf_svm": SVC(kernel="rbf", random_state=seed),
    }
    scores = []
    for name, model in models.items():
        t0 = time.perf_counter()
        model.fit(x_train, y_train)
        t1 = time.perf_counter()
        predicted = model.predict(x_test)
        t2 = time.perf_counter()
        scores.append(score(name, y_test, predicted, t1 - t0, t2 - t1))
    return scores
