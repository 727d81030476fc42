#!/usr/bin/env bash
# Local quantum job service (`qflow emulator serve`): scripts/jobservice.sh start|stop|status.
# Port QFLOW_JOBSERVICE_PORT (default 8790); jobs in $QFLOW_STATE_DIR/jobservice.sqlite;
# optional QFLOW_JOBSERVICE_FAULTS (JSON) and QFLOW_JOBSERVICE_BACKEND (default fake_manila).
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/lib.sh"
PIDFILE="$QFLOW_STATE_DIR/jobservice.pid"
LOG="$QFLOW_STATE_DIR/jobservice.log"

ready() { curl -fs -o /dev/null "$QFLOW_JOBSERVICE_URL/health"; }

case "${1:-}" in
  start)
    if ready; then echo "job service already serving $QFLOW_JOBSERVICE_URL"; exit 0; fi
    # Its own session, so `stop` ends the service and its Aer worker processes together.
    setsid nohup qflow emulator serve --host 127.0.0.1 --port "$QFLOW_JOBSERVICE_PORT" \
      --db "$QFLOW_STATE_DIR/jobservice.sqlite" >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    wait_ready "job service" "$PIDFILE" "$LOG" "$QFLOW_JOBSERVICE_URL" ready ;;
  stop)
    stop_pidfile "job service" "$PIDFILE" group ;;
  status)
    if ready; then echo "job service serving $QFLOW_JOBSERVICE_URL"; else echo "job service not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
