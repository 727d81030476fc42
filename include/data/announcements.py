"""Where data-set versions are announced: one Redis stream per data set. Light (no pandas, no S3):
the DAG files name their assets' streams with it at parse time."""

from __future__ import annotations

import os

STREAM_PREFIX_ENV = "QFLOW_DATASET_STREAM_PREFIX"
DEFAULT_STREAM_PREFIX = "qflow:datasets"
REDIS_URL_ENV = "QFLOW_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
STREAM_MAX_LENGTH = 10_000  # announcements kept per data set (approximate trim)
# The asset state (Airflow's asset state store) a consuming run advances after recording what it
# received; the watcher's trigger starts reading after it.
CURSOR_KEY = "announced_through"


def stream_for(name: str, prefix: str | None = None) -> str:
    """The Redis stream a data set's versions are announced on (``QFLOW_DATASET_STREAM_PREFIX`` lets
    several deployments — or test sessions — share one Redis)."""
    return f"{prefix or os.environ.get(STREAM_PREFIX_ENV) or DEFAULT_STREAM_PREFIX}:{name}"


def redis_url() -> str:
    return os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL
