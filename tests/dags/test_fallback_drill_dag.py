"""`airflow dags test fallback_drill` against a real job service: every scenario degrades to the
classical tier, no job is submitted twice, nothing is overspent, every result is labelled."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from include.emulator.process import JobServiceProcess

pytestmark = pytest.mark.integration

SCENARIOS = ("outage", "rate_limit_storm", "transient_5xx_burst", "queue_never_drains", "budget_exhausted")


def test_every_chaos_scenario_degrades_as_designed(qflow_env: dict[str, str], tmp_path: Path) -> None:
    with JobServiceProcess(tmp_path / "jobs.sqlite") as service:
        env = {
            **qflow_env,
            "QFLOW_JOBSERVICE_URL": service.url,
            "QFLOW_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
        }
        proc = subprocess.run(
            ["airflow", "dags", "test", "fallback_drill"], env=env, capture_output=True, text=True, timeout=900
        )
        output = proc.stdout + proc.stderr
        match = re.search(r"DagRun Finished: dag_id=fallback_drill.*?run_id=([^,]+),.*?state=(\w+)", output)
        assert match and match.group(2) == "success", output[-5000:]
        jobs = httpx.get(f"{service.url}/admin/stats").json()["jobs"]["total"]
    assert jobs <= len(SCENARIOS)  # at most one job per scenario ever reached the service
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select task_id, value from xcom where dag_id='fallback_drill' and run_id=? and key='return_value'"
            " and task_id like '%_check'",
            (match.group(1),),
        ).fetchall()
    verdicts = {task.removesuffix("_check"): json.loads(value) for task, value in rows}
    assert set(verdicts) == set(SCENARIOS)
    assert all(v["tier"] == 2 and v["jobs_submitted"] <= 1 for v in verdicts.values()), verdicts
    assert verdicts["budget_exhausted"]["jobs_submitted"] == 0
    assert verdicts["transient_5xx_burst"]["jobs_submitted"] == 0
    assert "SLA" in verdicts["queue_never_drains"]["reason"]
