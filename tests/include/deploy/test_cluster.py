"""The cluster's set-up logic without starting it: preflight messages, ports, its environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from include.deploy.cluster import Cluster, ClusterConfig, ClusterPorts, deployment_settings

REPO = Path(__file__).resolve().parents[3]
NOBODY = "127.0.0.1:9"  # the discard port: nothing listens there


def test_free_ports_are_distinct_and_leave_room_for_seaweedfs_grpc() -> None:
    ports = ClusterPorts.free()
    listed = ports.all()
    assert len(listed) == len(set(listed))
    assert all(0 < p < 65536 for p in listed)
    assert len(ports.volumes) == 2 and len(ports.worker_logs) == 2 and len(ports.triggerer_logs) == 2


def test_preflight_names_a_missing_postgresql_and_redis_and_how_to_start_them(tmp_path: Path) -> None:
    config = ClusterConfig(
        state_dir=tmp_path, postgres=f"postgresql+psycopg2://postgres@{NOBODY}", redis=f"redis://{NOBODY}/0"
    )
    problems = Cluster(config).preflight()
    assert any(p.startswith("PostgreSQL is not reachable at") and "pg_ctlcluster" in p for p in problems), problems
    assert any(p.startswith("Redis is not reachable at") and "redis-server" in p for p in problems), problems


def test_qflow_cluster_up_stops_with_the_reason_when_postgresql_is_absent(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "QFLOW_CLUSTER_DIR": str(tmp_path / "cluster"),
        "QFLOW_CLUSTER_POSTGRES": f"postgresql+psycopg2://postgres@{NOBODY}",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "include.cli", "cluster", "up"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "PostgreSQL is not reachable" in proc.stderr and "QFLOW_CLUSTER_POSTGRES" in proc.stderr
    assert not (tmp_path / "cluster" / "pids").exists()  # nothing was started
    status = subprocess.run(
        [sys.executable, "-m", "include.cli", "cluster", "status"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert status.returncode == 1 and "scheduler" in status.stdout and "not running" in status.stdout


def test_the_cluster_environment_is_celery_on_postgresql_and_redis_with_the_ledger_on_postgresql(
    tmp_path: Path,
) -> None:
    cluster = Cluster(ClusterConfig(state_dir=tmp_path, postgres="postgresql+psycopg2://u:secret@db:5432"))
    env = cluster.env()
    shape = deployment_settings(env, triggerers=2, workers=2, volumes=2)
    assert shape["executor"] == "CeleryExecutor"
    assert shape["metadata_db"] == {"driver": "postgresql+psycopg2", "database": "qflow_airflow"}
    assert shape["celery_result_backend"] == {"driver": "db+postgresql", "database": "qflow_airflow"}
    assert shape["ledger"] == {"driver": "postgresql+psycopg2", "database": "qflow_ledger"}
    assert shape["celery_broker"] == "redis"
    assert shape["celery_config"] == "operators.executors.warm_celery.CELERY_CONFIG"
    assert shape["connections"]["qflow_s3"]["extra"]["bucket"] == env["QFLOW_S3_BUCKET"]
    # The JWT secret is made once and kept: a restarted component trusts the others' tokens.
    again = Cluster(ClusterConfig(state_dir=tmp_path)).env()
    assert again["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("name", ["worker-3", "flower"])
def test_an_unknown_component_is_named_with_the_ones_that_exist(tmp_path: Path, name: str) -> None:
    with pytest.raises(KeyError, match="the cluster has"):
        Cluster(ClusterConfig(state_dir=tmp_path)).component(name)
