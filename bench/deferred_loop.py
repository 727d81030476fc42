"""A deferred QAOA loop under the real scheduler: what it costs in worker time and in wall time.

Starts the live stack of the tests (``tests.live_stack.LiveStack``: Airflow 3's api-server,
scheduler, triggerer and dag-processor on LocalExecutor with a fresh SQLite DB, the local job
service; SeaweedFS must be up: ``scripts/s3.sh start``), sets the job service's queue delay
(``--queue-delay``, 20 s by default), triggers ``qaoa_maxcut`` with ``loop_backend`` on the job
service (``--evaluations`` evaluations, 4 nodes, p=1) and samples, every ``--sample`` s while it
runs, the optimise task instance's state (REST) and whether its task process is alive (/proc).

Printed, with what each counts:
- **worker-seconds per evaluation**: seconds the optimise task instance spent in ``running``
  (summed over every start: the first, one per resume, any retry) ÷ evaluations; beside it the
  seconds its task process was alive (sampled) and the operator's own figure (the manifest's
  ``worker_seconds``: each task process's age when it deferred or finished). Target ≤ 3 s.
- **added wall time per evaluation**: (the optimise task's wall time, first ``running`` sample to
  its end) − Σ over its jobs of (finished_at − created_at on the job service: the job's own queue
  + run time), ÷ evaluations. Target ≤ 5 s.
- where the added time goes, medians per evaluation: job done → the task leaves ``deferred``
  (trigger poll + triggerer → DB), → ``running`` (scheduler + executor), → the next job is
  created (task process start-up, prepare, replay, submit).

Usage: python bench/deferred_loop.py [--evaluations N] [--queue-delay S] [--sample S] [--keep]
Results (raw samples included) go to bench/results/deferred_loop.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.live_stack import LiveStack, processes_titled  # noqa: E402

DAG = "qaoa_maxcut"


def _task_process_alive(ti_id: str) -> bool:
    return bool(processes_titled(f"airflow worker -- {ti_id}"))


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def measure(stack: LiveStack, evaluations: int, queue_delay: float, sample: float) -> dict[str, Any]:
    from include.store.artifacts import ArtifactStore, safe_key_part
    from include.store.config import s3_client, s3_settings_from_env

    assert stack.jobservice is not None
    service = stack.jobservice.url
    httpx.put(f"{service}/admin/faults", json={"queue_delay_seconds": queue_delay}, timeout=10).raise_for_status()
    rest = stack.rest()
    conf = {
        "n_nodes": 4,
        "degree": 2,
        "reps": 1,
        "shots": 256,
        "max_iterations": evaluations,
        "seed": 5,
        "loop_backend": "jobservice:fake_manila",
    }
    run_id = f"bench_deferred_{int(time.time())}"
    rest.trigger(DAG, conf, run_id=run_id)
    samples: list[tuple[float, str, bool]] = []  # (time, TI state, task process alive)
    ti: dict[str, Any] = {}
    deadline = time.monotonic() + 120 + evaluations * (queue_delay + 60)
    while time.monotonic() < deadline:
        now = time.time()
        ti = dict(rest.get(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/optimise"))
        state = str(ti["state"])
        samples.append((now, state, _task_process_alive(ti["id"]) if ti.get("id") else False))
        if state in ("success", "failed", "upstream_failed"):
            break
        time.sleep(sample)
    else:
        raise TimeoutError(f"optimise still {ti.get('state')} after the bench's deadline")
    if ti["state"] != "success":
        raise RuntimeError(f"optimise ended {ti['state']}; logs in {stack.log_dir}")
    run = rest.wait_for_run(DAG, run_id, timeout=300)

    def seconds_in(predicate: Any) -> float:
        return sum(b[0] - a[0] for a, b in itertools.pairwise(samples) if predicate(a))

    running = seconds_in(lambda s: s[1] == "running")
    queued = seconds_in(lambda s: s[1] in ("queued", "scheduled"))
    alive = seconds_in(lambda s: s[2])
    first_running = next(t for t, state, _ in samples if state == "running")
    ended = _ts(ti.get("end_date")) or samples[-1][0]
    store = ArtifactStore(s3_client(s3_settings_from_env()), s3_settings_from_env().bucket)
    manifest = store.read_manifest(store.uri(f"runs/{DAG}/{safe_key_part(run_id)}/optimise/manifest.json"))
    evals = manifest["measurements"]["evaluations"]
    jobs = [httpx.get(f"{service}/jobs/{e['job_id']}", timeout=10).json() for e in evals]
    created = [_ts(j["created_at"]) or 0.0 for j in jobs]
    finished = [_ts(j["finished_at"]) or 0.0 for j in jobs]
    own = sum(f - c for c, f in zip(created, finished, strict=True))
    n = len(evals)
    wall = ended - first_running

    def next_change(after: float, leaving: str | None = None, reaching: str | None = None) -> float | None:
        for t, state, _ in samples:
            if t > after and ((leaving is not None and state != leaving) or state == reaching):
                return t
        return None

    to_undeferred, to_running, to_submit = [], [], []
    for i in range(n - 1):
        left = next_change(finished[i], leaving="deferred")
        ran = next_change(finished[i], reaching="running")
        if left is not None and ran is not None:
            to_undeferred.append(left - finished[i])
            to_running.append(ran - left)
            to_submit.append(created[i + 1] - ran)
    result = {
        "run_id": run_id,
        "run_state": run["state"],
        "evaluations": n,
        "modes": sorted({e["mode"] for e in evals}),
        "queue_delay_seconds": queue_delay,
        "sample_seconds": sample,
        "ti_running_seconds": running,
        "ti_queued_seconds": queued,
        "task_process_alive_seconds": alive,
        "operator_worker_seconds": manifest["measurements"].get("worker_seconds"),
        "worker_seconds_per_evaluation": running / n,
        "loop_wall_seconds": wall,
        "jobs_own_seconds": own,
        "added_wall_seconds_per_evaluation": (wall - own) / n,
        "median_job_done_to_undeferred": statistics.median(to_undeferred) if to_undeferred else None,
        "median_undeferred_to_running": statistics.median(to_running) if to_running else None,
        "median_running_to_next_submit": statistics.median(to_submit) if to_submit else None,
        "samples": samples,
        "jobs": jobs,
    }
    rest.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=6)
    parser.add_argument("--queue-delay", type=float, default=20.0)
    parser.add_argument("--sample", type=float, default=0.5, help="seconds between state samples")
    parser.add_argument("--root", default=str(REPO / ".qflow" / "bench-live"))
    args = parser.parse_args()
    stack = LiveStack(root=Path(args.root), s3_env=dict(os.environ))
    try:
        started = time.monotonic()
        stack.start()
        print(f"live stack up in {time.monotonic() - started:.0f} s (logs in {stack.log_dir})", flush=True)
        result = measure(stack, args.evaluations, args.queue_delay, args.sample)
    finally:
        stack.stop()
    n = result["evaluations"]
    print(
        f"deferred QAOA loop on the job service: {n} evaluations ({result['modes']}), "
        f"queue delay {result['queue_delay_seconds']:.0f} s, run {result['run_id']} {result['run_state']}"
    )
    print(
        f"worker-seconds per evaluation: {result['worker_seconds_per_evaluation']:.2f} s (target <= 3) — the optimise "
        f"task instance in 'running', {result['ti_running_seconds']:.1f} s over all its starts / {n}; "
        f"its task process alive {result['task_process_alive_seconds'] / n:.2f} s/eval; the operator's own "
        f"figure {float(result['operator_worker_seconds'] or 0) / n:.2f} s/eval; queued/scheduled "
        f"{result['ti_queued_seconds'] / n:.2f} s/eval"
    )
    print(
        f"added wall time per evaluation: {result['added_wall_seconds_per_evaluation']:.2f} s (target <= 5) — "
        f"loop wall {result['loop_wall_seconds']:.1f} s minus the jobs' own queue + run time "
        f"{result['jobs_own_seconds']:.1f} s, / {n}"
    )
    print(
        "where it goes (median per evaluation): job done -> task undeferred "
        f"{result['median_job_done_to_undeferred']:.2f} s, -> running {result['median_undeferred_to_running']:.2f} s, "
        f"-> next job submitted {result['median_running_to_next_submit']:.2f} s"
    )
    out = REPO / "bench" / "results" / "deferred_loop.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"raw samples: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
