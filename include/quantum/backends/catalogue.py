"""The backends the DAG forms offer for a variational loop, each with what it is (the form shows it).

Plain data, no imports: DAG files read it at parse time. Every key is a registry spec
(``include.quantum.backends.registry``); ``qaoa_maxcut`` and ``vqc_classifier`` offer them for
``loop_backend`` (and ``qaoa_maxcut`` for its final sample).
"""

from __future__ import annotations

from typing import Any

LOOP_BACKENDS: dict[str, str] = {
    "aer": "ideal Aer in this worker (the method chosen per circuit)",
    "aer:statevector": "ideal Aer, statevector",
    "aer:matrix_product_state": "ideal Aer, matrix product state (large, lightly entangled circuits)",
    "aer:fake_manila": "Aer with IBM Manila's noise (5 qubits)",
    "aer:fake_sherbrooke": "Aer with IBM Sherbrooke's noise (127 qubits; slow)",
    "jobservice:fake_manila": "the local job service (a queued provider; 5 qubits)",
    "ibm:fake_manila": "qiskit-ibm-runtime's local mode (Manila, 5 qubits), one session per loop",
    "braket:local": "Amazon Braket's local state-vector simulator in this worker (26 qubits)",
    "braket:local:dm": "Braket's local density-matrix simulator, depolarising noise 0.001/0.01 (13 qubits; slow)",
}


def described(backends: dict[str, str]) -> str:
    """The form's description of each backend: ``name — what it is; ...``."""
    return "; ".join(f"{name} — {text}" for name, text in backends.items())


def loop_backend_param(loop: str, each: str, note: str = "") -> dict[str, Any]:
    """The keyword arguments of a DAG's ``loop_backend`` Param for its ``loop`` ("QAOA loop"),
    whose evaluations run ``each`` ("one job each"); ``note`` adds what is particular to it."""
    return {
        "default": "aer",
        "enum": list(LOOP_BACKENDS),
        "title": f"Backend for the {loop}",
        "description": f"Where every evaluation of the {loop} runs, {each}: "
        + described(LOOP_BACKENDS)
        + ". Queued backends defer between evaluations (no worker held while a job waits)."
        + (f" {note}" if note else ""),
    }
