#!/usr/bin/env bash
# SeaweedFS, the job service and `airflow standalone` in the background; `make down` stops them.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/env.sh"
"$HERE/s3.sh" start
"$HERE/jobservice.sh" start
PIDFILE="$QFLOW_STATE_DIR/airflow-standalone.pid"
LOG="$QFLOW_STATE_DIR/airflow-standalone.log"
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "airflow standalone already running (pid $(cat "$PIDFILE"))"
else
  setsid nohup airflow standalone >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  echo -n "starting airflow standalone (log $LOG) "
  for _ in $(seq 1 180); do
    if curl -fs -o /dev/null http://127.0.0.1:8080/api/v2/monitor/health; then break; fi
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { echo; echo "airflow standalone exited; see $LOG" >&2; tail -30 "$LOG" >&2; exit 1; }
    echo -n "."; sleep 1
  done
  echo
fi
# The policy's pools (per backend family); the scheduler does not start tasks of a missing pool.
qflow pools "$QFLOW_STATE_DIR/pools.json" && airflow pools import "$QFLOW_STATE_DIR/pools.json" >/dev/null
user="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS%%:*}"
password_file="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
echo "Airflow UI: http://localhost:8080  (user: $user, password: $(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], '?'))" "$password_file" "$user" 2>/dev/null || echo "see $password_file"))"
echo "Job service: $QFLOW_JOBSERVICE_URL (QFLOW_JOBSERVICE_URL; log $QFLOW_STATE_DIR/jobservice.log)"
echo "Trigger 'qaoa_maxcut' with its parameter form; artifacts go to $QFLOW_S3_ENDPOINT bucket $QFLOW_S3_BUCKET."
