#!/usr/bin/env bash
# The one-machine cluster (CeleryExecutor on PostgreSQL + Redis, two triggerers, two workers, a
# SeaweedFS cluster, the job service); `make down` stops it. See docs/deployment.md.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/env.sh"
exec qflow cluster up "$@"
