"""Preprocessing throughput on a 1,000,000-row × 30-column table: qflow's preprocessing
(streaming and in-memory) against plain pandas + numpy doing the same transforms in one script.

Same transforms in all three: stratified 75/25 split (seeded), standardise with the train mean
and std, PCA to 8 components (eigendecomposition of the train correlation matrix), min-max to
[0, π] on the train range with clipping, write the features Parquet. Each variant runs in its
own fresh subprocess so its peak memory (ru_maxrss, interpreter and imports included) is its own.

Usage: python bench/preprocess_throughput.py [--rows 1000000] [--columns 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

QFLOW_STREAM = """
import json, resource, sys, time
from include.data.preprocess import PreprocessSpec, preprocess_parquet_stream
source, destination, columns = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
started = time.perf_counter()
spec = PreprocessSpec(tuple(columns), n_components=8, seed=7)
preprocess_parquet_stream(source, destination, spec, batch_rows=100_000)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "maxrss_mb": peak}))
"""

QFLOW_MEMORY = """
import json, resource, sys, time
import pandas as pd
import pyarrow as pa, pyarrow.parquet as pq
from include.data.preprocess import PreprocessSpec, preprocess_frame
source, destination, columns = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
started = time.perf_counter()
frame = pd.read_parquet(source)
result = preprocess_frame(frame, PreprocessSpec(tuple(columns), n_components=8, seed=7))
pq.write_table(pa.Table.from_pandas(result.features, preserve_index=False), destination, compression="zstd")
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "maxrss_mb": peak}))
"""

PLAIN = """
import json, resource, sys, time
import numpy as np, pandas as pd
source, destination, columns = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
started = time.perf_counter()
df = pd.read_parquet(source)
x = df[columns].to_numpy(dtype=np.float64)
y = df["label"].to_numpy()
rng = np.random.default_rng(7)
test = np.zeros(len(y), dtype=bool)
for c in np.unique(y):
    idx = rng.permutation(np.flatnonzero(y == c))
    test[idx[: round(0.25 * len(idx))]] = True
train = x[~test]
mean, std = train.mean(axis=0), train.std(axis=0)
z_train = (train - mean) / std
values, vectors = np.linalg.eigh(np.corrcoef(z_train, rowvar=False))
components = vectors[:, np.argsort(values)[::-1][:8]]
p_train = z_train @ components
lo, hi = p_train.min(axis=0), p_train.max(axis=0)
features = np.clip((((x - mean) / std) @ components - lo) / (hi - lo) * np.pi, 0, np.pi)
out = pd.DataFrame(features, columns=[f"f{i}" for i in range(8)])
out.insert(0, "split", np.where(test, "test", "train"))
out.insert(0, "label", y)
out.insert(0, "sample_id", df["sample_id"].to_numpy())
out.to_parquet(destination, compression="zstd", index=False)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "maxrss_mb": peak}))
"""


def make_table(path: Path, rows: int, columns: int) -> list[str]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    names = [f"c{i:02d}" for i in range(columns)]
    mixing = rng.normal(size=(columns, columns))
    writer = None
    for start in range(0, rows, 200_000):  # written in chunks so the generator stays small too
        n = min(200_000, rows - start)
        x = rng.normal(size=(n, columns)) @ mixing
        data: dict[str, np.ndarray] = {"sample_id": np.arange(start, start + n)}
        data.update({name: x[:, i] for i, name in enumerate(names)})
        data["label"] = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
        table = pa.table(data)
        writer = writer or pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)
    assert writer is not None
    writer.close()
    return names


def run(code: str, source: Path, destination: Path, names: list[str]) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", code, str(source), str(destination), json.dumps(names)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit(proc.stderr[-3000:])
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qflow-bench-") as tmp:
        source = Path(tmp) / "table.parquet"
        names = make_table(source, args.rows, args.columns)
        size_mb = source.stat().st_size / 2**20
        print(f"{args.rows:,} rows × {args.columns} columns ({size_mb:.0f} MiB Parquet); median of {args.repeats}")
        variants = {
            "plain pandas+numpy": PLAIN,
            "qflow streaming": QFLOW_STREAM,
            "qflow in-memory": QFLOW_MEMORY,
        }
        measured: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits every variant alike
            for name, code in variants.items():
                measured[name].append(run(code, source, Path(tmp) / f"out-{len(measured[name])}.parquet", names))
        plain_s = statistics.median(m["seconds"] for m in measured["plain pandas+numpy"])
        plain_mb = statistics.median(m["maxrss_mb"] for m in measured["plain pandas+numpy"])
        print(
            f"{'variant':<20} {'seconds':>8} {'rows/s':>12} {'peak MiB':>9} "
            f"{'time vs plain':>14} {'memory vs plain':>16}"
        )
        for name in variants:
            seconds = statistics.median(m["seconds"] for m in measured[name])
            peak = statistics.median(m["maxrss_mb"] for m in measured[name])
            print(
                f"{name:<20} {seconds:>8.2f} {args.rows / seconds:>12,.0f} {peak:>9.0f} "
                f"{seconds / plain_s:>13.2f}x {peak / plain_mb:>15.2f}x"
            )


if __name__ == "__main__":
    main()
