"""Scale-out: the nightly sweep's experiments per minute with one Celery worker and with two, on
work that waits on the job service (I/O-bound) and on in-process Aer (CPU-bound).

Starts its own one-machine cluster (include/deploy/cluster.py, as ``make up-cluster`` runs it:
CeleryExecutor on PostgreSQL + Redis, two triggerers, two warm Celery workers of
``--concurrency`` slots each, SeaweedFS, the job service) on free ports, databases
``qflow_airflow_scaleout`` / ``qflow_ledger_scaleout``, Redis database 8 and state under
``.qflow/bench-scaleout/``, with the repository's DAGs. Every night is ``nightly_benchmark``
triggered by REST, as a user or an outside system does.

Two workloads, each a grid of the nightly sweep on one backend family:

- **I/O-bound** (``jobservice``): small circuits on the local job service, whose queue delay
  (``--queue-delay``, ``PUT /admin/faults``) holds every job that long: the batch task submits
  its job and defers (the wait holds no worker slot), as against real hardware.
- **CPU-bound** (``aer:statevector`` with a FakeKolkata noise model): noisy simulation in the task's
  own process, on this machine's cores.

For each workload one untimed night first prepares the instances (graph, validation, baselines,
angles — reused by later nights, as in production). Then each measured night runs the same grid
with ``deduplicate: false`` (every experiment runs again; nothing is reused, so every night does
the same work from the same stored state) and ``max_pubs_per_job: --pubs-per-job`` (many small
batches, so there is something to spread), once per worker count and pool setting:

- workers: 1 (``worker-2`` stopped with a warm shutdown before the night) and 2;
- pools: the policy's (``qflow_aer`` 2 slots, about one per core; ``qflow_jobservice`` 4 jobs in
  flight, deferred ones counted) and ``--wide-pool`` slots (so only workers, cores and the
  orchestration bound the night).

The order of worker counts alternates between repeats (1, 2, then 2, 1, ...) so drift in the
machine's load does not favour one. Measured per night, from the task instances' times (REST):
the sweep stage = the first batch task's start to the last one's end; experiments **run** (the
night's plan; none reused); experiments run per minute of the sweep stage; batch tasks; and the
mean batches in flight (summed batch durations ÷ the stage, deferral included). The ratio printed
is two workers' experiments per minute ÷ one worker's, per workload and pool setting, each the
median over ``--repeats``. Raw figures go to bench/results/scale_out.json. The cluster is stopped
at the end, whatever happened.

Usage: python bench/scale_out.py [--workloads io,cpu] [--pools policy,wide] [--repeats N]
       [--queue-delay S] [--pubs-per-job N] [--wide-pool N] [--concurrency N]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deferral import write_result  # noqa: E402 (bench/, beside this file)

from include.benchmark.grid import night_prefix_for  # noqa: E402
from include.deploy.cluster import Cluster, ClusterConfig  # noqa: E402
from include.store.artifacts import ArtifactStore  # noqa: E402
from include.store.config import s3_client  # noqa: E402
from tests.live_stack import RestClient, write_policy  # noqa: E402

STATE = REPO / ".qflow" / "bench-scaleout"
DAG = "nightly_benchmark"
BATCH_TASKS = ("run_aer", "run_jobservice")
POOL_OF = {"io": "qflow_jobservice", "cpu": "qflow_aer"}
LABEL = {"io": "I/O-bound (job service, deferred)", "cpu": "CPU-bound (in-process Aer, noisy)"}


def grids(pubs_per_job: int) -> dict[str, dict[str, Any]]:
    common = {
        "families": ["maxcut_regular"],
        "reps": [1],
        "degree": 3,
        "angle_evaluations": 20,
        "max_pubs_per_job": pubs_per_job,
        "deduplicate": False,
        "workloads": ["maxcut"],  # what these nights measured before the classifier joined the grid
    }
    return {
        # The job service emulates FakeManila (5 qubits) with its noise on: the grid asks for that.
        "io": {
            **common,
            "degree": 2,
            "sizes": [4, 5],
            "seeds_per_size": 12,
            "shots": [256],
            "noise": ["fake_manila"],
            "backends": ["jobservice"],
            "noise_max_nodes": 5,
        },
        "cpu": {
            **common,
            "sizes": [10, 12],
            "seeds_per_size": 6,
            "shots": [2048],
            "noise": ["fake_kolkata"],
            "backends": ["aer:statevector"],
            "noise_max_nodes": 12,
        },
    }


def say(line: str) -> None:
    print(line, flush=True)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class Bench:
    def __init__(self, cluster: Cluster, args: argparse.Namespace) -> None:
        self.cluster = cluster
        self.args = args
        password = cluster.password()
        if not password:
            raise SystemExit(f"no admin password in {cluster.config.passwords_file}")
        self.rest = RestClient(cluster.config.base_url, "admin", password)
        settings = cluster.s3_settings()
        self.store = ArtifactStore(s3_client(settings), settings.bucket)
        self.grids = grids(args.pubs_per_job)
        self.policy_slots = {p: self._pool(p)["slots"] for p in POOL_OF.values()}
        self.stamp = int(time.time())
        self.nights: list[dict[str, Any]] = []

    def close(self) -> None:
        self.rest.close()

    # -- the cluster's knobs -----------------------------------------------------------------------

    def _pool(self, name: str) -> dict[str, Any]:
        return dict(self.rest.get(f"/pools/{name}"))

    def set_pool(self, name: str, slots: int) -> None:
        # Airflow validates a pool patch as a whole pool: name and include_deferred go with it.
        body = {"pool": name, "slots": slots, "include_deferred": True}
        response = self.rest.request("PATCH", f"/pools/{name}", json=body, params={"update_mask": "slots"})
        if response.status_code != 200:
            raise SystemExit(f"PATCH /pools/{name}: {response.status_code} {response.text}")
        got = self._pool(name)
        assert got["slots"] == slots and got["include_deferred"], got

    def set_workers(self, count: int) -> None:
        extra = self.cluster.worker_names[count:]
        wanted = self.cluster.worker_names[:count]
        for name in extra:
            if self.cluster.pid(name) is not None:
                self.cluster.stop_component(name, timeout=120)  # SIGTERM: Celery's warm shutdown
        for name in wanted:
            if self.cluster.pid(name) is None:
                self.cluster.spawn(name)
        self.cluster.wait_ready(only=wanted)
        deadline = time.monotonic() + 60
        while self.cluster.celery_workers() != set(wanted):
            if time.monotonic() > deadline:
                raise SystemExit(f"Celery workers answering: {self.cluster.celery_workers()}, wanted {wanted}")
            time.sleep(1)

    def set_queue_delay(self, seconds: float) -> None:
        faults = f"{self.cluster.config.jobservice_url}/admin/faults"
        body = {"queue_delay_seconds": seconds} if seconds else {}
        httpx.put(faults, json=body, timeout=10).raise_for_status()

    # -- one night ---------------------------------------------------------------------------------

    def night(self, workload: str, label: str) -> str:
        run_id = f"scaleout_{workload}_{label}_{self.stamp}_{len(self.nights)}"
        self.rest.trigger(DAG, self.grids[workload], run_id=run_id)
        run = self.rest.wait_for_run(DAG, run_id, timeout=self.args.timeout)
        if run["state"] != "success":
            states = {t["task_id"]: t["state"] for t in self.rest.task_instances(DAG, run_id)}
            raise SystemExit(f"{run_id} ended {run['state']}: {states}")
        return run_id

    def measure(self, run_id: str) -> dict[str, Any]:
        tis = self.rest.get(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})["task_instances"]
        batches = [t for t in tis if t["task_id"] in BATCH_TASKS and t["start_date"] and t["end_date"]]
        plan = self.store.read_table(self.store.uri(f"{night_prefix_for(run_id)}/plan/data.parquet"))
        counts = plan["status"].value_counts().to_dict()
        if not batches or counts.get("run", 0) != len(plan):
            raise SystemExit(f"{run_id}: {len(batches)} batch tasks ran; plan {counts}; the grid: {self.grids}")
        starts = [_time(t["start_date"]) for t in batches]
        ends = [_time(t["end_date"]) for t in batches]
        span = (max(e for e in ends if e) - min(s for s in starts if s)).total_seconds()
        busy = sum((e - s).total_seconds() for s, e in zip(starts, ends, strict=True) if s and e)
        ran = int(counts["run"])
        return {
            "run_id": run_id,
            "experiments_run": ran,
            "batches": len(batches),
            "tries": sum(int(t["try_number"]) for t in batches),
            "sweep_seconds": span,
            "experiments_per_minute": ran / (span / 60),
            "mean_batches_in_flight": busy / span,
        }

    # -- the sweep ---------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        args = self.args
        result: dict[str, Any] = {
            "args": vars(args),
            "grids": self.grids,
            "policy_pool_slots": self.policy_slots,
            "worker_concurrency": args.concurrency,
            "nights": self.nights,
        }
        for workload in args.workloads:
            pool = POOL_OF[workload]
            self.set_queue_delay(args.queue_delay if workload == "io" else 0)
            self.set_workers(2)
            self.set_pool(pool, self.policy_slots[pool])
            say(f"\n{LABEL[workload]}: preparing the instances (untimed night) ...")
            started = time.monotonic()
            prepared = self.night(workload, "prepare")
            planned = self.measure(prepared)["experiments_run"]  # fails here if the grid plans nothing
            say(f"  prepared in {time.monotonic() - started:.0f} s ({prepared}; {planned} experiments a night)")
            for pools in args.pools:
                slots = self.policy_slots[pool] if pools == "policy" else args.wide_pool
                self.set_pool(pool, slots)
                for repeat in range(args.repeats):
                    order = (1, 2) if repeat % 2 == 0 else (2, 1)
                    for workers in order:
                        self.set_workers(workers)
                        run_id = self.night(workload, f"w{workers}_{pools}")
                        figures = {
                            "workload": workload,
                            "pools": pools,
                            "pool_slots": slots,
                            "workers": workers,
                            "repeat": repeat,
                            **self.measure(run_id),
                        }
                        self.nights.append(figures)
                        say(
                            f"  {pools} pool ({slots} slots), {workers} worker(s): {figures['experiments_run']}"
                            f" experiments in {figures['sweep_seconds']:.1f} s ->"
                            f" {figures['experiments_per_minute']:.1f}/min; {figures['batches']} batches,"
                            f" {figures['mean_batches_in_flight']:.2f} in flight on average"
                        )
            self.set_pool(pool, self.policy_slots[pool])
        self.set_queue_delay(0)
        result["summary"] = summary(self.nights)
        return result


def summary(nights: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for workload in dict.fromkeys(n["workload"] for n in nights):
        for pools in dict.fromkeys(n["pools"] for n in nights if n["workload"] == workload):
            rate = {
                w: statistics.median(
                    n["experiments_per_minute"]
                    for n in nights
                    if n["workload"] == workload and n["pools"] == pools and n["workers"] == w
                )
                for w in (1, 2)
            }
            slots = next(n["pool_slots"] for n in nights if n["workload"] == workload and n["pools"] == pools)
            rows.append(
                {
                    "workload": workload,
                    "pools": pools,
                    "pool_slots": slots,
                    "one_worker": rate[1],
                    "two_workers": rate[2],
                    "ratio": rate[2] / rate[1],
                }
            )
    return rows


def report(result: dict[str, Any]) -> None:
    say("\nScale-out of the nightly sweep (experiments run per minute of the sweep stage, median over repeats;")
    say(f"every night runs its whole grid, nothing reused; {result['worker_concurrency']} slots per worker):")
    for row in result["summary"]:
        say(
            f"  {LABEL[row['workload']]}, {row['pools']} pool ({row['pool_slots']} slots):"
            f" 1 worker {row['one_worker']:.1f}/min, 2 workers {row['two_workers']:.1f}/min"
            f" -> x{row['ratio']:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workloads", default="io,cpu", type=lambda s: [w for w in s.split(",") if w])
    parser.add_argument("--pools", default="policy,wide", type=lambda s: [p for p in s.split(",") if p])
    parser.add_argument("--repeats", type=int, default=1, help="nights per workload, pool setting and worker count")
    parser.add_argument("--queue-delay", type=float, default=4.0, help="job-service hold per job (s), I/O-bound")
    parser.add_argument("--pubs-per-job", type=int, default=1, help="circuits per batch (one job per batch)")
    parser.add_argument("--wide-pool", type=int, default=16, help="pool slots of the 'wide' setting")
    parser.add_argument("--concurrency", type=int, default=2, help="slots per Celery worker")
    parser.add_argument("--timeout", type=float, default=1800.0, help="limit per night (s)")
    args = parser.parse_args()
    unknown = [w for w in args.workloads if w not in POOL_OF] + [p for p in args.pools if p not in ("policy", "wide")]
    if unknown:
        parser.error(f"unknown --workloads/--pools value(s): {unknown} (workloads: io, cpu; pools: policy, wide)")

    STATE.mkdir(parents=True, exist_ok=True)
    overrides = {
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the bench's nights run
        "QFLOW_POLICY_FILE": str(write_policy(STATE / "policy.yaml")),
    }
    config = dataclasses.replace(
        ClusterConfig.isolated("scaleout", STATE / "run", redis_db=8, airflow_overrides=overrides),
        worker_concurrency=args.concurrency,
    )
    cluster = Cluster(config)
    problems = cluster.preflight()
    if problems:
        sys.exit("cannot start the cluster:\n  " + "\n  ".join(problems))
    bench: Bench | None = None
    result: dict[str, Any] | None = None
    try:
        say(f"starting the cluster (state {STATE}) ...")
        cluster.start(fresh=True, say=lambda line: say(f"  {line}"))
        bench = Bench(cluster, args)
        deadline = time.monotonic() + 300
        while bench.rest.request("GET", f"/dags/{DAG}").status_code != 200:
            if time.monotonic() > deadline:
                raise SystemExit(f"{DAG} was not parsed within 300 s")
            time.sleep(2)
        result = bench.run()
    finally:
        if bench is not None:
            with contextlib.suppress(Exception):
                bench.set_queue_delay(0)
            bench.close()
        say("stopping the cluster ...")
        cluster.stop()
        if bench is not None:
            write_result("scale_out.json", result or {"args": vars(args), "nights": bench.nights, "incomplete": True})
    if result is not None:
        report(result)
        say("raw figures: bench/results/scale_out.json")


if __name__ == "__main__":
    main()
