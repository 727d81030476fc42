"""Circuits on the wire: one circuit as base64 of its QPY bytes — the job service's format, used by
its client (``include.quantum.backends.jobservice``) and the service (``include.emulator``) alike."""

from __future__ import annotations

import base64
import io
from typing import Any


def circuit_to_base64(circuit: Any) -> str:
    from qiskit import qpy

    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def circuit_from_base64(text: str) -> Any:
    """One circuit from base64 QPY (raises ValueError saying what is wrong)."""
    from qiskit import qpy

    try:
        raw = base64.b64decode(text, validate=True)
    except Exception as exc:
        raise ValueError(f"not base64 ({exc})") from exc
    try:
        circuits = qpy.load(io.BytesIO(raw))
    except Exception as exc:
        raise ValueError(f"not QPY ({type(exc).__name__}: {exc})") from exc
    if len(circuits) != 1:
        raise ValueError(f"holds {len(circuits)} circuits, expected exactly 1")
    return circuits[0]
