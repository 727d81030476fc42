"""Tabular data sets for the classifier workflow: scikit-learn's bundled ones, or a table in S3.

scikit-learn ships iris, wine and breast cancer inside the wheel (``load_*`` reads local files;
nothing is downloaded). A user's own data is a Parquet or CSV object in S3, read through the
artifact store and pinned by its SHA-256. Every table comes back with the same shape: a
``sample_id`` column (unique row id), the numeric feature columns, and an integer ``label``.

A table larger than ``max_rows`` is refused *before* it is decoded (Parquet: the row count is
read from the file footer; CSV: rows are counted in chunks), so a million-row upload fails
clearly instead of exhausting a worker's memory. Large tables go through the streaming
preprocessor (``include.data.preprocess.preprocess_parquet_stream``) instead.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from include.problems.maxcut import ProblemSpecError

BUILTIN_DATASETS: tuple[str, ...] = ("iris", "wine", "breast_cancer")
ID_COLUMN = "sample_id"
LABEL_COLUMN = "label"
DEFAULT_MAX_ROWS = 200_000
CSV_CHUNK_ROWS = 100_000


class DataSpecError(ProblemSpecError):
    """A data-set parameter or input table is unusable; the message names the field and the fix."""


class TableTooLargeError(DataSpecError):
    """The table has more rows than the in-memory path accepts."""


@dataclass(frozen=True)
class LoadedTable:
    frame: pd.DataFrame
    source: str  # "sklearn:iris" or the S3 URI
    feature_columns: tuple[str, ...]
    n_classes: int


def column_name(text: str) -> str:
    """'mean radius' → 'mean_radius', 'sepal length (cm)' → 'sepal_length_cm'."""
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()


def load_builtin(name: str, n_classes: int = 0) -> LoadedTable:
    """One of scikit-learn's bundled data sets; ``n_classes`` > 0 keeps the first n classes."""
    from sklearn import datasets

    loaders = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
    }
    if name not in loaders:
        raise DataSpecError(f"dataset={name!r} is not one of {BUILTIN_DATASETS} (or 's3' with data_uri)")
    bunch = loaders[name]()
    columns = [column_name(str(c)) for c in bunch.feature_names]
    frame = pd.DataFrame(np.asarray(bunch.data, dtype=np.float64), columns=columns)
    frame.insert(0, ID_COLUMN, np.arange(len(frame), dtype=np.int64))
    frame[LABEL_COLUMN] = np.asarray(bunch.target, dtype=np.int64)
    available = int(frame[LABEL_COLUMN].nunique())
    if n_classes:
        if not 2 <= n_classes <= available:
            raise DataSpecError(f"n_classes={n_classes}: {name} has {available} classes; set 2..{available}")
        frame = frame[frame[LABEL_COLUMN] < n_classes].reset_index(drop=True)
    return LoadedTable(frame, f"sklearn:{name}", tuple(columns), int(frame[LABEL_COLUMN].nunique()))


def table_format(uri: str) -> str:
    lowered = uri.lower()
    if lowered.endswith((".parquet", ".pq")):
        return "parquet"
    if lowered.endswith((".csv", ".csv.gz")):
        return "csv"
    raise DataSpecError(f"data_uri={uri!r}: name the object *.parquet or *.csv so its format is known")


def count_rows(data: bytes, fmt: str) -> int:
    """Rows in a Parquet (footer only) or CSV (chunked) without materialising the table."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(io.BytesIO(data)).metadata.num_rows)
    rows = 0
    for chunk in pd.read_csv(io.BytesIO(data), chunksize=CSV_CHUNK_ROWS, usecols=[0]):
        rows += len(chunk)
    return rows


def parse_table(data: bytes, uri: str, max_rows: int = DEFAULT_MAX_ROWS) -> pd.DataFrame:
    """Decode a Parquet/CSV object, refusing one over ``max_rows`` before decoding it."""
    fmt = table_format(uri)
    try:
        rows = count_rows(data, fmt)
    except Exception as exc:  # pyarrow / the CSV parser raise many kinds for a corrupt object
        raise DataSpecError(f"data_uri={uri!r} is not a readable {fmt} file: {exc}") from exc
    if rows > max_rows:
        raise TableTooLargeError(
            f"data_uri={uri!r} has {rows:,} rows, over max_rows={max_rows:,} for the in-memory path. "
            "Raise max_rows if the worker has the memory, sample the table upstream, or preprocess it "
            "with include.data.preprocess.preprocess_parquet_stream (bounded memory)."
        )
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data)).to_pandas()
    return pd.read_csv(io.BytesIO(data))
