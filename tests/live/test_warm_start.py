"""Under the live stack, the executor's workers hold the task stack and the scheduler does not.

A task process is a fork of its worker, so a worker with Qiskit's and Arrow's native libraries
mapped hands every task those imports done; the scheduler and dag-processor stay light (they
import the executor class, not what its workers warm). Figures: ``bench/task_startup.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.live_stack import LiveStack

# Native libraries only an import of the stack maps (Qiskit's Rust core, Arrow's C++ library).
STACK_LIBRARIES = ("qiskit/_accelerate", "pyarrow/libarrow")


def _mapped(pid: int) -> str:
    return (Path("/proc") / str(pid) / "maps").read_text(errors="replace")


def _executor_workers() -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmdline.startswith("airflow worker -- LocalExecutor"):
                pids.append(int(proc.name))
    return pids


def test_executor_workers_are_warm_and_the_scheduler_is_not(live_stack: LiveStack) -> None:
    deadline = time.monotonic() + 120
    warm: list[int] = []
    workers: list[int] = []
    while time.monotonic() < deadline:  # each worker imports the stack once, right after it starts
        workers = _executor_workers()
        warm = [pid for pid in workers if all(lib in _mapped(pid) for lib in STACK_LIBRARIES)]
        if workers and len(warm) == len(workers):
            break
        time.sleep(1)
    assert workers, "no LocalExecutor worker process found"
    assert warm == workers, f"workers without the task stack: {sorted(set(workers) - set(warm))}"
    for component in ("scheduler", "dag-processor"):
        maps = _mapped(live_stack.pids[component])
        assert not any(lib in maps for lib in STACK_LIBRARIES), f"the {component} imported the task stack"
