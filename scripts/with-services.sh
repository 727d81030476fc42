#!/usr/bin/env bash
# Run a command with the local services up; stop afterwards only what this script started.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/env.sh"
started_s3=0
if ! "$HERE/s3.sh" status >/dev/null 2>&1; then
  "$HERE/s3.sh" start
  started_s3=1
fi
cleanup() { if [ "$started_s3" = 1 ]; then "$HERE/s3.sh" stop; fi; }
trap cleanup EXIT
# The Airflow metadata DB (SQLite under .qflow/); cheap when already migrated.
airflow db migrate >"$QFLOW_STATE_DIR/db-migrate.log" 2>&1 || { tail -30 "$QFLOW_STATE_DIR/db-migrate.log" >&2; exit 1; }
# The policy's Airflow pools (one per backend family): the nightly sweep's backpressure.
qflow pools "$QFLOW_STATE_DIR/pools.json" && airflow pools import "$QFLOW_STATE_DIR/pools.json" >>"$QFLOW_STATE_DIR/db-migrate.log" 2>&1 \
  || { tail -30 "$QFLOW_STATE_DIR/db-migrate.log" >&2; exit 1; }
"$@"
