"""Sweep throughput of nightly_benchmark: batching + de-duplication versus one circuit at a time.

The same grid runs twice through `airflow dags test nightly_benchmark`, side by side in one run:

- **batched**: up to 50 circuits per job, each experiment key run once, results already in the
  store reused. Before it, a "previous night" ran 30% of the grid's experiments (3 of every 10
  seeds), so 30% of tonight's experiments are duplicates of stored results.
- **one at a time**: `max_pubs_per_job=1, deduplicate=false` — one job (and one mapped task) per
  circuit, nothing reused: what a naive sweep over dynamic task mapping does.

Both roots are prepared (graphs, validation, baselines, angles) before timing, so the timed runs
differ only in how experiments are submitted. Backends: Aer statevector in process and the local
job service (FakeKolkata's target with noise off: the figure is about orchestration and
submission, not noise simulation). Throughput is experiments per minute; the sweep stage is the
span from the first batch task's start to the last one's end (from Airflow's task instances).
Target: >= 10x.

Usage: python bench/sweep_throughput.py [--sizes 6,8,10] [--seeds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from include.store.config import s3_client, s3_settings_from_env


def grid(sizes: list[int], seeds: int, **overrides: Any) -> dict[str, Any]:
    return {
        "families": ["maxcut_regular", "maxcut_erdos_renyi"],
        "sizes": sizes,
        "seeds_per_size": seeds,
        "reps": [1],
        "shots": [1024],
        "noise": ["ideal", "fake_kolkata"],
        "backends": ["aer:statevector", "jobservice"],
        "noise_max_nodes": 0,  # Aer runs ideal only; the job service runs FakeKolkata's target, noise off
        "angle_evaluations": 60,
        **overrides,
    }


def dags_test(env: dict[str, str], conf: dict[str, Any]) -> tuple[str, float, str]:
    started = time.perf_counter()
    proc = subprocess.run(
        ["airflow", "dags", "test", "nightly_benchmark", "-c", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    seconds = time.perf_counter() - started
    output = proc.stdout + proc.stderr
    match = re.search(r"DagRun Finished: .*?run_id=([^,]+),.*?state=(\w+)", output)
    if not match or match.group(2) != "success":
        raise SystemExit(f"nightly_benchmark did not succeed:\n{output[-4000:]}")
    return match.group(1), seconds, output


def sweep_span(run_id: str) -> tuple[float, int]:
    """(seconds from the first batch task's start to the last one's end, batch task count)."""
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select start_date, end_date from task_instance where dag_id='nightly_benchmark' and run_id=?"
            " and task_id in ('run_aer', 'run_jobservice') and start_date is not null",
            (run_id,),
        ).fetchall()
    if not rows:
        return 0.0, 0
    starts = [datetime.fromisoformat(r[0]) for r in rows]
    ends = [datetime.fromisoformat(r[1]) for r in rows]
    return (max(ends) - min(starts)).total_seconds(), len(rows)


def plan_counts(run_id: str, env: dict[str, str]) -> dict[str, int]:
    from include.benchmark.grid import night_prefix_for
    from include.store.artifacts import ArtifactStore

    settings = s3_settings_from_env()
    store = ArtifactStore(s3_client(settings), settings.bucket)
    plan = store.read_table(store.uri(f"{night_prefix_for(run_id)}/plan/data.parquet"))
    counts = plan["status"].value_counts().to_dict()
    return {"experiments": len(plan), **{k: int(v) for k, v in counts.items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="6,8,10")
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    previous_seeds = max(1, round(args.seeds * 0.3))

    from include.emulator.process import JobServiceProcess

    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        service_env = {**os.environ, "QFLOW_JOBSERVICE_NOISE": "off"}
        with JobServiceProcess(Path(tmp) / "jobs.sqlite", backend="fake_kolkata", env=service_env) as service:
            base = {
                **os.environ,
                "QFLOW_JOBSERVICE_URL": service.url,
                "QFLOW_LEDGER_URL": f"sqlite:///{Path(tmp) / 'ledger.sqlite'}",
            }
            batched_env = {**base, "QFLOW_SWEEP_ROOT": f"bench/sweep-{tag}-batched"}
            single_env = {**base, "QFLOW_SWEEP_ROOT": f"bench/sweep-{tag}-single"}
            print(f"preparing {len(sizes)} sizes x {args.seeds} seeds x 2 families in both roots (untimed) ...")
            # Preparation only: no backend, so the plan is empty and nothing is submitted.
            for env in (batched_env, single_env):
                dags_test(env, grid(sizes, args.seeds, backends=["aer:statevector"], noise=["fake_kolkata"]))
            print(f"previous night: {previous_seeds} of every {args.seeds} seeds, stored in the batched root ...")
            dags_test(batched_env, grid(sizes, previous_seeds))

            results = {}
            for label, env, conf in (
                ("batched + dedup", batched_env, grid(sizes, args.seeds)),
                ("one at a time", single_env, grid(sizes, args.seeds, max_pubs_per_job=1, deduplicate=False)),
            ):
                run_id, seconds, _ = dags_test(env, conf)
                span, tasks = sweep_span(run_id)
                counts = plan_counts(run_id, env)
                results[label] = (seconds, span, tasks, counts)

    print()
    print(
        f"{'mode':<18}{'experiments':>12}{'ran':>6}{'reused':>8}{'batch tasks':>13}{'DAG s':>9}{'sweep s':>9}"
        f"{'exp/min (DAG)':>15}{'exp/min (sweep)':>17}"
    )
    for label, (seconds, span, tasks, counts) in results.items():
        n = counts["experiments"]
        reused = counts.get("reused", 0) + counts.get("duplicate", 0)
        print(
            f"{label:<18}{n:>12}{counts.get('run', 0):>6}{reused:>8}{tasks:>13}{seconds:>9.1f}{span:>9.1f}"
            f"{60 * n / seconds:>15.1f}{60 * n / max(span, 1e-9):>17.1f}"
        )
    (b_dag, b_span, _, b_counts), (s_dag, s_span, _, _) = results["batched + dedup"], results["one at a time"]
    duplicated = (b_counts.get("reused", 0) + b_counts.get("duplicate", 0)) / b_counts["experiments"]
    print()
    print(f"duplicated experiments tonight: {duplicated:.0%}")
    print(f"throughput ratio, whole DAG run:  {s_dag / b_dag:.1f}x")
    print(f"throughput ratio, sweep stage:    {s_span / max(b_span, 1e-9):.1f}x   (target >= 10x)")


if __name__ == "__main__":
    main()
