"""WarmLocalExecutor: Airflow's LocalExecutor whose worker processes import qflow's task stack once.

Every task a LocalExecutor worker runs is a process the worker forks (the task supervisor's
``os.fork``). A fork inherits the parent's imported modules, so a worker that has imported Qiskit,
Aer, pandas, pyarrow, boto3, Great Expectations and qflow's own stage modules hands each task a
process in which those imports are already done — about 3 s of every task's start-up on this
machine, paid once per worker instead of once per task.

What is shared is code only: the worker imports modules and calls nothing, so no client, cache,
connection or policy is created before the fork (qflow's caches are filled by calls, in the task's
own process, and die with it). Each task is still a fresh process: nothing one task does reaches the
next. The scheduler process itself imports none of this (the warm-up runs in the worker's
``multiprocessing`` target, after the fork from the scheduler), so DAG parsing and scheduling stay
light. Select it with ``AIRFLOW__CORE__EXECUTOR=operators.executors.warm_local.WarmLocalExecutor``
(``scripts/env.sh`` does).
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import time
from typing import Any

from airflow.executors import local_executor
from airflow.executors.local_executor import LocalExecutor

log = logging.getLogger(__name__)

# What qflow's stage tasks import when they run (their operators import lazily, so that DAG parsing
# stays light): the third-party stack first, then qflow's stage modules, which pull in the rest.
WARM_MODULES: tuple[str, ...] = (
    "numpy",
    "scipy.optimize",
    "pandas",
    "pyarrow.parquet",
    "boto3",
    "airflow.providers.amazon.aws.hooks.base_aws",
    "qiskit",
    "qiskit_aer",
    "qiskit_ibm_runtime",
    "great_expectations",
    "include.pipelines.qaoa_maxcut",
    "include.pipelines.loop_stage",
    "include.pipelines.vqc_classifier",
    "include.data.validation",
    "include.benchmark.night",
    "operators.operators.maxcut",
    "operators.operators.classifier",
    "operators.operators.loop",
    "operators.operators.quantum_submit",
    "operators.operators.sweep",
)


def warm_up(modules: tuple[str, ...] = WARM_MODULES) -> dict[str, Any]:
    """Import ``modules`` (never call into them); a module that fails to import is logged and
    skipped — a task that needs it fails in its own process, with its own traceback."""
    started = time.perf_counter()
    failed: dict[str, str] = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a broken optional import must not take the worker down
            failed[name] = f"{type(exc).__name__}: {exc}"
            log.warning("warm-up could not import %s: %s", name, failed[name])
    return {"seconds": time.perf_counter() - started, "failed": failed}


def _run_warm_worker(**kwargs: Any) -> None:
    report = warm_up()
    log.info("worker warmed in %.2f s (%d modules; failed: %s)", report["seconds"], len(WARM_MODULES), report["failed"])
    local_executor._run_worker(**kwargs)


class WarmLocalExecutor(LocalExecutor):
    """LocalExecutor whose workers run :func:`warm_up` before they take their first task."""

    def _spawn_worker(self) -> None:
        # LocalExecutor._spawn_worker with the warm target; the kwargs are _run_worker's.
        process = multiprocessing.Process(
            target=_run_warm_worker,
            kwargs={
                "logger_name": self.log.name,
                "input": self.activity_queue,
                "output": self.result_queue,
                "unread_messages": self._unread_messages,
                "team_conf": self.conf,
            },
        )
        process.start()
        assert process.pid is not None
        self.workers[process.pid] = process
