"""What runs in the job service's worker processes: decode QPY, bind parameters, sample on Aer
with the noise model of a fake IBM backend, return counts per pub per parameter set.

Everything here is importable without FastAPI; worker processes only import this module.
"""

from __future__ import annotations

import os
import threading
import time
from functools import cache
from typing import Any

from include.quantum.backends.fake import fake_backend
from include.quantum.circuits.wire import circuit_from_base64

DEFAULT_BACKEND = "fake_manila"


def backend_info(name: str) -> dict[str, Any]:
    backend = fake_backend(name)
    config = backend.configuration() if hasattr(backend, "configuration") else None
    coupling = backend.coupling_map
    return {
        "noise": noise_enabled(),
        "name": backend.name,
        "num_qubits": backend.num_qubits,
        "basis_gates": sorted(backend.operation_names),
        "coupling_map": [list(edge) for edge in coupling.get_edges()] if coupling is not None else None,
        "max_shots": int(getattr(config, "max_shots", 0) or 100_000),
        "source": "qiskit_ibm_runtime.fake_provider",
    }


def noise_enabled() -> bool:
    """QFLOW_JOBSERVICE_NOISE=off runs the backend's target (gates, coupling map) without its noise
    model: a fast, exact service for measuring orchestration rather than simulation."""
    value = os.environ.get("QFLOW_JOBSERVICE_NOISE", "on").lower()
    if value not in ("on", "off"):
        raise ValueError(f"QFLOW_JOBSERVICE_NOISE={value!r}: use 'on' or 'off'")
    return value == "on"


@cache
def _simulator(name: str) -> Any:
    from qiskit_aer import AerSimulator

    if noise_enabled():
        return AerSimulator.from_backend(fake_backend(name))
    return AerSimulator.from_backend(fake_backend(name), noise_model=None)


def watch_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Worker initializer: exit when the service process is gone (even after a SIGKILL), so no
    worker outlives it."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def warm_up(name: str) -> str:
    """Import Qiskit/Aer and build the simulator once per worker process."""
    _simulator(name)
    return name


def run_job(
    backend_name: str, pubs: list[dict[str, Any]], shots: int, seed: int, crash: bool = False
) -> dict[str, Any]:
    """Sample every pub (all its parameter sets in one run); counts[pub][set] = {bitstring: n}.
    ``crash`` (an injected fault) kills this worker process instead."""
    if crash:
        os._exit(70)
    import numpy as np
    from qiskit_aer.primitives import SamplerV2

    started = time.perf_counter()
    sampler_pubs: list[tuple[Any, ...]] = []
    for pub in pubs:
        circuit = circuit_from_base64(pub["circuit"])
        values = pub.get("parameter_values")
        if values is None:
            sampler_pubs.append((circuit,))
        else:
            sampler_pubs.append((circuit, np.atleast_2d(np.asarray(values, dtype=float))))
    decoded = time.perf_counter()
    sampler = SamplerV2.from_backend(_simulator(backend_name), seed=seed)
    result = sampler.run(sampler_pubs, shots=shots).result()
    executed = time.perf_counter()
    counts: list[list[dict[str, int]]] = []
    for pub_result in result:
        joined = pub_result.join_data()
        n_sets = int(np.prod(joined.shape)) if joined.shape else 1
        if joined.shape:
            counts.append([dict(joined.get_counts(i)) for i in range(n_sets)])
        else:
            counts.append([dict(joined.get_counts())])
    return {
        "counts": counts,
        "timings": {
            "decode_seconds": decoded - started,
            "execute_seconds": executed - decoded,
            "postprocess_seconds": time.perf_counter() - executed,
        },
        "seed": seed,
    }
