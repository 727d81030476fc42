"""The layout's rules that code review alone would miss."""

from __future__ import annotations

import re
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "include"


def test_the_core_reaches_the_job_service_only_over_http() -> None:
    """include.emulator is a provider like IBM Quantum: no core module imports it (the `qflow`
    command, which starts it, is the one exception)."""
    offenders = [
        str(path.relative_to(CORE))
        for path in CORE.rglob("*.py")
        if "emulator" not in path.relative_to(CORE).parts
        and path.name != "cli.py"
        and re.search(r"^\s*(from include\.emulator|import include\.emulator)", path.read_text(), re.M)
    ]
    assert offenders == []
