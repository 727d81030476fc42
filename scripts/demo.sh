#!/usr/bin/env bash
# Run qaoa_maxcut once with `airflow dags test` and print what it found.
set -euo pipefail
source "$(dirname "$0")/env.sh"
LOG="$QFLOW_STATE_DIR/demo-dags-test.log"
echo "Running 'airflow dags test qaoa_maxcut' (log: $LOG) ..."
if ! airflow dags test qaoa_maxcut >"$LOG" 2>&1 || ! grep -q "state=success" "$LOG"; then
  echo "qaoa_maxcut failed; last lines of $LOG:" >&2
  grep -E "ERROR|Error|error" "$LOG" | tail -20 >&2 || tail -40 "$LOG" >&2
  exit 1
fi
echo
summary_uri="$(qflow latest --dag-id qaoa_maxcut)"
qflow summary "$summary_uri"
echo
qflow lineage verify "$summary_uri"
echo
echo "Artifacts: $summary_uri and its siblings under ${summary_uri%/summary/manifest.json}/"
echo "  (SeaweedFS data in $QFLOW_STATE_DIR/seaweedfs; 'make up' serves it again, filer browser on :8888)"
echo "  source scripts/env.sh && qflow lineage show $summary_uri"
