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

import logging
import multiprocessing
from typing import Any

from airflow.executors import local_executor
from airflow.executors.local_executor import LocalExecutor

from operators.executors.warm_up import WARM_MODULES, warm_up

log = logging.getLogger(__name__)


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
