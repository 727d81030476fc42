"""Under the live stack, the executor's workers hold the task stack and the scheduler does not.

A task process is a fork of its worker, so a worker with Qiskit's and Arrow's native libraries
mapped hands every task those imports done; the scheduler and dag-processor stay light (they
import the executor class, not what its workers warm). Figures: ``bench/task_startup.py``.
"""

from __future__ import annotations

from tests.live_stack import LiveStack, stack_mapped


def test_executor_workers_are_warm_and_the_scheduler_is_not(live_stack: LiveStack) -> None:
    workers = live_stack.wait_warm(timeout=120)
    assert workers, "no LocalExecutor worker process found"
    assert all(workers.values()), f"workers without the task stack: {[p for p, warm in workers.items() if not warm]}"
    for component in ("scheduler", "dag-processor"):
        assert not stack_mapped(live_stack.pids[component]), f"the {component} imported the task stack"
