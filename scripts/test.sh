#!/usr/bin/env bash
# The whole suite: lint, type-check, tests (services already up via with-services.sh).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$QFLOW_ROOT"
echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
echo "== pytest"; python -m pytest -ra "$@"
