"""`airflow dags test pending_rerun` re-triggers recorded pending work exactly once."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest

from include.governance.pending import PendingQueue, rerun_run_id

pytestmark = pytest.mark.integration


def test_pending_work_is_triggered_once_and_marked(qflow_env: dict[str, str], tmp_path: Path) -> None:
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    queue = PendingQueue(ledger_url)
    original_run = f"manual__{uuid.uuid4().hex}"
    queue.add("qaoa_maxcut", original_run, "sample", {"n_nodes": 6, "reps": 1}, "backend outage")
    queue.add("qaoa_maxcut", original_run, "sample", {"n_nodes": 6, "reps": 1}, "retried task")  # not twice
    [record] = queue.open()
    env = {**qflow_env, "QFLOW_LEDGER_URL": ledger_url}
    for _ in range(2):  # a second run must not trigger the same work again
        proc = subprocess.run(
            ["airflow", "dags", "test", "pending_rerun"], env=env, capture_output=True, text=True, timeout=300
        )
        output = proc.stdout + proc.stderr
        assert re.search(r"DagRun Finished: dag_id=pending_rerun.*state=success", output), output[-3000:]
    assert queue.open() == []
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        runs = conn.execute(
            "select run_id, conf from dag_run where dag_id='qaoa_maxcut' and run_id=?", (rerun_run_id(record),)
        ).fetchall()
    assert len(runs) == 1
