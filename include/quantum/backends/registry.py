"""Backends by spec string, so DAG Params and trigger kwargs stay plain JSON.

aer[:automatic|statevector|matrix_product_state]   ideal Aer in process
aer:fake_<name>                                     Aer with an IBM fake backend's noise
aer:<method>:fake_<name>                            the same noise model with a pinned simulation method
jobservice[:<fake backend>]                         the local job service (URL from the connection); without a
                                                    name, the device the service emulates
ibm:<backend name>                                  IBM Quantum via qiskit-ibm-runtime (token from the
                                                    connection); ibm:fake_<name> runs its local testing mode
"""

from __future__ import annotations

from typing import Any

from include.quantum.backends.aer import METHODS, AerBackend
from include.quantum.backends.base import QuantumBackend
from include.quantum.backends.errors import StructuralQuantumError

BACKEND_SPECS = (
    "aer",
    "aer:statevector",
    "aer:matrix_product_state",
    "aer:fake_manila",
    "aer:fake_sherbrooke",
    "aer:statevector:fake_kolkata",
    "jobservice:fake_manila",
)


def make_backend(spec: str, *, seed: int | None = None, url: str | None = None, **options: Any) -> QuantumBackend:
    kind, _, detail = spec.partition(":")
    if kind == "aer":
        method, _, noise = detail.partition(":")
        if not detail or (method in METHODS and not noise):
            return AerBackend(method=method or "automatic", seed=seed)
        if method in METHODS:
            return AerBackend(method=method, noise_backend=noise, seed=seed)
        return AerBackend(noise_backend=detail, seed=seed)
    if kind == "ibm":
        from include.quantum.backends.ibm import IBMRuntimeBackend

        return IBMRuntimeBackend(detail, **options)
    if kind == "jobservice":
        from include.quantum.backends import jobservice

        if not url:
            raise StructuralQuantumError(
                f"backend {spec!r} needs the job service URL",
                hint="set it in the connection's host or QFLOW_JOBSERVICE_URL",
            )
        # "jobservice" alone: whatever device the service emulates (it says so at /backend).
        backend: QuantumBackend = jobservice.JobServiceBackend(url=url, backend_name=detail or None, **options)
        return backend
    raise StructuralQuantumError(
        f"backend={spec!r} is not a known backend", hint=f"use one of {', '.join(BACKEND_SPECS)}"
    )
