"""Preprocessing for the classifier workflow: impute → standardise → reduce → scale into the
encoding's angle range, fitted on a seeded stratified train split and applied identically to
the test split.

Everything is computed from streaming statistics over chunks (sums, cross-products, per-class
moments, per-component min/max), so the same code serves an in-memory table (one chunk) and a
million-row Parquet file (``preprocess_parquet_stream``, bounded memory). The fitted transform
is a plain JSON document with its own SHA-256: it is stored as an artifact and re-applied with
``FittedTransform.apply`` — the test split and later inference use exactly the same numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from include.data.datasets import ID_COLUMN, LABEL_COLUMN, DataSpecError

IMPUTE_POLICIES: tuple[str, ...] = ("reject", "mean", "drop")
SCALERS: tuple[str, ...] = ("minmax", "standard")
REDUCTIONS: tuple[str, ...] = ("pca", "select", "none")
SPLIT_COLUMN = "split"
STANDARD_SPAN = 3.0  # "standard" maps ±3σ of each component onto the angle range (then clips)
EXAMPLES = 5

Chunks = Callable[[], Iterator[pd.DataFrame]]  # a fresh iterator of chunks per pass
Arrays = Callable[[], Iterator[np.ndarray]]  # the same chunks' feature matrices


@dataclass(frozen=True)
class PreprocessSpec:
    feature_columns: tuple[str, ...]
    label_column: str = LABEL_COLUMN
    id_column: str = ID_COLUMN  # empty: row position is the id
    impute: str = "reject"
    scaler: str = "minmax"
    reduction: str = "pca"
    n_components: int = 4
    angle_range: tuple[float, float] = (0.0, math.pi)
    test_size: float = 0.25
    seed: int = 7

    def check(self) -> None:
        if not self.feature_columns:
            raise DataSpecError("feature_columns is empty; name at least one numeric feature column")
        if self.impute not in IMPUTE_POLICIES:
            raise DataSpecError(f"impute={self.impute!r} is not one of {IMPUTE_POLICIES}")
        if self.scaler not in SCALERS:
            raise DataSpecError(f"scaler={self.scaler!r} is not one of {SCALERS}")
        if self.reduction not in REDUCTIONS:
            raise DataSpecError(f"reduction={self.reduction!r} is not one of {REDUCTIONS}")
        if self.reduction != "none" and not 1 <= self.n_components <= len(self.feature_columns):
            raise DataSpecError(
                f"n_components={self.n_components}: the table has {len(self.feature_columns)} feature "
                f"column(s); set 1 <= n_components <= {len(self.feature_columns)}"
            )
        lo, hi = self.angle_range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise DataSpecError(f"angle_range={self.angle_range}: need finite lo < hi")
        if not 0.0 < self.test_size < 1.0:
            raise DataSpecError(f"test_size={self.test_size}: set 0 < test_size < 1")

    def params(self) -> dict[str, Any]:
        values = asdict(self)
        values["feature_columns"] = list(self.feature_columns)
        values["angle_range"] = [float(v) for v in self.angle_range]
        return values

    @property
    def n_outputs(self) -> int:
        return len(self.feature_columns) if self.reduction == "none" else self.n_components


@dataclass(frozen=True)
class FittedTransform:
    """x → clip(a + (((fill(x) - mean) / scale) @ components.T - lo) / (hi - lo) * (b - a), a, b)."""

    input_columns: list[str]
    output_columns: list[str]
    fill_values: list[float] | None
    mean: list[float]
    scale: list[float]
    components: list[list[float]]
    lo: list[float]
    hi: list[float]
    angle_range: list[float]
    reduction: str
    scaler: str
    explained_variance_ratio: list[float] = field(default_factory=list)
    selected: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_json()).hexdigest()

    @classmethod
    def from_json(cls, data: bytes) -> FittedTransform:
        return cls(**json.loads(data))

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.fill_values is not None:
            x = np.where(np.isnan(x), np.asarray(self.fill_values), x)
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        projected = z @ np.asarray(self.components).T
        lo, hi = np.asarray(self.lo), np.asarray(self.hi)
        a, b = self.angle_range
        unit = (projected - lo) / np.where(hi > lo, hi - lo, 1.0)
        return np.clip(a + unit * (b - a), a, b)

    def frame(self) -> pd.DataFrame:
        """One row per output feature: its range and its loading on each input (readable form)."""
        rows = {
            "output": self.output_columns,
            "train_lo": self.lo,
            "train_hi": self.hi,
            "explained_variance_ratio": self.explained_variance_ratio or [float("nan")] * len(self.lo),
        }
        frame = pd.DataFrame(rows)
        loadings = np.asarray(self.components)
        for j, name in enumerate(self.input_columns):
            frame[f"w_{name}"] = loadings[:, j]
        return frame


@dataclass
class PreprocessResult:
    transform: FittedTransform
    n_rows: int
    n_train: int
    n_test: int
    n_dropped: int
    n_clipped_test: int
    features: pd.DataFrame | None = None  # in-memory path only


def _numeric(chunk: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    bad = [c for c in columns if not pd.api.types.is_numeric_dtype(chunk[c]) or chunk[c].dtype == bool]
    if bad:
        details = []
        for c in bad:
            coerced = pd.to_numeric(chunk[c], errors="coerce")
            offending = chunk[c][coerced.isna() & chunk[c].notna()].head(EXAMPLES).tolist()
            details.append(f"{c!r} (dtype {chunk[c].dtype}, e.g. {offending})")
        raise DataSpecError(
            f"feature column(s) {', '.join(details)} are not numeric; convert them upstream or drop them "
            "from feature_columns"
        )
    return chunk[list(columns)].to_numpy(dtype=np.float64)


def _require_columns(columns: Sequence[str], spec: PreprocessSpec) -> None:
    missing = [c for c in (*spec.feature_columns, spec.label_column) if c not in columns]
    if missing:
        raise DataSpecError(
            f"column(s) {missing} are missing from the table (it has {list(columns)}); "
            "fix feature_columns / label_column or the table"
        )


def _scan(
    chunks: Chunks, spec: PreprocessSpec, x_whole: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 0: labels, ids and rows to keep; enforces the imputation policy and finiteness.
    ``x_whole``: the single chunk's feature matrix, already converted (in-memory path)."""
    labels, ids, keep = [], [], []
    nan_counts = np.zeros(len(spec.feature_columns), dtype=np.int64)
    inf_counts = np.zeros(len(spec.feature_columns), dtype=np.int64)
    offset = 0
    for chunk in chunks():
        _require_columns(list(chunk.columns), spec)
        x = x_whole if x_whole is not None else _numeric(chunk, spec.feature_columns)
        nans = np.isnan(x)
        nan_counts += nans.sum(axis=0)
        inf_counts += np.isinf(x).sum(axis=0)
        label = chunk[spec.label_column]
        if label.isna().any():
            raise DataSpecError(f"label column {spec.label_column!r} has missing values; label every row")
        labels.append(label.to_numpy())
        if spec.id_column and spec.id_column in chunk.columns:
            ids.append(chunk[spec.id_column].to_numpy(dtype=np.int64))
        else:
            ids.append(np.arange(offset, offset + len(chunk), dtype=np.int64))
        keep.append(~nans.any(axis=1) if spec.impute == "drop" else np.ones(len(chunk), dtype=bool))
        offset += len(chunk)
    if inf_counts.any():
        named = [f"{c!r} ({n})" for c, n in zip(spec.feature_columns, inf_counts, strict=True) if n]
        raise DataSpecError(
            f"column(s) {', '.join(named)} hold infinite values; replace or drop them upstream "
            "(no imputation policy fills infinities)"
        )
    if spec.impute == "reject" and nan_counts.any():
        named = [f"{c!r} ({n} missing)" for c, n in zip(spec.feature_columns, nan_counts, strict=True) if n]
        raise DataSpecError(
            f"column(s) {', '.join(named)} have missing values and impute='reject'; clean the table "
            "upstream, or set impute='mean' (fill with the training mean) or impute='drop' (drop those rows)"
        )
    if not labels:
        raise DataSpecError("the table is empty; provide at least one row per class")
    return np.concatenate(labels), np.concatenate(ids), np.concatenate(keep)


def stratified_split(labels: np.ndarray, keep: np.ndarray, test_size: float, seed: int) -> np.ndarray:
    """Boolean mask over all rows: True = test. Stratified by label and seeded: each class's kept
    rows are permuted with ``default_rng(seed)`` (classes in sorted order) and the first
    round(test_size * n_c) of them (at least 1, at most n_c - 1) go to the test split."""
    positions = np.flatnonzero(keep)
    classes, counts = np.unique(labels[positions], return_counts=True)
    if len(classes) < 2:
        raise DataSpecError(
            f"the label column has {len(classes)} class(es) {classes.tolist()}; a classifier needs >= 2"
        )
    if counts.min() < 2:
        raise DataSpecError(
            f"class {classes[counts.argmin()]!r} has {counts.min()} row(s); a stratified split needs >= 2 "
            "per class — add rows or drop that class"
        )
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    kept_labels = labels[positions]
    for c, n_c in zip(classes, counts, strict=True):
        members = rng.permutation(positions[kept_labels == c])
        n_test = min(max(round(test_size * n_c), 1), n_c - 1)
        mask[members[:n_test]] = True
    return mask


def _train_rows(arrays: Arrays, train: np.ndarray) -> Iterator[np.ndarray]:
    offset = 0
    for x in arrays():
        yield x[train[offset : offset + len(x)]]
        offset += len(x)


def fit(
    chunks: Chunks, spec: PreprocessSpec, labels: np.ndarray, train: np.ndarray, arrays: Arrays | None = None
) -> FittedTransform:
    """Fit the transform on the training rows only, from streaming statistics. ``arrays``
    yields the chunks' feature matrices when the caller has them already."""
    if arrays is None:

        def arrays() -> Iterator[np.ndarray]:
            for chunk in chunks():
                yield _numeric(chunk, spec.feature_columns)

    d = len(spec.feature_columns)
    fill: np.ndarray | None = None
    if spec.impute == "mean":
        sums, counts = np.zeros(d), np.zeros(d)
        for x in _train_rows(arrays, train):
            sums += np.nansum(x, axis=0)
            counts += (~np.isnan(x)).sum(axis=0)
        empty = [c for c, n in zip(spec.feature_columns, counts, strict=True) if n == 0]
        if empty:
            raise DataSpecError(f"column(s) {empty} have no values in the training split; cannot impute")
        fill = sums / counts
    train_labels = labels[train]
    classes = np.unique(train_labels)
    n, s, cross = 0, np.zeros(d), np.zeros((d, d))
    class_n = np.zeros(len(classes))
    class_s = np.zeros((len(classes), d))
    class_ss = np.zeros((len(classes), d))
    position = 0
    for x in _train_rows(arrays, train):
        if fill is not None:
            x = np.where(np.isnan(x), fill, x)
        y = train_labels[position : position + len(x)]
        position += len(x)
        n += len(x)
        s += x.sum(axis=0)
        cross += x.T @ x
        for k, c in enumerate(classes if spec.reduction == "select" else ()):
            xc = x[y == c]
            class_n[k] += len(xc)
            class_s[k] += xc.sum(axis=0)
            class_ss[k] += (xc * xc).sum(axis=0)
    mean = s / n
    variance = np.maximum(np.diag(cross) / n - mean**2, 0.0)
    scale = np.sqrt(variance)
    scale[scale < 1e-12] = 1.0  # a constant column standardises to 0, not to NaN
    corr = (cross / n - np.outer(mean, mean)) / np.outer(scale, scale)
    explained: list[float] = []
    selected: list[str] = []
    if spec.reduction == "pca":
        eigenvalues, eigenvectors = np.linalg.eigh(corr)
        order = np.argsort(eigenvalues)[::-1][: spec.n_components]
        components = eigenvectors[:, order].T
        # Fix each component's sign (largest loading positive) so the fit is deterministic.
        signs = np.sign(components[np.arange(len(order)), np.abs(components).argmax(axis=1)])
        components = components * np.where(signs == 0, 1.0, signs)[:, None]
        total = float(np.clip(eigenvalues, 0, None).sum()) or 1.0
        explained = [float(max(v, 0.0) / total) for v in eigenvalues[order]]
        outputs = [f"pc{i}" for i in range(len(order))]
    elif spec.reduction == "select":
        scores = anova_f(class_n, class_s, class_ss)
        chosen = sorted(range(d), key=lambda j: (-scores[j], spec.feature_columns[j]))[: spec.n_components]
        components = np.eye(d)[chosen]
        selected = [spec.feature_columns[j] for j in chosen]
        outputs = selected
    else:
        components = np.eye(d)
        outputs = list(spec.feature_columns)
    projected_var = np.einsum("kd,de,ke->k", components, corr, components)
    if spec.scaler == "standard":
        sd = np.sqrt(np.maximum(projected_var, 0.0))
        lo, hi = -STANDARD_SPAN * sd, STANDARD_SPAN * sd
    else:
        lo, hi = np.full(len(components), np.inf), np.full(len(components), -np.inf)
        for x in _train_rows(arrays, train):
            if fill is not None:
                x = np.where(np.isnan(x), fill, x)
            p = ((x - mean) / scale) @ components.T
            if len(p):
                lo, hi = np.minimum(lo, p.min(axis=0)), np.maximum(hi, p.max(axis=0))
    return FittedTransform(
        input_columns=list(spec.feature_columns),
        output_columns=[f"f{i}" for i in range(len(outputs))],
        fill_values=None if fill is None else [float(v) for v in fill],
        mean=[float(v) for v in mean],
        scale=[float(v) for v in scale],
        components=[[float(v) for v in row] for row in components],
        lo=[float(v) for v in lo],
        hi=[float(v) for v in hi],
        angle_range=[float(v) for v in spec.angle_range],
        reduction=spec.reduction,
        scaler=spec.scaler,
        explained_variance_ratio=explained,
        selected=selected or [str(o) for o in outputs],
    )


def anova_f(class_n: np.ndarray, class_s: np.ndarray, class_ss: np.ndarray) -> np.ndarray:
    """ANOVA F statistic per feature from per-class counts, sums and sums of squares."""
    n = class_n.sum()
    grand = class_s.sum(axis=0) / n
    class_mean = class_s / class_n[:, None]
    between = (class_n[:, None] * (class_mean - grand) ** 2).sum(axis=0)
    within = (class_ss - class_n[:, None] * class_mean**2).sum(axis=0)
    k = len(class_n)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (between / max(k - 1, 1)) / (within / max(n - k, 1))
    return np.nan_to_num(f, nan=0.0, posinf=np.finfo(float).max)


def _output_frame(
    ids: np.ndarray, labels: np.ndarray, test: np.ndarray, values: np.ndarray, names: Sequence[str]
) -> pd.DataFrame:
    frame = pd.DataFrame({ID_COLUMN: ids.astype(np.int64), LABEL_COLUMN: labels.astype(np.int64)})
    frame[SPLIT_COLUMN] = np.where(test, "test", "train")
    for j, name in enumerate(names):
        frame[name] = values[:, j]
    return frame


def preprocess_frame(table: pd.DataFrame, spec: PreprocessSpec) -> PreprocessResult:
    """The in-memory path: one chunk. Returns the fitted transform and the features table
    (sample_id, label, split, f0..f{k-1}), rows sorted by sample_id."""
    spec.check()

    def chunks() -> Iterator[pd.DataFrame]:
        yield table

    _require_columns(list(table.columns), spec)
    x_all = _numeric(table, spec.feature_columns)  # converted once, shared by every pass

    def arrays() -> Iterator[np.ndarray]:
        yield x_all

    labels, ids, keep = _scan(chunks, spec, x_all)
    labels = _label_codes(labels, spec)
    test = stratified_split(labels, keep, spec.test_size, spec.seed)
    train = keep & ~test
    transform = fit(chunks, spec, labels, train, arrays)
    x = x_all[keep] if not keep.all() else x_all
    raw = _unclipped(transform, x)
    values = transform.apply(x)
    features = _output_frame(ids[keep], labels[keep], test[keep], values, transform.output_columns)
    features = features.sort_values(ID_COLUMN, kind="mergesort", ignore_index=True)
    if features[ID_COLUMN].duplicated().any():
        raise DataSpecError(f"id column {spec.id_column!r} has duplicate ids; ids must be unique")
    return PreprocessResult(
        transform=transform,
        n_rows=len(labels),
        n_train=int(train.sum()),
        n_test=int((keep & test).sum()),
        n_dropped=int((~keep).sum()),
        n_clipped_test=int(_clipped_rows(transform, raw[test[keep]])),
        features=features,
    )


def _label_codes(labels: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Labels as integers 0..C-1 (sorted class order); non-integer labels are coded."""
    if pd.api.types.is_integer_dtype(labels.dtype):
        return labels.astype(np.int64)
    _, codes = np.unique(labels.astype(str), return_inverse=True)
    return codes.astype(np.int64)


def _unclipped(transform: FittedTransform, x: np.ndarray) -> np.ndarray:
    if transform.fill_values is not None:
        x = np.where(np.isnan(x), np.asarray(transform.fill_values), x)
    return ((x - np.asarray(transform.mean)) / np.asarray(transform.scale)) @ np.asarray(transform.components).T


def _clipped_rows(transform: FittedTransform, projected: np.ndarray) -> int:
    if not len(projected):
        return 0
    outside = (projected < np.asarray(transform.lo) - 1e-12) | (projected > np.asarray(transform.hi) + 1e-12)
    return int(outside.any(axis=1).sum())


def preprocess_parquet_stream(
    source: str, destination: str, spec: PreprocessSpec, batch_rows: int = 100_000
) -> PreprocessResult:
    """The bounded-memory path for large local Parquet files: four passes over row batches
    (scan, moments, ranges, transform) with only labels, ids and the split mask held whole.
    Writes the features table (same columns as ``preprocess_frame``) to ``destination``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    spec.check()
    wanted = [*spec.feature_columns, spec.label_column]
    if spec.id_column:
        names = pq.ParquetFile(source).schema_arrow.names
        if spec.id_column in names:
            wanted.append(spec.id_column)

    def chunks() -> Iterator[pd.DataFrame]:
        for batch in pq.ParquetFile(source).iter_batches(batch_size=batch_rows, columns=wanted):
            yield batch.to_pandas()

    labels, ids, keep = _scan(chunks, spec)
    labels = _label_codes(labels, spec)
    test = stratified_split(labels, keep, spec.test_size, spec.seed)
    train = keep & ~test
    transform = fit(chunks, spec, labels, train)
    writer: pq.ParquetWriter | None = None
    offset = clipped = 0
    try:
        for chunk in chunks():
            rows = slice(offset, offset + len(chunk))
            offset += len(chunk)
            kept = keep[rows]
            x = _numeric(chunk, spec.feature_columns)[kept]
            clipped += _clipped_rows(transform, _unclipped(transform, x)[test[rows][kept]])
            out = _output_frame(
                ids[rows][kept],
                labels[rows][kept],
                test[rows][kept],
                transform.apply(x),
                transform.output_columns,
            )
            table = pa.Table.from_pandas(out, preserve_index=False).replace_schema_metadata(None)
            if writer is None:
                writer = pq.ParquetWriter(destination, table.schema, compression="zstd")
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return PreprocessResult(
        transform=transform,
        n_rows=len(labels),
        n_train=int(train.sum()),
        n_test=int((keep & test).sum()),
        n_dropped=int((~keep).sum()),
        n_clipped_test=clipped,
    )
