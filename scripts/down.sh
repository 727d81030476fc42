#!/usr/bin/env bash
# Stop what `make up` or `make up-cluster` started.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/env.sh"
PIDFILE="$QFLOW_STATE_DIR/airflow-standalone.pid"
if [ -f "$PIDFILE" ]; then
  pid=$(cat "$PIDFILE")
  # standalone runs its components as children in its own session: stop the whole group.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  echo "airflow standalone stopped"
fi
# The cluster (make up-cluster) keeps its PIDs under .qflow/cluster/pids.
if [ -d "${QFLOW_CLUSTER_DIR:-$QFLOW_STATE_DIR/cluster}/pids" ]; then qflow cluster down; fi
"$HERE/jobservice.sh" stop
"$HERE/s3.sh" stop
