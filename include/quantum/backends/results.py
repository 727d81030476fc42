"""The one result schema every backend's output is normalised into (and stored as Parquet).

One row per (pub, parameter set, bitstring) for sampler counts; expectation-value rows use the
same columns with ``kind = "expectation"``. Identical whichever backend ran the job, so
downstream code never asks where a result came from — it reads the ``backend`` column.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from include.quantum.backends.base import RawResult

# A job's normalised result: column -> dtype, one row per (pub, parameter set, bitstring).
JOB_RESULT_DTYPES: dict[str, str] = {
    "kind": "string",  # "counts" or "expectation"
    "pub_index": "int64",
    "parameter_set": "int64",
    "bitstring": "string",  # counts rows; Qiskit order (rightmost = qubit 0)
    "count": "Int64",
    "observable": "string",  # expectation rows
    "expectation_value": "Float64",
    "shots": "int64",
    "backend": "string",
    "provider_job_id": "string",
    "transpiler_settings": "string",  # canonical JSON
    "calibration_hash": "string",
    "compile_seconds": "float64",
    "queue_seconds": "float64",
    "execute_seconds": "float64",
    "postprocess_seconds": "float64",
}
TIMING_COLUMNS = ("compile_seconds", "queue_seconds", "execute_seconds", "postprocess_seconds")


def calibration_hash(snapshot: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, default=str).encode()).hexdigest()


def normalise(
    raw: RawResult,
    *,
    transpiler_settings: Mapping[str, Any],
    calibration: Mapping[str, Any],
    compile_seconds: float = 0.0,
    postprocess_seconds: float = 0.0,
) -> pd.DataFrame:
    """Counts of a finished job → the shared schema, rows sorted deterministically.

    ``compile_seconds`` is the caller's transpile time plus the backend's own conversion of the
    ISA circuit into its provider's program where it reports one (``convert_seconds``: Braket's
    OpenQASM 3)."""
    rows: list[dict[str, Any]] = []
    for pub_index, sets in enumerate(raw.counts):
        for set_index, counts in enumerate(sets):
            for bitstring in sorted(counts):
                rows.append(
                    {
                        "pub_index": pub_index,
                        "parameter_set": set_index,
                        "bitstring": bitstring,
                        "count": int(counts[bitstring]),
                    }
                )
    frame = pd.DataFrame(rows, columns=["pub_index", "parameter_set", "bitstring", "count"])
    frame.insert(0, "kind", "counts")
    frame["observable"] = pd.NA
    frame["expectation_value"] = pd.NA
    frame["shots"] = raw.shots
    frame["backend"] = raw.backend_name
    frame["provider_job_id"] = raw.job_id
    frame["transpiler_settings"] = json.dumps(dict(transpiler_settings), sort_keys=True, default=str)
    frame["calibration_hash"] = calibration_hash(calibration)
    frame["compile_seconds"] = float(compile_seconds) + float(raw.timings.get("convert_seconds", 0.0))
    frame["queue_seconds"] = float(raw.timings.get("queue_seconds", 0.0))
    frame["execute_seconds"] = float(raw.timings.get("execute_seconds", 0.0))
    frame["postprocess_seconds"] = float(postprocess_seconds)
    return frame[list(JOB_RESULT_DTYPES)].astype(JOB_RESULT_DTYPES)


def counts_by_pub(frame: pd.DataFrame) -> list[list[dict[str, int]]]:
    """The inverse view: [pub][parameter set] -> counts, from a normalised frame."""
    out: list[list[dict[str, int]]] = []
    counts = frame[frame["kind"] == "counts"]
    for (pub, pset), group in counts.groupby(["pub_index", "parameter_set"], sort=True):
        while len(out) <= pub:
            out.append([])
        while len(out[pub]) <= pset:
            out[pub].append({})
        out[pub][pset] = dict(zip(group["bitstring"], group["count"].astype(int), strict=True))
    return out
