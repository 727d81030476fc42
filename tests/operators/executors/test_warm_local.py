"""The warm LocalExecutor's warm-up: what it imports, and that a broken import never stops a worker."""

from __future__ import annotations

import subprocess
import sys

from operators.executors.warm_local import WarmLocalExecutor
from operators.executors.warm_up import WARM_MODULES, warm_up


def _last_line_printed(code: str) -> str:
    """What ``code`` prints last, run in a fresh interpreter (nothing this test process imported)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1]


def test_every_warm_module_imports_in_this_environment() -> None:
    # A module renamed or removed would silently stop being warmed: every task would pay its import.
    report = warm_up()
    assert report["failed"] == {}
    assert set(WARM_MODULES) <= set(sys.modules)


def test_the_warm_up_loads_airflows_plugins_as_a_task_process_would_first() -> None:
    # A Celery pool process is not forked from the scheduler: without this every task loaded them.
    code = (
        "import sys; from operators.executors.warm_up import warm_up; r = warm_up(('json',)); "
        "from airflow.plugins_manager import _get_plugins; "
        "print(r['failed'], _get_plugins.cache_info().currsize, 'operators.artifact_browser' in sys.modules)"
    )
    assert _last_line_printed(code) == "{} 1 True"


def test_a_module_that_fails_to_import_is_reported_and_the_rest_still_load() -> None:
    report = warm_up(("qflow_no_such_module", "json"))
    assert list(report["failed"]) == ["qflow_no_such_module"]
    assert "ModuleNotFoundError" in report["failed"]["qflow_no_such_module"]
    assert "json" in sys.modules


def test_the_executor_module_itself_imports_nothing_heavy() -> None:
    # The scheduler, api-server and dag-processor import this module to load the executor class.
    code = (
        "import sys; import operators.executors.warm_local as w; "
        "heavy = [m for m in ('qiskit', 'pandas', 'great_expectations', 'include.pipelines.qaoa_maxcut') "
        "if m in sys.modules]; print(heavy)"
    )
    assert _last_line_printed(code) == "[]"


def test_it_is_a_local_executor_so_standalone_keeps_it() -> None:
    # `airflow standalone` (make up) forces LocalExecutor unless the configured class is local.
    assert WarmLocalExecutor.is_local
