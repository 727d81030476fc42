"""A qaoa_maxcut run through the real scheduler versus the same stages as one plain Python process,
and where each task's start-up time goes.

Starts the live stack of the tests (``tests.live_stack.LiveStack``: Airflow 3's api-server,
scheduler, triggerer and dag-processor on LocalExecutor with a fresh SQLite DB; SeaweedFS must be
up: ``scripts/s3.sh start``), triggers ``qaoa_maxcut`` through the REST API (``/auth/token``, then
``POST /api/v2/dags/qaoa_maxcut/dagRuns``; 22 nodes, p=3, 120 evaluations by default: over 60 s of work) and waits
for success; then runs ``include.pipelines.qaoa_maxcut.run_pipeline`` with the same conf in a fresh
interpreter (imports included) against the same SeaweedFS. Both start from the same state: new run
prefixes, and the circuit's transpile not cached (the keys the DAG run added to the transpile cache
are removed before the plain run). Before the measured run the stack is brought to the state of one
that has been up a while (``--cold`` skips this): its executor workers warm, and one small untimed
run done (the api-server's first execution-API call costs ~3 s, once per api-server).

Printed, with what each counts:
- **run ÷ plain, same work**: the DAG run's wall time (its start_date to end_date, as the REST API
  reports them) ÷ the plain process's wall time (process start to exit), the plain loop's time
  scaled to the run's number of evaluations where the two optimisers stopped at different counts
  (the raw ratio beside it). Target ≤ 1.10. Beside it: each side's time outside the loop's
  evaluations and per evaluation (and the simulator's job's share of it), the time no task was
  running (between tasks), and the CPU each Airflow component, the executor's task supervisors,
  PostgreSQL and Redis used during the run (they share the cores with the tasks).
- **the same plain process beside the idle stack** (Airflow up, nothing running; from the same
  state, the transpile uncached again): what the stack costs the work merely by being up on the
  same two cores, apart from what running the stages as tasks costs. Not the target's comparison.
  (Here it is mostly the idle scheduler, and not its share of the CPU: a lower priority for it did
  not change it — README.)
- **task start-up** per task instance, medians over the run's tasks, read from the REST API (the TI's
  ``queued_when``) and its task log (the task runner's ``::group::Pre Execute`` and ``::endgroup::``
  lines): queued → the task process is up (executor pick-up, fork, supervisor handshake) → its
  ``execute`` begins (DAG file parse, context) — and ``execute`` itself, whose first part is the
  stage's imports (Qiskit, pandas, pyarrow, boto3, GX). Target for queued → execute: ≤ 1 s.

``--executor celery`` measures the same under CeleryExecutor on the one-machine cluster
(``include.deploy.cluster``, as ``make up-cluster`` runs it, on its own ports, databases
``qflow_airflow_bench``/``qflow_ledger_bench`` and Redis database 6): two warm Celery workers, two
triggerers, PostgreSQL, a SeaweedFS cluster — and the plain process uses that cluster's S3 and
PostgreSQL ledger, so both sides write to the same stores.

Usage: python bench/task_startup.py [--executor local|celery] [--nodes N] [--reps P] [--evaluations E] [--cold]
       [--airflow-config SECTION.KEY=VALUE ...]
Results go to bench/results/task_startup[_celery].json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.live_stack import LiveStack, RestClient  # noqa: E402

DAG = "qaoa_maxcut"
WARM_UP_CONF = {"n_nodes": 4, "degree": 2, "reps": 1, "max_iterations": 3, "shots": 64, "seed": 1}
TRANSPILE_CACHE = "cache/transpile/"

PLAIN = """
import json, sys
from include.store.artifacts import ArtifactStore
from include.store.config import s3_client, s3_settings_from_env
from include.pipelines.qaoa_maxcut import QAOAMaxCutParams, run_pipeline
settings = s3_settings_from_env()
store = ArtifactStore(s3_client(settings), settings.bucket)
run_pipeline(store, sys.argv[2], QAOAMaxCutParams.from_mapping(json.loads(sys.argv[1])))
"""


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def _log_events(rest: RestClient, run_id: str, task_id: str, try_number: int) -> list[dict[str, Any]]:
    path = f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
    body = rest.get(path, params={"full_content": True})
    content = body.get("content", []) if isinstance(body, dict) else body
    return [e for e in content if isinstance(e, dict) and e.get("timestamp")]


def task_phases(rest: RestClient, run_id: str, ti: dict[str, Any]) -> dict[str, Any]:
    """Queued → process up → execute begins → execute ends, from the TI and its last try's log."""
    events = _log_events(rest, run_id, ti["task_id"], int(ti["try_number"]))
    marks: dict[str, float] = {}
    for event in events:
        text, at = str(event.get("event", "")), _ts(str(event["timestamp"]))
        if text == "::group::Pre Execute" and "process_up" not in marks:
            marks["process_up"] = at or 0.0
        elif text == "::endgroup::" and "process_up" in marks and "execute_begins" not in marks:
            marks["execute_begins"] = at or 0.0
        elif text == "::group::Post Execute":
            marks["execute_ends"] = at or 0.0
    queued = _ts(ti.get("queued_when"))
    out: dict[str, Any] = {
        "task_id": ti["task_id"],
        "try_number": ti["try_number"],
        "state": ti["state"],
        "queued_when": queued,
        "start_date": _ts(ti.get("start_date")),
        "end_date": _ts(ti.get("end_date")),
    }
    if queued and {"process_up", "execute_begins", "execute_ends"} <= marks.keys():
        out["queued_to_process_up"] = marks["process_up"] - queued
        out["process_up_to_execute"] = marks["execute_begins"] - marks["process_up"]
        out["queued_to_execute"] = marks["execute_begins"] - queued
        out["execute"] = marks["execute_ends"] - marks["execute_begins"]
    return out


class Target:
    """What the bench drives: the live stack (LocalExecutor) or the cluster (CeleryExecutor), each
    with its REST API, component PIDs, logs and the environment its stores are reached with."""

    def __init__(self, executor: str, root: Path, overrides: dict[str, str] | None = None) -> None:
        self.executor = executor
        self.stack: LiveStack | None = None
        self.cluster: Any = None
        if executor == "celery":
            from include.deploy.cluster import Cluster, ClusterConfig

            config = ClusterConfig.isolated(
                "bench",
                root / "cluster",
                redis_db=6,
                airflow_overrides={
                    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                    **(overrides or {}),
                },
            )
            self.cluster = Cluster(config)
        else:
            self.stack = LiveStack(root=root, s3_env=dict(os.environ), airflow_overrides=overrides or {})

    def start(self) -> None:
        if self.cluster is not None:
            self.cluster.start(fresh=True, say=lambda _line: None)
        else:
            assert self.stack is not None
            self.stack.start()

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
        elif self.stack is not None:
            self.stack.stop()

    def env(self) -> dict[str, str]:
        return self.cluster.env() if self.cluster is not None else dict(os.environ)

    def rest(self) -> RestClient:
        if self.cluster is not None:
            return RestClient(self.cluster.config.base_url, "admin", self.cluster.password() or "")
        assert self.stack is not None
        return self.stack.rest()

    @property
    def pids(self) -> dict[str, int]:
        if self.cluster is not None:
            return {name: pid for name, pid in self.cluster.status().items() if pid is not None}
        assert self.stack is not None
        return self.stack.pids

    @property
    def log_dir(self) -> Path:
        return self.cluster.log_dir if self.cluster is not None else self.stack.log_dir  # type: ignore[union-attr]

    def wait_warm(self) -> str:
        """Wait until every executor worker (pool process) has imported the task stack."""
        if self.cluster is not None:
            cfg = self.cluster.config
            want = cfg.workers * cfg.worker_concurrency
            deadline = time.monotonic() + 180
            warmed = 0
            while time.monotonic() < deadline:
                warmed = sum(
                    self.cluster.log_path(n).read_text(errors="replace").count("pool process warmed")
                    for n in self.cluster.worker_names
                )
                if warmed >= want:
                    break
                time.sleep(1)
            return f"Celery pool processes warm: {warmed} of {want}"
        assert self.stack is not None
        warm = self.stack.wait_warm()
        return f"executor workers warm: {sum(warm.values())} of {len(warm)}"


# Shared services the stack queries (by process name): the metadata DB, ledger and result backend
# on PostgreSQL and the broker on Redis under CeleryExecutor; idle under `make up` (SQLite).
SHARED_SERVICES = {"postgres": "PostgreSQL", "redis-server": "Redis"}
SUPERVISORS = "executor workers (supervisors)"


def component_cpu_seconds(stack: Target) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each Airflow component's process group; by the
    executor's worker processes, which supervise the task processes (their own CPU only: the task
    processes are the work and are not counted); of a Celery worker, its main process and its pool
    processes apart; and by PostgreSQL and Redis: all their processes, those that exited included
    (nothing else uses them during a bench)."""
    tick = os.sysconf("SC_CLK_TCK")
    groups = {pid: name for name, pid in stack.pids.items() if not name.startswith("worker-")}
    workers = {pid: name for name, pid in stack.pids.items() if name.startswith("worker-")}
    used = dict.fromkeys([*groups.values(), *(f"{name} (main process)" for name in workers.values())], 0.0)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        parent, group, seconds = int(fields[1]), int(fields[2]), (int(fields[11]) + int(fields[12])) / tick
        if cmdline.startswith("airflow worker --") or parent in workers:
            # An executor worker process (LocalExecutor's, or a Celery pool process) supervises the
            # task process it forks: its own CPU (not its children's) is the supervision — the task's
            # logs and heartbeats relayed — plus its one warm-up before the run (not in a difference).
            name = SUPERVISORS if parent not in workers else f"{workers[parent]} pool processes (supervisors)"
            used[name] = used.get(name, 0.0) + seconds
        elif group in groups:
            used[groups[group]] += seconds
        elif int(proc.name) in workers:  # a Celery worker's main process alone: broker, events, timers
            used[f"{workers[int(proc.name)]} (main process)"] += seconds
        elif comm in SHARED_SERVICES:  # the machine's PostgreSQL and Redis serve the stack's queries
            # ... and a backend that has exited counts in its parent's (the postmaster's) cutime/cstime.
            reaped = (int(fields[13]) + int(fields[14])) / tick
            used[SHARED_SERVICES[comm]] = used.get(SHARED_SERVICES[comm], 0.0) + seconds + reaped
    return used


STORE_ENV: dict[str, str] = dict(os.environ)  # the stores' environment: the target's (main sets it)


def _store() -> Any:
    from include.store.artifacts import ArtifactStore
    from include.store.config import S3Settings, s3_client

    env = STORE_ENV
    settings = S3Settings(
        env["QFLOW_S3_ENDPOINT"], env["QFLOW_S3_BUCKET"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    )
    return ArtifactStore(s3_client(settings), settings.bucket)


def transpile_cache_keys() -> set[str]:
    store = _store()
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=TRANSPILE_CACHE)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def drop_transpile_cache_keys(keys: set[str]) -> None:
    store = _store()
    for key in sorted(keys):
        store.client.delete_object(Bucket=store.bucket, Key=key)


def through_scheduler(stack: Target, conf: dict[str, Any], phases: bool = True) -> dict[str, Any]:
    rest = stack.rest()
    try:
        run_id = f"bench_startup_{uuid.uuid4().hex[:8]}"
        cpu_before = component_cpu_seconds(stack)
        triggered = time.time()
        rest.trigger(DAG, conf, run_id=run_id)
        run = rest.wait_for_run(DAG, run_id, timeout=1800)
        returned = time.time()
        cpu_after = component_cpu_seconds(stack)
        if run["state"] != "success":
            raise RuntimeError(f"{DAG} run {run_id} ended {run['state']}; logs in {stack.log_dir}")
        tis = [t for t in rest.task_instances(DAG, run_id) if t["state"] == "success"]
        tasks = [task_phases(rest, run_id, ti) for ti in tis] if phases else []
        started, ended = _ts(run["start_date"]), _ts(run["end_date"])
        assert started is not None and ended is not None
        return {
            "run_id": run_id,
            "wall_seconds": ended - started,
            "trigger_to_success_seconds": returned - triggered,
            "component_cpu_seconds": {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after},
            "tasks": tasks,
        }
    finally:
        rest.close()


def plain_process(conf: dict[str, Any]) -> tuple[float, str]:
    started = time.perf_counter()
    prefix = f"bench/plain/{uuid.uuid4().hex}"
    proc = subprocess.run(
        [sys.executable, "-c", PLAIN, json.dumps(conf), prefix], capture_output=True, text=True, cwd=REPO, env=STORE_ENV
    )
    elapsed = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"plain run_pipeline failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return elapsed, prefix


def loop_figures(prefix: str) -> dict[str, float]:
    """The optimise stage's own figures from its manifest: evaluations run and the loop's seconds."""
    store = _store()
    measured = store.read_manifest(store.uri(f"{prefix}/optimise/manifest.json"))["measurements"]
    return {
        "evaluations": float(measured["iterations"]),
        "loop_seconds": float(measured["loop_seconds"]),
        "execute_seconds": float(measured["execute_seconds"]),  # the simulator's jobs, submit to result
    }


def same_work(seconds: float, loop: dict[str, float], evaluations: float) -> float:
    """A plain process's wall time at ``evaluations``: its time outside the loop plus its loop's
    seconds per evaluation times that many."""
    return seconds - loop["loop_seconds"] + loop["loop_seconds"] / loop["evaluations"] * evaluations


def busy_seconds(tasks: list[dict[str, Any]]) -> float:
    """Seconds in which at least one task instance was between its start_date and end_date."""
    spans = sorted((t["start_date"], t["end_date"]) for t in tasks if t.get("start_date") and t.get("end_date"))
    total, reach = 0.0, float("-inf")
    for start, end in spans:
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def _median(tasks: list[dict[str, Any]], key: str) -> float:
    values = [t[key] for t in tasks if key in t]
    return statistics.median(values) if values else float("nan")


def airflow_overrides(settings: list[str]) -> dict[str, str]:
    """``section.key=value`` → ``{"AIRFLOW__SECTION__KEY": "value"}``; a malformed one stops the bench."""
    out: dict[str, str] = {}
    for setting in settings:
        name, sep, value = setting.partition("=")
        section, dot, key = name.partition(".")
        if not (sep and dot and section and key):
            raise SystemExit(f"--airflow-config {setting!r}: write SECTION.KEY=VALUE, e.g. core.parallelism=8")
        out[f"AIRFLOW__{section.upper()}__{key.upper()}"] = value
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=22)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--evaluations", type=int, default=120)
    parser.add_argument("--executor", choices=("local", "celery"), default="local")
    parser.add_argument("--root", default=None, help="state directory (default .qflow/bench-startup[-celery])")
    parser.add_argument("--cold", action="store_true", help="no untimed warm-up run before the measured one")
    parser.add_argument(
        "--airflow-config",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="an Airflow setting over the stack's own, e.g. scheduler.scheduler_idle_sleep_time=1 (repeatable)",
    )
    args = parser.parse_args()
    overrides = airflow_overrides(args.airflow_config)
    conf = {"n_nodes": args.nodes, "reps": args.reps, "max_iterations": args.evaluations, "shots": 1024, "seed": 7}
    suffix = "" if args.executor == "local" else f"-{args.executor}"
    stack = Target(args.executor, Path(args.root or REPO / ".qflow" / f"bench-startup{suffix}"), overrides)
    try:
        stack.start()
        STORE_ENV.clear()
        STORE_ENV.update(stack.env())
        # A user's stack has been up a while: its executor workers have imported the task stack, and
        # the api-server has answered its first task (its first execution-API call costs ~3 s, once).
        print(stack.wait_warm(), flush=True)
        if not args.cold:
            warm_up_run = through_scheduler(stack, WARM_UP_CONF, phases=False)
            print(f"warm-up run (untimed, 4 nodes): {warm_up_run['wall_seconds']:.1f} s", flush=True)
        cached = transpile_cache_keys()
        airflow = through_scheduler(stack, conf)
        # The plain process starts from the same state: this circuit's transpile not cached.
        drop_transpile_cache_keys(transpile_cache_keys() - cached)
        # What the stack costs merely by being up on the same cores (no run, its components idle):
        # the same plain process beside it. Not the target's comparison, which is the one below.
        beside_idle, beside_prefix = plain_process(conf)
        drop_transpile_cache_keys(transpile_cache_keys() - cached)
        if stack.cluster is not None:  # the plain process needs the cluster's stores, not its Airflow
            for name in [*stack.cluster.worker_names, *stack.cluster.triggerer_names, "scheduler", "dag-processor"]:
                stack.cluster.stop_component(name)
            stack.cluster.stop_component("api-server")
        else:
            stack.stop()
        # The plain process runs with nothing else on the machine, as the scheduled run did.
        services_before = component_cpu_seconds(stack)
        plain, plain_prefix = plain_process(conf)
        services_after = component_cpu_seconds(stack)
        plain_cpu = {name: services_after[name] - services_before.get(name, 0.0) for name in services_after}
        from include.store.artifacts import safe_key_part

        loop_airflow = loop_figures(f"runs/{DAG}/{safe_key_part(airflow['run_id'])}")
        loop_plain = loop_figures(plain_prefix)
        loop_beside = loop_figures(beside_prefix)
    finally:
        stack.stop()
    # A DAG run seeds its sampler per run (so a retry repeats its own results), the plain process with
    # the conf's seed: the two optimisers can stop after different numbers of evaluations. Same work:
    # the plain process's time outside the loop plus its per-evaluation loop time x the run's evaluations.
    per_eval_plain = loop_plain["loop_seconds"] / loop_plain["evaluations"]
    plain_same_work = same_work(plain, loop_plain, loop_airflow["evaluations"])
    beside_same_work = same_work(beside_idle, loop_beside, loop_airflow["evaluations"])
    tasks = airflow["tasks"]
    result = {
        "plain_beside_idle_stack_seconds": beside_idle,
        "loop_plain_beside_idle_stack": loop_beside,
        "plain_beside_idle_stack_same_work_seconds": beside_same_work,
        "conf": conf,
        "airflow": airflow,
        "plain_seconds": plain,
        "plain_component_cpu_seconds": plain_cpu,
        "loop_airflow": loop_airflow,
        "loop_plain": loop_plain,
        "plain_same_work_seconds": plain_same_work,
        "ratio_raw": airflow["wall_seconds"] / plain,
        "ratio": airflow["wall_seconds"] / plain_same_work,
    }
    print(
        f"qaoa_maxcut {conf} under {stack.executor} executor: run {airflow['run_id']}"
        + "".join(f"; {name}={value}" for name, value in overrides.items())
    )
    print(
        f"run / plain, same work: {result['ratio']:.2f} (target <= 1.10) — the DAG run through the scheduler "
        f"{airflow['wall_seconds']:.1f} s (start to end; trigger to success seen by REST "
        f"{airflow['trigger_to_success_seconds']:.1f} s, {loop_airflow['evaluations']:.0f} evaluations) vs the same "
        f"stages as one fresh Python process {plain_same_work:.1f} s at {loop_airflow['evaluations']:.0f} evaluations "
        f"(measured {plain:.1f} s at {loop_plain['evaluations']:.0f}: raw ratio {result['ratio_raw']:.2f})"
    )
    print(
        f"outside the loop's evaluations: run {airflow['wall_seconds'] - loop_airflow['loop_seconds']:.1f} s vs plain "
        f"{plain - loop_plain['loop_seconds']:.1f} s; loop per evaluation: in the task "
        f"{loop_airflow['loop_seconds'] / loop_airflow['evaluations']:.3f} s vs plain {per_eval_plain:.3f} s, of which "
        f"the simulator's job {loop_airflow['execute_seconds'] / loop_airflow['evaluations']:.3f} s vs "
        f"{loop_plain['execute_seconds'] / loop_plain['evaluations']:.3f} s"
    )
    print(
        f"the same plain process beside the idle stack (Airflow up, no run; not the target's comparison): "
        f"{beside_same_work:.1f} s at {loop_airflow['evaluations']:.0f} evaluations (measured {beside_idle:.1f} s at "
        f"{loop_beside['evaluations']:.0f}) — {beside_same_work / plain_same_work:.2f} x the plain process alone, the "
        f"simulator's job {loop_beside['execute_seconds'] / loop_beside['evaluations']:.3f} s per evaluation; "
        f"the run / it: {airflow['wall_seconds'] / beside_same_work:.2f}"
    )
    busy = busy_seconds(tasks)
    result["busy_seconds"] = busy
    print(
        f"where the run's time goes: some task running {busy:.1f} s, no task running (scheduling between "
        f"tasks) {airflow['wall_seconds'] - busy:.1f} s; the tasks' execute summed "
        f"{sum(t.get('execute', 0.0) for t in tasks):.1f} s"
    )
    print(
        f"task start-up, median over {len(tasks)} tasks: queued -> execute begins "
        f"{_median(tasks, 'queued_to_execute'):.2f} s (target <= 1) = queued -> task process up "
        f"{_median(tasks, 'queued_to_process_up'):.2f} s + process up -> execute "
        f"{_median(tasks, 'process_up_to_execute'):.2f} s; execute itself (stage imports + work) "
        f"{_median(tasks, 'execute'):.2f} s"
    )
    cpu = airflow["component_cpu_seconds"]
    print(
        "CPU the orchestrator used during the run (beside the tasks, on the same cores): "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cpu.items())
        + "; during the plain process: "
        + (", ".join(f"{name} {seconds:.1f} s" for name, seconds in plain_cpu.items()) or "nothing measured")
    )
    for t in sorted(tasks, key=lambda t: -t.get("execute", 0.0)):
        if "execute" in t:
            print(
                f"  {t['task_id']:<16} queued->up {t['queued_to_process_up']:5.2f} s  up->execute "
                f"{t['process_up_to_execute']:5.2f} s  execute {t['execute']:6.2f} s"
            )
    result["executor"] = args.executor
    result["airflow_overrides"] = overrides
    out = REPO / "bench" / "results" / f"task_startup{suffix.replace('-', '_')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"raw figures: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
