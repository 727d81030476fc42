"""Accuracy and training time of the variational quantum classifier against an RBF SVM, side by
side on the same preprocessed splits: iris (2 classes, 3 classes) and breast cancer reduced to
4 and 8 features, median over seeds.

Each (case, seed) runs qflow's own preprocessing (PCA → [0, π], stratified 75/25 split with that
seed), the encoding the DAG's "auto" chooser picks (or --encoding), the VQC control loop through
the loop engine on in-process Aer (seeded; one job of the whole train split per evaluation) and
scikit-learn's SVC(kernel="rbf") on exactly the same features. Pure core functions, no
S3/Airflow (the ledgers in a fresh temporary SQLite per run): this measures the learning, not the
orchestration.

Usage: python bench/vqc_accuracy.py [--seeds 5] [--shots 256] [--iterations 40] [--reps 1]
       [--encoding auto]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

CASES = [
    ("iris, 2 classes", "iris", 2, 4),
    ("iris, 3 classes", "iris", 3, 4),
    ("breast cancer → 4 features", "breast_cancer", 0, 4),
    ("breast cancer → 8 features", "breast_cancer", 0, 8),
]


def run_case(dataset: str, n_classes: int, kept: int, seed: int, args: argparse.Namespace) -> dict[str, float | str]:
    from include.data.datasets import load_builtin
    from include.data.preprocess import PreprocessSpec, preprocess_frame
    from include.problems.classifier_baselines import classical_baselines, score
    from include.quantum.circuits.encodings import choose_encoding, encoding_cost
    from include.quantum.loops.vqc import VQCConfig, predict, train_vqc

    table = load_builtin(dataset, n_classes)
    result = preprocess_frame(table.frame, PreprocessSpec(table.feature_columns, n_components=kept, seed=seed))
    assert result.features is not None
    f, cols = result.features, result.transform.output_columns
    train, test = f[f["split"] == "train"], f[f["split"] == "test"]
    if args.encoding == "auto":
        chosen, _ = choose_encoding(kept, max_qubits=8, max_depth=200, seed=seed)
    else:
        chosen = encoding_cost(args.encoding, kept, seed=seed)
    config = VQCConfig(
        chosen.encoding,
        kept,
        table.n_classes,
        reps=args.reps,
        shots=args.shots,
        max_iterations=args.iterations,
        seed=seed,
    )
    # Fresh ledgers per (case, seed): this measures the learning, not a day's shot quota.
    os.environ["QFLOW_LEDGER_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='qflow-vqc-accuracy-')}/ledger.sqlite"
    started = time.perf_counter()
    trained = train_vqc(config, train[cols].to_numpy(), train["label"].to_numpy())
    vqc_seconds = time.perf_counter() - started
    probabilities, _ = predict(config, trained.best_parameters, test[cols].to_numpy())
    vqc = score("vqc", test["label"].to_numpy(), probabilities.argmax(axis=1), vqc_seconds, 0.0)
    svm = next(
        s
        for s in classical_baselines(
            train[cols].to_numpy(),
            train["label"].to_numpy(),
            test[cols].to_numpy(),
            test["label"].to_numpy(),
            seed,
        )
        if s.method == "rbf_svm"
    )
    return {
        "encoding": f"{chosen.encoding} ({chosen.n_qubits}q)",
        "vqc_accuracy": vqc.accuracy,
        "svm_accuracy": svm.accuracy,
        "accuracy_ratio": vqc.accuracy / svm.accuracy if svm.accuracy else float("nan"),
        "vqc_seconds": vqc_seconds,
        "svm_seconds": svm.train_seconds,
        "time_ratio": vqc_seconds / max(svm.train_seconds, 1e-9),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--shots", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--encoding", default="auto")
    args = parser.parse_args()
    print(
        f"VQC (RealAmplitudes reps={args.reps}, COBYLA, {args.iterations} loss evaluations, "
        f"{args.shots} shots, loop engine on Aer) vs RBF SVM; "
        f"median of {args.seeds} seeds (split + init + simulator)"
    )
    header = (
        f"{'case':<28} {'encoding':<16} {'VQC acc':>8} {'SVM acc':>8} {'acc ratio':>10} "
        f"{'VQC train s':>12} {'SVM train s':>12} {'time ratio':>11}"
    )
    print(header)
    print("-" * len(header))
    for label, dataset, n_classes, kept in CASES:
        rows = [run_case(dataset, n_classes, kept, seed, args) for seed in range(1, args.seeds + 1)]

        def median(key: str, rows: list[dict[str, float | str]] = rows) -> float:
            return statistics.median(float(r[key]) for r in rows)

        encodings = sorted({str(r["encoding"]) for r in rows})
        print(
            f"{label:<28} {','.join(encodings):<16} "
            f"{median('vqc_accuracy'):>8.3f} {median('svm_accuracy'):>8.3f} "
            f"{median('accuracy_ratio'):>10.3f} "
            f"{median('vqc_seconds'):>12.2f} {median('svm_seconds'):>12.4f} "
            f"{median('time_ratio'):>10.0f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
