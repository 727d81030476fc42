#!/usr/bin/env bash
# Local quantum job service (`qflow emulator serve`): scripts/jobservice.sh start|stop|status.
# Port QFLOW_JOBSERVICE_PORT (default 8790); jobs in $QFLOW_STATE_DIR/jobservice.sqlite;
# optional QFLOW_JOBSERVICE_FAULTS (JSON) and QFLOW_JOBSERVICE_BACKEND (default fake_manila).
set -euo pipefail
source "$(dirname "$0")/env.sh"
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
    for _ in $(seq 1 120); do
      if ready; then echo "job service started: $QFLOW_JOBSERVICE_URL (pid $(cat "$PIDFILE"), log $LOG)"; exit 0; fi
      kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { echo "job service exited; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
      sleep 0.5
    done
    echo "job service did not become ready in 60 s; see $LOG" >&2; exit 1 ;;
  stop)
    if [ -f "$PIDFILE" ]; then
      pid=$(cat "$PIDFILE")
      if kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL -- "-$pid" 2>/dev/null || true
        echo "job service stopped (pid $pid)"
      fi
      rm -f "$PIDFILE"
    fi ;;
  status)
    if ready; then echo "job service serving $QFLOW_JOBSERVICE_URL"; else echo "job service not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
