# Sourced by the service scripts: the pidfile start/wait/stop loop they share.

# wait_ready NAME PIDFILE LOG WHERE READY_COMMAND... — poll READY_COMMAND (up to 60 s) while the process
# in PIDFILE lives; say where it serves, or show its log and fail.
wait_ready() {
  local name=$1 pidfile=$2 log=$3 where=$4
  shift 4
  for _ in $(seq 1 120); do
    if "$@"; then echo "$name started: $where (pid $(cat "$pidfile"), log $log)"; return 0; fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "$name exited; see $log" >&2; tail -20 "$log" >&2; return 1; }
    sleep 0.5
  done
  echo "$name did not become ready in 60 s; see $log" >&2
  return 1
}

# stop_pidfile NAME PIDFILE [group] — TERM the process (its whole process group with "group"),
# wait up to 10 s, then KILL; remove the pidfile.
stop_pidfile() {
  local name=$1 pidfile=$2 scope=${3:-}
  [ -f "$pidfile" ] || return 0
  local pid target
  pid=$(cat "$pidfile")
  target=$pid
  [ "$scope" = group ] && target="-$pid"
  if kill -TERM -- "$target" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "$target" 2>/dev/null || true
    echo "$name stopped (pid $pid)"
  fi
  rm -f "$pidfile"
}
