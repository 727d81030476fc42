# Source me: the environment every qflow command runs in (dev defaults, overridable).
QFLOW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export QFLOW_ROOT
export QFLOW_STATE_DIR="${QFLOW_STATE_DIR:-$QFLOW_ROOT/.qflow}"
export PATH="$QFLOW_ROOT/.venv/bin:$PATH"
# This checkout's code first (matters when several worktrees share one machine).
export PYTHONPATH="$QFLOW_ROOT${PYTHONPATH:+:$PYTHONPATH}"

# S3 (SeaweedFS). The keys are dev defaults for the local server; set your own to override.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-qflow}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-qflow-dev-secret}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export QFLOW_S3_PORT="${QFLOW_S3_PORT:-8333}"
export QFLOW_S3_ENDPOINT="${QFLOW_S3_ENDPOINT:-http://127.0.0.1:$QFLOW_S3_PORT}"
export QFLOW_S3_BUCKET="${QFLOW_S3_BUCKET:-qflow}"

# The local quantum job service (`qflow emulator serve`, started by `make up`).
export QFLOW_JOBSERVICE_PORT="${QFLOW_JOBSERVICE_PORT:-8790}"
export QFLOW_JOBSERVICE_URL="${QFLOW_JOBSERVICE_URL:-http://127.0.0.1:$QFLOW_JOBSERVICE_PORT}"

# Airflow: SQLite metadata DB under .qflow/, this repo's dags/ and plugins/, no examples.
export AIRFLOW_HOME="${AIRFLOW_HOME:-$QFLOW_STATE_DIR/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$QFLOW_ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$QFLOW_ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
# LocalExecutor whose workers import the task stack once, so each task's forked process starts warm
# (operators/executors/warm_local.py); each warm worker holds ~300 MB, so keep the number of
# worker processes near what the machine can run at once (deferred tasks hold none).
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-operators.executors.warm_local.WarmLocalExecutor}"
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-8}"
# An idle scheduler loops every 0.25 s instead of 1 s: a finished task's downstream is queued ~0.6 s
# sooner on average (each task boundary of a run pays it), for a few % of one core while idle.
export AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME="${AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME:-0.25}"
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}"
export GX_ANALYTICS_ENABLED=False
# The S3 connection the operators use; the secret stays in the environment, never in code.
AIRFLOW_CONN_QFLOW_S3="$(python3 - <<'PY'
import json, os
print(json.dumps({
    "conn_type": "aws",
    "login": os.environ["AWS_ACCESS_KEY_ID"],
    "password": os.environ["AWS_SECRET_ACCESS_KEY"],
    "extra": {
        "endpoint_url": os.environ["QFLOW_S3_ENDPOINT"],
        "region_name": os.environ["AWS_DEFAULT_REGION"],
        "bucket": os.environ["QFLOW_S3_BUCKET"],
        "config_kwargs": {"s3": {"addressing_style": "path"}},
    },
}))
PY
)"
export AIRFLOW_CONN_QFLOW_S3
# Redis, where new data-set versions are announced (`qflow dataset publish`; the AssetWatchers read
# them through the qflow_redis connection). The stream prefix lets several deployments share one Redis.
export QFLOW_REDIS_URL="${QFLOW_REDIS_URL:-redis://127.0.0.1:6379/0}"
if [ -z "${AIRFLOW_CONN_QFLOW_REDIS:-}" ]; then
  AIRFLOW_CONN_QFLOW_REDIS="$(python3 -c 'import json, os, urllib.parse as u
p = u.urlsplit(os.environ["QFLOW_REDIS_URL"])
c = {"conn_type": "redis", "host": p.hostname or "127.0.0.1", "port": p.port or 6379, "schema": p.path.lstrip("/") or "0"}
c.update({"password": p.password} if p.password else {})
print(json.dumps(c))')"
fi
export AIRFLOW_CONN_QFLOW_REDIS
export QFLOW_DATASET_STREAM_PREFIX="${QFLOW_DATASET_STREAM_PREFIX:-qflow:datasets}"
mkdir -p "$QFLOW_STATE_DIR" "$AIRFLOW_HOME"
