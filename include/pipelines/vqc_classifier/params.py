"""The classifier workflow's parameters (the DAG's Params, checked with messages naming the field)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from include.data.datasets import BUILTIN_DATASETS, DEFAULT_MAX_ROWS, DataSpecError
from include.params import params_from_mapping

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
    backend: str = "aer_simulator"  # the final (held-out) evaluation's backend
    loop_backend: str = "aer"  # where every training evaluation runs (a registry spec)
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
        from include.quantum.backends.errors import QuantumError
        from include.quantum.backends.registry import backend_profile

        try:
            backend_profile(self.loop_backend)
        except QuantumError as exc:
            raise DataSpecError(f"loop_backend={self.loop_backend!r}: {exc}") from exc

    def feature_list(self) -> list[str]:
        return [c.strip() for c in self.features.split(",") if c.strip()]
