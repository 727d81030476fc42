"""The ``vqc_classifier`` workload of the nightly sweep: data sets × encodings × ansatz reps.

An *instance* is a built-in data set (two classes), its PCA-reduced, min-max-scaled features and
one train/test split (seeded): prepared once with the classifier workflow's own stages (load, GX
raw-table suite, preprocess, GX features suite) and its classical baselines (logistic regression
and the RBF SVM on the same split), content-addressed under ``<root>/instances/<hash>/`` and
reused by every later night.

An *experiment* trains the VQC (``include.quantum.loops.vqc.train_vqc``: one job of the whole
training split per evaluation) and scores it on the held-out split, on one backend and noise
model, held in one batch task: every job goes through the protocol the batch task builds (the
job ledger, the environment's admission, settlement), as a MaxCut batch's one job does. Only
in-process backends (Aer, Braket's local simulator) hold a training loop; a queued provider's
combinations are skipped with the reason.

Result rows: ``objective`` = held-out accuracy, ``expected_objective`` = training accuracy at
the best evaluation, ``variant`` = the encoding, ``reps`` = ansatz reps, ``n_nodes`` = qubits.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from include.benchmark.workloads import Experiment, ReportSection, Workload, in_process_only, section_fragment

NAME = "vqc_classifier"
VQC = "vqc"
BASELINES = ("logistic_regression", "rbf_svm")
N_CLASSES = 2  # the parity readout; the built-in sets keep their first two classes
TEST_SIZE = 0.25
OPTIMISER = "COBYLA"
# A VQC accuracy above the best baseline's by more than this counts as a win (one held-out
# sample of 25 is 0.04: ties and float noise are not wins).
WIN_TOLERANCE = 1e-9


def family_of(dataset: str) -> str:
    return f"vqc_{dataset}"


def instance_specs(grid: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One instance per (data set, split seed); nothing here is impossible (features beyond a data
    set's columns are capped by the preprocessing, which the prepared record reports)."""
    if NAME not in grid.workloads:
        return [], []
    specs = [
        {"workload": NAME, "dataset": dataset, "features_kept": int(grid.vqc_features), "seed": seed}
        for dataset in dict.fromkeys(grid.vqc_datasets)
        for seed in range(grid.vqc_seeds)
    ]
    return specs, []


def _params(spec: Mapping[str, Any]) -> Any:
    from include.pipelines.vqc_classifier.params import VQCClassifierParams

    return VQCClassifierParams(
        dataset=str(spec["dataset"]),
        n_classes=N_CLASSES,
        features_kept=int(spec["features_kept"]),
        test_size=TEST_SIZE,
        seed=int(spec["seed"]),
    )


def instance_hash(spec: Mapping[str, Any]) -> str:
    """The content hash of an instance: the loaded table's bytes and the preprocessing settings."""
    from include.data.datasets import load_builtin
    from include.store.artifacts import canonical_json, parquet_bytes, sha256_hex

    params = _params(spec)
    table = load_builtin(params.dataset, params.n_classes).frame
    return sha256_hex(
        canonical_json(
            {
                "workload": NAME,
                "table": sha256_hex(parquet_bytes(table)),
                "preprocess": {
                    "features_kept": params.features_kept,
                    "reduction": params.reduction,
                    "scaler": params.scaler,
                    "impute": params.impute,
                    "test_size": params.test_size,
                    "seed": params.seed,
                },
            }
        )
    )


def prepare(store: Any, spec: Mapping[str, Any], grid: Any) -> dict[str, Any]:
    """Load → GX raw suite → preprocess → GX features suite → baselines, once per instance;
    ``prepared.json`` written last marks it complete (a later night, or a retry, reuses it)."""
    from include.benchmark.grid import SWEEP_VERSION, sweep_root
    from include.pipelines.vqc_classifier.data_stages import (
        stage_load,
        stage_preprocess,
        stage_validate_features,
        stage_validate_raw,
    )
    from include.problems.classifier_baselines import classical_baselines
    from include.store.artifacts import canonical_json, sha256_hex

    params = _params(spec)
    digest = instance_hash(spec)
    prefix = f"{sweep_root()}/instances/{digest}"
    record_uri = store.uri(f"{prefix}/prepared.json")
    record: dict[str, Any] | None = None
    if store.exists(record_uri):
        record = json.loads(store.get_bytes(record_uri))
        if record.get("sweep_version") != SWEEP_VERSION:
            record = None
    reused = record is not None
    if record is None:
        raw = stage_load(store, prefix, params)
        raw_validation = stage_validate_raw(store, prefix, raw, params)
        features = stage_preprocess(
            store, prefix, raw, raw_validation, params, cache_prefix=f"{sweep_root()}/cache/preprocess"
        )
        validation = stage_validate_features(store, prefix, features)
        x_train, y_train, x_test, y_test, columns, manifest = _split(store, features.to_xcom())
        scores = classical_baselines(x_train, y_train, x_test, y_test, params.seed)
        record = {
            "sweep_version": SWEEP_VERSION,
            "workload": NAME,
            "instance_hash": digest,
            "family": family_of(params.dataset),
            "dataset": params.dataset,
            "seed": params.seed,
            "n_nodes": len(columns),  # features kept
            "n_classes": int(manifest["n_classes"]),
            "n_train": len(y_train),
            "n_test": len(y_test),
            "feature_columns": list(columns),
            "angle_range": [float(a) for a in manifest["angle_range"]],
            "features": features.to_xcom(),
            "validation": validation.to_xcom(),
            "classical": [
                {
                    "method": s.method,
                    "accuracy": s.accuracy,
                    "f1_macro": s.f1_macro,
                    "seconds": s.train_seconds + s.predict_seconds,
                }
                for s in scores
            ],
        }
        store.put_bytes(record_uri, canonical_json(record), content_type="application/json")
    return {
        **record,
        "prepared_uri": record_uri,
        "prepared_sha256": sha256_hex(canonical_json(record)),
        "reused": reused,
    }


def _split(
    store: Any, features: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], dict[str, Any]]:
    from include.store.artifacts import ArtifactRef

    ref = ArtifactRef.from_xcom(features)
    manifest = store.read_manifest(ref.uri)["params"]
    columns = list(manifest["feature_columns"])
    frame = store.read_table(ref)
    train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
    return (
        train[columns].to_numpy(dtype=float),
        train["label"].to_numpy(dtype=np.int64),
        test[columns].to_numpy(dtype=float),
        test["label"].to_numpy(dtype=np.int64),
        columns,
        manifest,
    )


def experiments(record: Mapping[str, Any], grid: Any) -> list[Experiment]:
    """Encodings × ansatz reps of one prepared instance (the grid's backends × noise come after)."""
    from include.quantum.circuits.encodings import n_qubits_for

    n_features = int(record["n_nodes"])
    out = []
    for encoding in dict.fromkeys(grid.vqc_encodings):
        n_qubits = n_qubits_for(encoding, n_features)
        for reps in dict.fromkeys(grid.vqc_reps):
            config = {
                "encoding": encoding,
                "n_features": n_features,
                "n_classes": int(record["n_classes"]),
                "optimiser": OPTIMISER,
                "max_iterations": int(grid.vqc_max_iterations),
                "seed": int(record["seed"]),
                "angle_range": list(record["angle_range"]),
                "features_uri": record["features"]["uri"],
                "features_sha256": record["features"]["sha256"],
            }
            # Every evaluation simulates each training sample: 2^q x reps x shots x samples x evaluations.
            cost = (2.0 ** min(n_qubits, 30)) * reps * grid.vqc_shots * int(record["n_train"]) * grid.vqc_max_iterations
            out.append(Experiment(n_qubits, int(reps), int(grid.vqc_shots), encoding, config, cost))
    return out


def experiment_key(record: Mapping[str, Any], experiment: Experiment, identity: Any) -> str:
    """The content hash of what would train: the instance, the classifier and its optimiser
    (seeded), shots, backend spec, the noise that applies, calibration and transpiler settings."""
    from include.benchmark.grid import SWEEP_VERSION
    from include.benchmark.plan import TRANSPILE
    from include.store.artifacts import canonical_json, sha256_hex

    config = {k: v for k, v in experiment.config.items() if k != "features_uri"}  # its hash stays
    return sha256_hex(
        canonical_json(
            {
                "sweep_version": SWEEP_VERSION,
                "workload": NAME,
                "instance": record["instance_hash"],
                "classifier": config,
                "reps": experiment.reps,
                "shots": experiment.shots,
                "backend": identity.spec,
                "noise": identity.effective_noise,
                "calibration": identity.calibration,
                "transpile": TRANSPILE,
            }
        )
    )


def backend_skip(identity: Any) -> str:
    """A training loop is held in one batch task: only where jobs live in the task's process."""
    return in_process_only(identity, "a VQC experiment trains", "vqc_classifier")


def run_batch(
    store: Any,
    batch: Mapping[str, Any],
    rows: pd.DataFrame,
    *,
    protocol_for: Callable[[Any], Any],
    night: str = "",
) -> Any:
    """Train and score every experiment of the batch not stored yet, each through the protocol
    ``protocol_for`` builds for its backend (seeded from the key: a re-run trains the same way)."""
    from include.benchmark.batches import BatchOutcome, put_result, result_manifest_uri
    from include.benchmark.plan import TRANSPILE
    from include.quantum.backends.registry import make_backend
    from include.quantum.loops.vqc import VQCConfig, predict, train_vqc
    from include.store.artifacts import ArtifactRef, parquet_bytes

    outcome = BatchOutcome(int(batch["batch"]), str(batch["spec"]))
    started = time.time()
    # No transpile cache: a cached ISA circuit carries the Parameters of the ansatz it was built
    # from, and VQCProblem finds its weight columns by Parameter identity, so the prediction's
    # new ansatz (or another experiment's) would bind no weights. Each loop transpiles once.
    cache = None
    for row in rows.sort_values("experiment_id").itertuples(index=False):
        if store.exists(result_manifest_uri(store, str(row.result_prefix))):
            outcome.already_stored += 1
            continue
        settings = json.loads(str(row.config))
        features = {"uri": settings["features_uri"], "sha256": settings["features_sha256"], "manifest_uri": None}
        x_train, y_train, x_test, y_test, _, _ = _split(store, features)
        config = VQCConfig(
            encoding=settings["encoding"],
            n_features=int(settings["n_features"]),
            n_classes=int(settings["n_classes"]),
            reps=int(row.reps),
            shots=int(row.shots),
            optimiser=settings["optimiser"],
            max_iterations=int(settings["max_iterations"]),
            seed=int(settings["seed"]),
            angle_range=(float(settings["angle_range"][0]), float(settings["angle_range"][1])),
        )
        key = str(row.experiment_key)
        backend = make_backend(str(row.spec), seed=int(key[-8:], 16))
        protocol = protocol_for(backend)
        wall = time.perf_counter()
        trained = train_vqc(
            config,
            x_train,
            y_train,
            backend=backend,
            protocol=protocol,
            transpile_cache=cache,
            run=["sweep", key, "train"],
            dataset_version=settings["features_sha256"],
            flush_seconds=0.0,
        )
        probabilities, _ = predict(
            config,
            trained.best_parameters,
            x_test,
            backend=backend,
            protocol=protocol,
            transpile_cache=cache,
            run=["sweep", key, "predict"],
        )
        total = time.perf_counter() - wall
        accuracy = float((probabilities.argmax(axis=1) == y_test).mean())
        best = min(trained.iterations, key=lambda r: r.loss)
        cost = float(sum(protocol.settled.values()))
        evaluations = len(trained.iterations)
        result = {
            "experiment_key": key,
            "instance_hash": str(row.instance_hash),
            "workload": NAME,
            "family": str(row.family),
            "n_nodes": int(row.n_nodes),
            "seed": int(row.seed),
            "method": VQC,
            "variant": str(row.variant),
            "backend": str(row.backend),
            "noise": str(row.noise),
            "shots": int(row.shots),
            "reps": int(row.reps),
            "objective": accuracy,
            "expected_objective": float(best.train_accuracy),
            "optimum": math.nan,
            "approximation_ratio": math.nan,
            "expected_approximation_ratio": math.nan,
            "angle_seconds": 0.0,
            "compile_seconds": trained.transpile_seconds,
            "queue_seconds": 0.0,
            "execute_seconds": trained.execute_seconds,
            # The optimiser, the readout and the held-out prediction: the rest of the wall time.
            "postprocess_seconds": max(total - trained.transpile_seconds - trained.execute_seconds, 0.0),
            "cost": cost,
            "tier": 1,
        }
        put_result(
            store,
            str(row.result_prefix),
            result,
            inputs=[ArtifactRef(settings["features_uri"], settings["features_sha256"], None)],
            params={
                "experiment": {k: result[k] for k in ("backend", "noise", "shots", "reps", "variant")},
                "spec": str(row.spec),
                "classifier": {k: v for k, v in settings.items() if not k.startswith("features_")},
                "best_parameters": [float(p) for p in trained.best_parameters],
                "transpiler": TRANSPILE,
            },
            measurements={
                "night": night,
                "evaluations": evaluations,
                "best_loss": float(trained.best_loss),
                "jobs": len(protocol.settled),
            },
            attachments={"trace.parquet": parquet_bytes(trained.trace_frame())},
        )
        outcome.executed += 1
        outcome.pubs += evaluations + 1  # one job per evaluation, one for the held-out split
        outcome.cost += cost
    outcome.seconds = time.time() - started
    return outcome


def baseline_rows(prepared: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Logistic regression and the RBF SVM of every instance (run once, at preparation)."""
    from include.benchmark.plan import classical_key
    from include.benchmark.schema import classical_result_row

    return [
        classical_result_row(
            record,
            experiment_key=classical_key(record["instance_hash"], entry["method"]),
            workload=NAME,
            method=entry["method"],
            objective=float(entry["accuracy"]),
            optimum=math.nan,  # no known optimum: the figure is the accuracy itself
            seconds=float(entry["seconds"]),
            reused=bool(record.get("reused", False)),
        )
        for record in prepared
        for entry in record["classical"]
    ]


CONFIG_COLUMNS = ("family", "variant", "reps", "backend", "noise", "shots")


def comparisons(results: pd.DataFrame) -> pd.DataFrame:
    """One row per VQC experiment: its held-out accuracy beside logistic regression's and the RBF
    SVM's on the same split, and the gap to the better of the two (> 0: the VQC was better)."""
    rows = results.drop_duplicates(subset="experiment_key", keep="first")
    vqc = rows[rows["method"] == VQC]
    base = rows[rows["method"].isin(BASELINES)].pivot_table(
        index="instance_hash", columns="method", values="objective", aggfunc="first"
    )
    columns = [*CONFIG_COLUMNS, "instance_hash", "seed", "n_nodes", "accuracy", *BASELINES, "best_classical", "gap"]
    if vqc.empty or base.empty:
        return pd.DataFrame(columns=columns)
    base = base.reindex(columns=list(BASELINES))
    merged = vqc.join(base, on="instance_hash", how="inner").rename(columns={"objective": "accuracy"})
    merged["best_classical"] = merged[list(BASELINES)].max(axis=1)
    merged["gap"] = merged["accuracy"] - merged["best_classical"]
    return merged[columns].reset_index(drop=True)


def report_section(results: pd.DataFrame) -> ReportSection:
    """The classifier's section: held-out accuracy per configuration against logistic regression
    and the RBF SVM on the same split, and plain sentences on where the VQC adds nothing."""
    import html

    compared = comparisons(results)
    rows = results.drop_duplicates(subset="experiment_key", keep="first")
    lines: list[str] = []
    if not (rows["method"] == VQC).any():
        lines.append("vqc_classifier: no VQC results this night — its value against the baselines is not assessed.")
    elif compared.empty:
        lines.append("vqc_classifier: no VQC result has baselines on its split — value added not assessed.")
    cells = pd.DataFrame()
    if len(compared):
        cells = (
            compared.groupby(list(CONFIG_COLUMNS), sort=True)
            .agg(
                splits=("gap", "size"),
                accuracy=("accuracy", "median"),
                logistic_regression=("logistic_regression", "median"),
                rbf_svm=("rbf_svm", "median"),
                gap=("gap", "median"),
                wins=("gap", lambda g: int((g > WIN_TOLERANCE).sum())),
            )
            .reset_index()
        )
        cells["adds_nothing"] = cells["gap"] <= WIN_TOLERANCE
        for family, part in compared.groupby("family", sort=True):
            won = part[part["gap"] > WIN_TOLERANCE]
            medians = part[["accuracy", "best_classical"]].median()
            if won.empty:
                lines.append(
                    f"{family}: the VQC never beat the better of logistic regression and the RBF SVM on the same "
                    f"split in any of its {len(part)} comparisons (median held-out accuracy "
                    f"{medians['accuracy']:.3f} vs {medians['best_classical']:.3f}) — quantum added nothing here."
                )
            else:
                lines.append(
                    f"{family}: the VQC beat the better classical baseline in {len(won)} of {len(part)} comparisons "
                    f"(median held-out accuracy {medians['accuracy']:.3f} vs {medians['best_classical']:.3f})."
                )
        nothing = int(cells["adds_nothing"].sum())
        lines.append(
            f"vqc_classifier: the median VQC accuracy is no better than the best classical baseline's in "
            f"{nothing} of {len(cells)} (data set, encoding, reps, backend, noise, shots) cells."
        )
    columns = [
        ("family", "data set", ""),
        ("variant", "encoding", ""),
        ("reps", "reps", "int"),
        ("backend", "backend", ""),
        ("noise", "noise", ""),
        ("shots", "shots", "int"),
        ("splits", "splits", "int"),
        ("accuracy", "VQC accuracy (median)", ".3f"),
        ("logistic_regression", "logistic regression", ".3f"),
        ("rbf_svm", "RBF SVM", ".3f"),
        ("gap", "VQC − best classical", "+.3f"),
        ("wins", "splits won", "int"),
    ]
    from include.benchmark.report.html import html_table

    nothing_items = "".join(
        f"<li>{html.escape(str(r['family']))}, {html.escape(str(r['variant']))} reps={int(r['reps'])}, "
        f"{html.escape(str(r['backend']))}/{html.escape(str(r['noise']))}, shots={int(r['shots'])}: "
        f"VQC {r['accuracy']:.3f} vs logistic regression {r['logistic_regression']:.3f}, "
        f"RBF SVM {r['rbf_svm']:.3f}</li>"
        for _, r in (cells[cells["adds_nothing"]] if len(cells) else cells).iterrows()
    )
    fragment = section_fragment(
        anchor=NAME,
        title="Classifier (vqc_classifier): VQC against logistic regression and the RBF SVM",
        note="Held-out accuracy on the same train/test split (medians across splits). The VQC is trained by the "
        "loop engine (COBYLA, one job of the whole training split per evaluation) on the grid's backends and noise "
        "models; the baselines are scikit-learn's defaults.",
        headline=lines,
        nothing_title="Where the VQC adds nothing",
        nothing_items=nothing_items,
        nothing_empty="No cell where the VQC's median accuracy is at or below the best baseline's"
        + (" (no cell could be assessed)." if cells.empty else "."),
        table_title="Accuracy per configuration",
        table=html_table(cells, columns, empty="no VQC result could be compared with the baselines"),
    )
    return ReportSection(lines, fragment, cells)


WORKLOAD = Workload(
    name=NAME,
    title="Classifier (VQC)",
    instance_specs=instance_specs,
    prepare=prepare,
    experiments=experiments,
    experiment_key=experiment_key,
    backend_skip=backend_skip,
    run_batch=run_batch,
    baseline_rows=baseline_rows,
    report_section=report_section,
)
