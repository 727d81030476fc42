# qflow — the two commands a new user needs: `make demo` and `make test`.
# Both create/reuse .venv, install from requirements.lock, start the local services they need
# (SeaweedFS; Airflow runs in-process via `airflow dags test`) and stop what they started.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
STAMP := $(VENV)/.qflow-installed

.PHONY: help install demo test lint up up-cluster down lock bench clean

help:
	@echo "make demo   run qaoa_maxcut end to end (SQLite Airflow, local SeaweedFS, Aer) and print its summary"
	@echo "make test   ruff + mypy + pytest, with the local services"
	@echo "make up     SeaweedFS + job service (:8790) + airflow standalone (UI on http://localhost:8080); make down stops them"
	@echo "make up-cluster  the one-machine cluster: CeleryExecutor (2 workers, 2 triggerers) on PostgreSQL + Redis, SeaweedFS cluster; make down stops it"
	@echo "make bench  run the benchmarks under bench/"

# compileall: every task is a new Python process importing Qiskit, pandas, GX...; without .pyc files
# (uv writes none by default, and PYTHONDONTWRITEBYTECODE stops Python writing them) each of those
# imports compiles from source, ~2.5x slower (measured: 5.9 s -> 2.3 s for the task stack).
$(STAMP): requirements.lock pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip install --python $(PY) -r requirements.lock
	$(VENV)/bin/uv pip install --python $(PY) --no-deps -e .
	$(PY) -m compileall -q -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null
	@touch $@

install: $(STAMP)

demo: install
	scripts/with-services.sh scripts/demo.sh

test: install
	scripts/with-services.sh scripts/test.sh

lint: install
	source scripts/env.sh && ruff check . && ruff format --check . && mypy

up: install
	scripts/up.sh

up-cluster: install
	scripts/up-cluster.sh

down:
	scripts/down.sh

bench: install
	scripts/with-services.sh bash -c 'for b in bench/*.py; do echo "== $$b"; python "$$b" || exit 1; done'

# Re-resolve the lock file after changing pyproject.toml's pins.
lock:
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python $(PY) -o requirements.lock

clean: down
	rm -rf .qflow
