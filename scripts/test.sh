#!/usr/bin/env bash
# The whole suite: lint, type-check, tests (services already up via with-services.sh).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$QFLOW_ROOT"
echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
# The browser tests (tests/live) drive Debian's chromium; install it where missing (root only, else they skip).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ]; then
  echo "== apt-get install chromium"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "apt-get could not install chromium: the browser tests will skip, saying why"
fi
echo "== pytest"; python -m pytest -ra "$@"
