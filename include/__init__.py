"""qflow core: the Airflow-free part (problems, circuits, baselines, artifacts, lineage)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
