"""`airflow dags test pending_rerun` re-triggers recorded pending work exactly once per attempt,
counts the attempt in the record's history, and never triggers an item that reached the
policy's attempt cap (it is abandoned instead)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest

from include.governance.pending import ABANDONED, RERUN, PendingQueue, record_id_of, rerun_run_id

pytestmark = pytest.mark.integration

POLICY_TEXT = (Path(__file__).resolve().parents[2] / "include" / "governance" / "policy.yaml").read_text()


def test_pending_work_is_triggered_once_and_marked_and_capped_work_is_abandoned(
    qflow_env: dict[str, str], tmp_path: Path
) -> None:
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_TEXT.replace("  max_attempts: 3", "  max_attempts: 2", 1))
    queue = PendingQueue(ledger_url)
    original_run = f"manual__{uuid.uuid4().hex}"
    queue.add("qaoa_maxcut", original_run, "sample", {"n_nodes": 6, "reps": 1}, "backend outage")
    queue.add("qaoa_maxcut", original_run, "sample", {"n_nodes": 6, "reps": 1}, "retried task")  # not twice
    [record] = queue.open()
    # A second item that already had two re-runs, both back in tier 4 (open: a cap of 5 at the time).
    worn_run = f"manual__{uuid.uuid4().hex}"
    queue.add("qaoa_maxcut", worn_run, "sample", {"n_nodes": 8}, "backend outage")
    worn = next(r for r in queue.open() if r.run_id == worn_run)
    for _ in range(2):
        [current] = [r for r in queue.open() if r.id == worn.id]
        attempt = rerun_run_id(current)
        queue.mark_rerun(worn.id, attempt)
        queue.add("qaoa_maxcut", attempt, "sample", {"n_nodes": 8}, "outage again", max_attempts=5)
    [current] = [r for r in queue.open() if r.id == worn.id]
    never = rerun_run_id(current)

    env = {**qflow_env, "QFLOW_LEDGER_URL": ledger_url, "QFLOW_POLICY_FILE": str(policy)}
    for _ in range(2):  # a second run must not trigger the same work again
        proc = subprocess.run(
            ["airflow", "dags", "test", "pending_rerun"], env=env, capture_output=True, text=True, timeout=300
        )
        output = proc.stdout + proc.stderr
        assert re.search(r"DagRun Finished: dag_id=pending_rerun.*state=success", output), output[-3000:]
    assert queue.open() == []
    first = rerun_run_id(record)
    marked = queue.get(record.id)
    assert marked is not None and marked.state == RERUN and marked.attempts == 1  # its run is only queued
    assert [(h["attempt"], h["run_id"], h["outcome"]) for h in marked.history] == [(1, first, "triggered")]
    abandoned = queue.get(worn.id)
    assert abandoned is not None and abandoned.state == ABANDONED and len(abandoned.history) == 2
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        runs = conn.execute(
            "select run_id from dag_run where dag_id='qaoa_maxcut' and run_id in (?, ?)", (first, never)
        )
        assert [r[0] for r in runs.fetchall()] == [first]
    assert record_id_of(never) == worn.id
