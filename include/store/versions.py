"""The code version recorded in every manifest: qflow's own version, git commit and key libraries.

The commit comes from ``QFLOW_GIT_SHA`` (set in the Docker image from a build argument:
``QFLOW_GIT_SHA=$(git rev-parse HEAD) docker compose up --build``), else from the git checkout the
code runs from. When neither is there, the manifest says so plainly: ``git`` is ``"unknown"`` and
``git_source`` says why and how to fix it — and content-addressed reuse (the preprocessing reuse
key) refuses to reuse, since it could not tell one code version from another.
"""

from __future__ import annotations

import functools
import os
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

_LIBRARIES = ("qflow", "qiskit", "qiskit-aer", "numpy", "scipy", "pandas", "pyarrow")
UNKNOWN = "unknown"
UNKNOWN_SOURCE = (
    "unknown: QFLOW_GIT_SHA is not set and the code is not in a git checkout; set QFLOW_GIT_SHA "
    "(Docker: QFLOW_GIT_SHA=$(git rev-parse HEAD) docker compose up --build)"
)


@functools.cache
def _git_commit() -> tuple[str, str]:
    """(commit, where it came from)."""
    sha = os.environ.get("QFLOW_GIT_SHA", "").strip()
    if sha and sha != UNKNOWN:
        return sha, "QFLOW_GIT_SHA"
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
        return UNKNOWN, UNKNOWN_SOURCE
    sha = out.stdout.strip()
    return (sha, "git checkout") if sha else (UNKNOWN, UNKNOWN_SOURCE)


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
    commit, source = _git_commit()
    return {"git": commit, "git_source": source, **dict(_library_versions())}


def code_version_known() -> bool:
    return _git_commit()[0] != UNKNOWN
