"""Sweep throughput of nightly_benchmark: batching + de-duplication versus one circuit at a time,
both modes starting from the same store state, run and reused experiments counted apart.

The same grid runs through `airflow dags test nightly_benchmark` in two modes:

- **batched + dedup**: up to 50 circuits per job, each experiment key run once, results already
  in the store reused.
- **one at a time**: `max_pubs_per_job=1, deduplicate=false` — one job (and one mapped task) per
  circuit, nothing reused: what a naive sweep over dynamic task mapping does.

Each mode gets its own QFLOW_SWEEP_ROOT, and every pair of roots starts from the same state, in
one of two starting points (both by default):

- **empty**: instances prepared (graphs, validation, baselines, angles), no experiment results.
- **previous night**: prepared, then the same "previous night" (3 of every 10 seeds, batched)
  run in both roots — identical, seeded results, so the two roots hold the same store state.

Preparation and the previous night are untimed. The sweep stage is the span from the first batch
task's start to the last one's end (Airflow's task instances). Reported per mode: experiments in
the plan, how many **ran** (executed on a backend), how many were **reused** (a stored result)
or **duplicates** (same key earlier tonight), and *experiments run per minute of the sweep
stage* — the compute throughput, which reuse cannot inflate. "Covered per minute" (run + reused +
duplicate over the same span) is printed separately and labelled as including reuse.
Backends: Aer statevector in process and the local job service (FakeKolkata's target, noise off:
the figure is about orchestration and submission, not noise simulation).

Usage: python bench/sweep_throughput.py [--sizes 6,8,10] [--seeds 10] [--start empty,previous]
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

MODES = {
    "batched + dedup": {},
    "one at a time": {"max_pubs_per_job": 1, "deduplicate": False},
}


def grid(sizes: list[int], seeds: int, **overrides: Any) -> dict[str, Any]:
    return {
        "workloads": ["maxcut"],  # MaxCut's throughput, as before the classifier joined the grid
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


def dags_test(env: dict[str, str], conf: dict[str, Any]) -> tuple[str, float]:
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
    return match.group(1), seconds


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


def plan_counts(run_id: str) -> dict[str, int]:
    from include.benchmark.grid import night_prefix_for
    from include.store.artifacts import ArtifactStore

    settings = s3_settings_from_env()
    store = ArtifactStore(s3_client(settings), settings.bucket)
    plan = store.read_table(store.uri(f"{night_prefix_for(run_id)}/plan/data.parquet"))
    counts = plan["status"].value_counts().to_dict()
    return {
        "experiments": len(plan),
        "run": int(counts.get("run", 0)),
        "reused": int(counts.get("reused", 0)),
        "duplicate": int(counts.get("duplicate", 0)),
    }


def stored_results(root: str) -> int:
    """Complete experiment results under a root (what a night could reuse)."""
    settings = s3_settings_from_env()
    client = s3_client(settings)
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket, Prefix=f"{root}/experiments/"):
        count += sum(1 for o in page.get("Contents", []) if o["Key"].endswith("/result/manifest.json"))
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="6,8,10")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--start", default="empty,previous", help="starting states: empty, previous (or both)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    starts = [s.strip() for s in args.start.split(",") if s.strip()]
    if not starts or any(s not in ("empty", "previous") for s in starts):
        raise SystemExit(f"--start={args.start!r}: use empty, previous or both")
    previous_seeds = max(1, round(args.seeds * 0.3))

    from include.emulator.process import JobServiceProcess

    tag = uuid.uuid4().hex[:8]
    results: dict[tuple[str, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        service_env = {**os.environ, "QFLOW_JOBSERVICE_NOISE": "off"}
        with JobServiceProcess(Path(tmp) / "jobs.sqlite", backend="fake_kolkata", env=service_env) as service:
            base = {
                **os.environ,
                "QFLOW_JOBSERVICE_URL": service.url,
                "QFLOW_LEDGER_URL": f"sqlite:///{Path(tmp) / 'ledger.sqlite'}",
            }
            roots = {
                (start, mode): f"bench/sweep-{tag}-{start}-{i}" for start in starts for i, mode in enumerate(MODES)
            }
            envs = {k: {**base, "QFLOW_SWEEP_ROOT": root} for k, root in roots.items()}
            print(f"preparing {len(sizes)} sizes x {args.seeds} seeds x 2 families in {len(roots)} roots (untimed) ...")
            for env in envs.values():
                # Preparation only: no backend of the grid's noise, so the plan is empty and nothing runs.
                dags_test(env, grid(sizes, args.seeds, backends=["aer:statevector"], noise=["fake_kolkata"]))
            if "previous" in starts:
                print(f"previous night ({previous_seeds} of every {args.seeds} seeds, batched) in both roots ...")
                for mode in MODES:
                    dags_test(envs[("previous", mode)], grid(sizes, previous_seeds))
            before = {k: stored_results(root) for k, root in roots.items()}
            for start in starts:
                pair = [(start, mode) for mode in MODES]
                if len({before[k] for k in pair}) != 1:
                    raise SystemExit(f"roots for {start!r} do not start equal: {[before[k] for k in pair]} results")
            # Timed runs, alternating the mode order between starting states.
            for i, start in enumerate(starts):
                order = list(MODES) if i % 2 == 0 else list(reversed(MODES))
                for mode in order:
                    run_id, seconds = dags_test(envs[(start, mode)], grid(sizes, args.seeds, **MODES[mode]))
                    span, tasks = sweep_span(run_id)
                    counts = plan_counts(run_id)
                    results[(start, mode)] = {
                        "dag_seconds": seconds,
                        "sweep_seconds": span,
                        "batch_tasks": tasks,
                        "stored_before": before[(start, mode)],
                        **counts,
                    }
                    print(f"  {start:>8} / {mode:<16} done: {counts} in {span:.1f} s sweep, {seconds:.1f} s DAG")

    print()
    print("ran = executed on a backend tonight; reused = a result already in the store; dup = same key earlier tonight")
    header = (
        f"{'start':<10}{'mode':<18}{'stored':>7}{'plan':>6}{'ran':>5}{'reused':>8}{'dup':>5}{'tasks':>7}"
        f"{'sweep s':>9}{'DAG s':>8}{'ran/min':>9}{'covered/min*':>14}"
    )
    print(header)
    for (start, mode), r in results.items():
        span = max(r["sweep_seconds"], 1e-9)
        covered = r["run"] + r["reused"] + r["duplicate"]
        print(
            f"{start:<10}{mode:<18}{r['stored_before']:>7}{r['experiments']:>6}{r['run']:>5}{r['reused']:>8}"
            f"{r['duplicate']:>5}{r['batch_tasks']:>7}{r['sweep_seconds']:>9.1f}{r['dag_seconds']:>8.1f}"
            f"{60 * r['run'] / span:>9.1f}{60 * covered / span:>14.1f}"
        )
    print("* covered/min counts reused and duplicate experiments too: not compute throughput")
    print()
    batched, single = MODES
    for start in starts:
        b, s = results[(start, batched)], results[(start, single)]
        run_ratio = (b["run"] / max(b["sweep_seconds"], 1e-9)) / (s["run"] / max(s["sweep_seconds"], 1e-9))
        print(
            f"start {start}: experiments run per minute of the sweep stage, batched / one at a time = {run_ratio:.1f}x;"
            f" sweep stage {s['sweep_seconds'] / max(b['sweep_seconds'], 1e-9):.1f}x shorter"
            f" ({b['run']} run + {b['reused'] + b['duplicate']} reused/dup vs {s['run']} run);"
            f" whole DAG run {s['dag_seconds'] / b['dag_seconds']:.1f}x shorter"
        )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "sweep_throughput.json").write_text(
        json.dumps({f"{start}/{mode}": r for (start, mode), r in results.items()}, indent=2)
    )


if __name__ == "__main__":
    main()
