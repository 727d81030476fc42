"""The code version recorded in every manifest: qflow's own version, git commit and key libraries."""

from __future__ import annotations

import functools
import os
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

_LIBRARIES = ("qflow", "qiskit", "qiskit-aer", "numpy", "scipy", "pandas", "pyarrow")


@functools.cache
def _git_commit() -> str:
    if sha := os.environ.get("QFLOW_GIT_SHA"):
        return sha
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


@functools.cache
def _library_versions() -> tuple[tuple[str, str], ...]:
    found = []
    for name in _LIBRARIES:
        try:
            found.append((name, version(name)))
        except PackageNotFoundError:
            found.append((name, "not installed"))
    return tuple(found)


def code_version() -> dict[str, str]:
    return {"git": _git_commit(), **dict(_library_versions())}
