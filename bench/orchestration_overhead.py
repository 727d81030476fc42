"""Wall time of `airflow dags test qaoa_maxcut` versus the same stages as one plain Python
function (include.pipelines.qaoa_maxcut.run_pipeline), side by side in one run.

Both write the same artifacts to the same local SeaweedFS. The plain function is timed twice:
in a fresh interpreter (imports included, as `dags test` pays them) and warm in-process.
Needs the local services: run via `make bench`, or `scripts/with-services.sh python bench/...`.

Usage: python bench/orchestration_overhead.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

CONF = {"n_nodes": 10, "degree": 3, "reps": 2, "shots": 1024, "max_iterations": 60, "seed": 7}

PLAIN = """
import json, sys, uuid
from include.store.artifacts import ArtifactStore
from include.store.config import s3_client, s3_settings_from_env
from include.pipelines.qaoa_maxcut import QAOAMaxCutParams, run_pipeline
settings = s3_settings_from_env()
store = ArtifactStore(s3_client(settings), settings.bucket)
run_pipeline(store, "bench/plain/" + uuid.uuid4().hex, QAOAMaxCutParams.from_mapping(json.loads(sys.argv[1])))
"""


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or ("dags" in cmd and "state=success" not in proc.stdout + proc.stderr):
        sys.exit(f"command failed: {' '.join(cmd)}\n{(proc.stdout + proc.stderr)[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from include.pipelines.qaoa_maxcut import QAOAMaxCutParams, run_pipeline
    from include.store.artifacts import ArtifactStore
    from include.store.config import s3_client, s3_settings_from_env

    settings = s3_settings_from_env()
    store = ArtifactStore(s3_client(settings), settings.bucket)
    params = QAOAMaxCutParams.from_mapping(CONF)
    run_pipeline(store, f"bench/warmup/{uuid.uuid4().hex}", params)  # warm imports for the in-process case

    airflow, fresh, warm = [], [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits all three alike
        airflow.append(timed(["airflow", "dags", "test", "qaoa_maxcut", "-c", json.dumps(CONF)]))
        fresh.append(timed([sys.executable, "-c", PLAIN, json.dumps(CONF)]))
        start = time.perf_counter()
        run_pipeline(store, f"bench/inproc/{uuid.uuid4().hex}", params)
        warm.append(time.perf_counter() - start)
    med = statistics.median
    result = {
        "airflow_dags_test_s": med(airflow),
        "plain_function_fresh_process_s": med(fresh),
        "plain_function_in_process_s": med(warm),
        "ratio_vs_fresh_process": med(airflow) / med(fresh),
        "ratio_vs_in_process": med(airflow) / med(warm),
    }
    print(f"orchestration overhead: qaoa_maxcut {CONF}, median of {args.repeats}")
    print(f"  airflow dags test            {result['airflow_dags_test_s']:7.2f} s")
    print(
        f"  plain function, new process  {result['plain_function_fresh_process_s']:7.2f} s"
        f"   ratio {result['ratio_vs_fresh_process']:.2f}x"
    )
    print(
        f"  plain function, in process   {result['plain_function_in_process_s']:7.2f} s"
        f"   ratio {result['ratio_vs_in_process']:.2f}x"
    )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "orchestration_overhead.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
