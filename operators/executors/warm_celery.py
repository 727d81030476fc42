"""Warm Celery workers: Airflow's Celery configuration plus a warm-up in every pool process.

A Celery worker (prefork pool) runs each task in one of its pool processes, which forks the task's
process (the task supervisor's ``os.fork``), as a LocalExecutor worker does. Each pool process
imports the task stack once when it starts (Celery's ``worker_process_init``), so every task it
forks starts with Qiskit, pandas, pyarrow, boto3 and GX imported (``operators.executors.warm_up``:
modules only, nothing called, nothing shared between tasks but code).

Select it with ``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=operators.executors.warm_celery.CELERY_CONFIG``
(``make up-cluster`` and docker-compose.yaml do). The scheduler imports this module too, to build
the Celery app; the signal handler runs only in worker pool processes, so the scheduler stays light.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_process_init

from operators.executors.warm_up import WARM_MODULES, warm_up

log = logging.getLogger(__name__)

CELERY_CONFIG: dict[str, Any] = {
    **DEFAULT_CELERY_CONFIG,
    # Celery gives a new pool process 4 s to report up; the warm-up (~2-3 s with bytecode, more on
    # a busy machine) runs before that report.
    "worker_proc_alive_timeout": 120,
}


@worker_process_init.connect
def _warm_pool_process(**_: Any) -> None:
    report = warm_up()
    log.info(
        "Celery pool process warmed in %.2f s (%d modules; failed: %s)",
        report["seconds"],
        len(WARM_MODULES),
        report["failed"],
    )
