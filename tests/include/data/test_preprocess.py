"""Preprocessing: the fitted transform, the split, imputation policy and the streaming path."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from include.data.datasets import DataSpecError, TableTooLargeError, load_builtin, parse_table
from include.data.preprocess import (
    FittedTransform,
    PreprocessSpec,
    preprocess_frame,
    preprocess_parquet_stream,
)


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    return load_builtin("breast_cancer").frame


def spec_for(frame: pd.DataFrame, **overrides: object) -> PreprocessSpec:
    columns = tuple(c for c in frame.columns if c not in ("sample_id", "label"))
    return PreprocessSpec(feature_columns=columns, **overrides)  # type: ignore[arg-type]


def test_builtin_sets_load_offline_with_ids_and_labels() -> None:
    iris = load_builtin("iris")
    assert iris.n_classes == 3 and len(iris.frame) == 150
    assert list(iris.frame.columns[:2]) == ["sample_id", "sepal_length_cm"]
    two = load_builtin("iris", 2)
    assert set(two.frame["label"]) == {0, 1} and len(two.frame) == 100
    assert load_builtin("wine").n_classes == 3
    with pytest.raises(DataSpecError, match="dataset='digits'"):
        load_builtin("digits")
    with pytest.raises(DataSpecError, match="n_classes=5"):
        load_builtin("iris", 5)


@pytest.mark.parametrize("reduction", ["pca", "select", "none"])
@pytest.mark.parametrize("scaler", ["minmax", "standard"])
def test_features_lie_in_the_angle_range_and_the_split_is_stratified(
    cancer: pd.DataFrame, reduction: str, scaler: str
) -> None:
    spec = spec_for(cancer, reduction=reduction, scaler=scaler, n_components=4, seed=3)
    result = preprocess_frame(cancer, spec)
    features = result.features
    assert features is not None
    columns = result.transform.output_columns
    assert len(columns) == (30 if reduction == "none" else 4)
    values = features[columns].to_numpy()
    assert values.min() >= 0.0 and values.max() <= math.pi
    if scaler == "minmax":  # the training split spans the whole range
        train = features[features["split"] == "train"][columns].to_numpy()
        assert np.allclose(train.min(axis=0), 0.0) and np.allclose(train.max(axis=0), math.pi)
    test_share = (features["split"] == "test").mean()
    assert abs(test_share - 0.25) < 0.01
    by_class = features.groupby("label")["split"].apply(lambda s: (s == "test").mean())
    assert (by_class - test_share).abs().max() < 0.02  # stratified: each class ~25% test


def test_pca_matches_scikit_learn_on_the_training_split(cancer: pd.DataFrame) -> None:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    spec = spec_for(cancer, n_components=3, seed=5)
    result = preprocess_frame(cancer, spec)
    assert result.features is not None
    train_ids = result.features.loc[result.features["split"] == "train", "sample_id"]
    x = cancer.set_index("sample_id").loc[train_ids, list(spec.feature_columns)].to_numpy()
    reference = PCA(3).fit(StandardScaler().fit_transform(x))
    assert np.allclose(np.abs(reference.components_), np.abs(result.transform.components), atol=1e-10)
    assert np.allclose(reference.explained_variance_ratio_, result.transform.explained_variance_ratio)


def test_the_stored_transform_reproduces_both_splits_exactly(cancer: pd.DataFrame) -> None:
    spec = spec_for(cancer, n_components=4, seed=11)
    result = preprocess_frame(cancer, spec)
    assert result.features is not None
    restored = FittedTransform.from_json(result.transform.to_json())
    assert restored.sha256 == result.transform.sha256
    raw = cancer.set_index("sample_id").loc[result.features["sample_id"], list(spec.feature_columns)]
    again = restored.apply(raw.to_numpy())
    assert np.array_equal(again, result.features[restored.output_columns].to_numpy())


def test_same_inputs_and_seed_give_the_same_hash_and_a_new_seed_another_split(cancer: pd.DataFrame) -> None:
    a = preprocess_frame(cancer, spec_for(cancer, seed=1))
    b = preprocess_frame(cancer, spec_for(cancer, seed=1))
    c = preprocess_frame(cancer, spec_for(cancer, seed=2))
    assert a.transform.sha256 == b.transform.sha256 != c.transform.sha256
    assert a.features is not None and c.features is not None
    assert not a.features["split"].equals(c.features["split"])


def with_value(frame: pd.DataFrame, row: int, column: str, value: object) -> pd.DataFrame:
    out = frame.copy()
    if isinstance(value, str):
        out[column] = out[column].astype(object)
    out.loc[row, column] = value
    return out


def test_missing_values_are_rejected_by_default_naming_the_columns_and_the_fix(cancer: pd.DataFrame) -> None:
    bad = with_value(with_value(cancer, 3, "mean_radius", np.nan), 9, "mean_radius", np.nan)
    with pytest.raises(DataSpecError) as info:
        preprocess_frame(bad, spec_for(bad))
    message = str(info.value)
    assert "'mean_radius' (2 missing)" in message and "impute='mean'" in message and "impute='drop'" in message
    filled = preprocess_frame(bad, spec_for(bad, impute="mean"))
    assert filled.transform.fill_values is not None and filled.n_dropped == 0
    dropped = preprocess_frame(bad, spec_for(bad, impute="drop"))
    assert dropped.n_dropped == 2 and dropped.features is not None and len(dropped.features) == len(cancer) - 2


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: with_value(f, 0, "mean_texture", np.inf), r"'mean_texture' \(1\) hold infinite values"),
        (
            lambda f: with_value(f, 0, "mean_texture", "n/a"),
            r"'mean_texture' \(dtype object, e.g. \['n/a'\]\)",
        ),
        (lambda f: f.drop(columns=["mean_area"]), r"\['mean_area'\] are missing"),
        (lambda f: f.assign(label=0), r"1 class\(es\) \[0\]; a classifier needs >= 2"),
        (lambda f: f.iloc[:0], "empty|class"),
    ],
    ids=["infinity", "string-in-numeric", "missing-column", "one-class", "empty"],
)
def test_bad_tables_fail_with_a_message_naming_the_column(cancer: pd.DataFrame, mutate, message: str) -> None:
    bad = mutate(cancer)
    with pytest.raises(DataSpecError, match=message):
        preprocess_frame(bad, spec_for(cancer))


def test_spec_checks_name_the_field() -> None:
    with pytest.raises(DataSpecError, match="n_components=9"):
        PreprocessSpec(("a", "b"), n_components=9).check()
    with pytest.raises(DataSpecError, match="impute='guess'"):
        PreprocessSpec(("a",), impute="guess", n_components=1).check()
    with pytest.raises(DataSpecError, match=r"test_size=1\.5"):
        PreprocessSpec(("a",), test_size=1.5, n_components=1).check()


def test_streaming_path_matches_the_in_memory_path(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    frame = pd.DataFrame(rng.normal(size=(n, 5)) * [1, 2, 3, 4, 5], columns=[f"c{i}" for i in range(5)])
    frame.insert(0, "sample_id", np.arange(n, dtype=np.int64))
    frame["label"] = (frame["c0"] + rng.normal(size=n) > 0).astype(np.int64)
    source, destination = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), source)
    spec = spec_for(frame, n_components=3, seed=4)
    streamed = preprocess_parquet_stream(str(source), str(destination), spec, batch_rows=3_000)
    in_memory = preprocess_frame(frame, spec)
    assert np.allclose(streamed.transform.mean, in_memory.transform.mean)
    assert np.allclose(np.abs(streamed.transform.components), np.abs(in_memory.transform.components))
    out = pq.read_table(destination).to_pandas().sort_values("sample_id", ignore_index=True)
    assert in_memory.features is not None
    assert out["split"].equals(in_memory.features["split"])
    assert np.allclose(out[["f0", "f1", "f2"]], in_memory.features[["f0", "f1", "f2"]], atol=1e-9)


def test_a_million_row_table_is_refused_from_its_footer_before_decoding() -> None:
    n = 1_000_000
    table = pa.table({"sample_id": np.arange(n), "x": np.zeros(n), "label": np.zeros(n, dtype=np.int64)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    with pytest.raises(TableTooLargeError) as info:
        parse_table(data, "s3://qflow/big.parquet", max_rows=200_000)
    assert "1,000,000 rows, over max_rows=200,000" in str(info.value)
    assert "preprocess_parquet_stream" in str(info.value)
    csv = b"sample_id,x,label\n" + b"".join(b"%d,0.5,0\n" % i for i in range(300_000))
    with pytest.raises(TableTooLargeError, match="300,000 rows"):
        parse_table(csv, "s3://qflow/big.csv", max_rows=200_000)
    with pytest.raises(DataSpecError, match=r"name the object \*.parquet or \*.csv"):
        parse_table(data, "s3://qflow/big.json")
