"""The one-machine cluster (``make up-cluster``: include/deploy/cluster.py) for the tests under
tests/cluster/, started once per session on its own ports, databases (``qflow_airflow_test``,
``qflow_ledger_test``), Redis database and state directory, so a user's cluster is never touched.

Where PostgreSQL or Redis is missing the tests skip and say which — except on CI (``CI=true``),
whose machine has both: there a missing service fails the session instead of hiding it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from include.deploy.cluster import Cluster, ClusterConfig
from tests.live_stack import RestClient, write_policy

REPO = Path(__file__).resolve().parents[2]
STATE = REPO / ".qflow" / "cluster-test"
# Tests only: what a test triggers runs (no schedules), DAGs unpaused, and a SIGKILLed worker's task
# is found dead after 30 s instead of Airflow's 300 s.
TEST_OVERRIDES = {
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
}


@pytest.fixture(scope="package")  # torn down after the last test of tests/cluster/
def cluster() -> Iterator[Cluster]:
    STATE.mkdir(parents=True, exist_ok=True)
    policy = write_policy(STATE / "policy.yaml")
    config = ClusterConfig.isolated(
        "test", STATE / "run", redis_db=5, airflow_overrides={**TEST_OVERRIDES, "QFLOW_POLICY_FILE": str(policy)}
    )
    instance = Cluster(config)
    problems = [p for p in instance.preflight() if "PostgreSQL" in p or "Redis" in p]
    if problems:
        if os.environ.get("CI") == "true":
            pytest.fail("the cluster tests need PostgreSQL and Redis, which CI's machine has:\n" + "\n".join(problems))
        pytest.skip("; ".join(problems))
    try:
        instance.start(fresh=True, say=lambda _line: None)
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="package")  # torn down after the last test of tests/cluster/
def cluster_rest(cluster: Cluster) -> Iterator[RestClient]:
    password = cluster.password()
    assert password, f"no generated admin password in {cluster.config.passwords_file}"
    client = RestClient(cluster.config.base_url, "admin", password)
    yield client
    client.close()
