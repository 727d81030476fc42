"""What a warm executor worker imports before its first task (LocalExecutor and Celery alike).

A task's process is forked by its worker (the task supervisor's ``os.fork``) and inherits the
worker's imported modules: a worker that has imported the task stack once hands every task a
process with those imports done. Only code is shared — :func:`warm_up` imports modules and loads
Airflow's plugins, and calls nothing of qflow's, so no client, cache, connection or policy exists
before the fork.

The plugins: the first thing a task process does is ask for Airflow's listener manager, which loads
every plugin (qflow's imports the artifact browser's FastAPI app, and with it Airflow's API app:
~0.9 s). A LocalExecutor worker is forked from the scheduler, which has loaded them already; a
Celery pool process is not, so without this each Celery task paid it again.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

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
    "include.pipelines.portfolio",
    "include.pipelines.vqc_classifier",
    "include.data.validation",
    "include.benchmark.night",
    "operators.operators.maxcut",
    "operators.operators.classifier",
    "operators.operators.portfolio",
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
    try:  # what the task runner's first step (listeners' on_starting) loads: cached per process
        from airflow.listeners.listener import get_listener_manager

        get_listener_manager()
    except Exception as exc:  # a broken plugin fails the task that loads it, with its traceback
        failed["airflow plugins"] = f"{type(exc).__name__}: {exc}"
        log.warning("warm-up could not load Airflow's plugins: %s", failed["airflow plugins"])
    return {"seconds": time.perf_counter() - started, "failed": failed}
