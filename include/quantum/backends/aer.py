"""Aer in process: statevector, matrix-product-state, or noisy simulation from an IBM fake backend.

The simulation method is chosen per circuit by a cost model (qubits, depth, entanglement) unless
pinned. Jobs run synchronously inside ``submit`` (there is no queue in process), so the job is
DONE by the time anyone asks; the interface is still the same as for queued providers.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from include.quantum.backends.base import JobState, JobStatus, QuantumBackend, RawResult, SamplerJob
from include.quantum.backends.errors import StructuralQuantumError, UnknownJobError, classify
from include.quantum.backends.fake import fake_backend

METHODS = ("automatic", "statevector", "matrix_product_state")
STATEVECTOR_MAX_QUBITS = 30  # 2^30 amplitudes x 16 B = 16 GiB: the ceiling on a 24 GiB machine
MPS_MAX_BOND_BITS = 12  # past a bond dimension of 4096 MPS stops being cheap


@dataclass(frozen=True)
class MethodChoice:
    method: str
    reason: str
    n_qubits: int
    depth: int
    two_qubit_gates: int
    max_cut_crossings: int
    statevector_cost: float
    mps_cost: float


def max_cut_crossings(circuit: Any) -> int:
    """Entanglement proxy: the most two-qubit gates crossing any cut of the linear qubit order.
    An MPS's bond dimension across a cut is at most 2^(gates crossing it)."""
    n = circuit.num_qubits
    if n < 2:
        return 0
    crossings = np.zeros(n - 1, dtype=np.int64)
    for instruction in circuit.data:
        if len(instruction.qubits) == 2 and instruction.operation.name not in ("barrier", "measure"):
            a, b = sorted(circuit.find_bit(q).index for q in instruction.qubits)
            crossings[a:b] += 1
    return int(crossings.max())


def choose_method(circuit: Any, *, noisy: bool = False) -> MethodChoice:
    """Pick the cheaper of statevector and MPS from rough operation counts.

    statevector ≈ gates x 2^n amplitude updates; MPS ≈ gates x χ^3 with χ = 2^min(crossings, n/2,
    MPS_MAX_BOND_BITS). Noisy simulation stays on Aer's automatic choice (density matrix or
    trajectories), which knows the noise model's structure better than this model does.
    """
    n = circuit.num_qubits
    ops = circuit.count_ops()
    gates = sum(v for k, v in ops.items() if k not in ("barrier", "measure")) or 1
    two_qubit = sum(1 for inst in circuit.data if len(inst.qubits) == 2 and inst.operation.name != "barrier")
    crossings = max_cut_crossings(circuit)
    bond_bits = min(crossings, n // 2, MPS_MAX_BOND_BITS)
    sv_cost = gates * 2.0**n
    mps_cost = gates * n * 2.0 ** (3 * bond_bits)
    depth = circuit.depth()
    if noisy:
        method, reason = "automatic", "noise model: Aer picks density matrix or trajectories"
    elif n > STATEVECTOR_MAX_QUBITS or mps_cost < sv_cost / 4:
        method = "matrix_product_state"
        reason = f"low entanglement (≤{crossings} gates across any cut): MPS ~{sv_cost / mps_cost:.0f}x cheaper"
    else:
        method, reason = "statevector", "statevector is as cheap as MPS at this size and entanglement"
    return MethodChoice(method, reason, n, depth, two_qubit, crossings, sv_cost, mps_cost)


class AerBackend(QuantumBackend):
    def __init__(self, method: str = "automatic", noise_backend: str | None = None, seed: int | None = None):
        if method not in METHODS:
            raise StructuralQuantumError(f"method={method!r} is not one of {METHODS}")
        self.method = method
        self.seed = seed
        self.noise_backend = noise_backend
        self._fake = fake_backend(noise_backend) if noise_backend else None
        if noise_backend:
            self.name = f"aer:{noise_backend}" if method == "automatic" else f"aer:{method}:{noise_backend}"
        else:
            self.name = f"aer:{method}"
        self._jobs: dict[str, tuple[JobStatus, RawResult]] = {}
        self.last_choices: list[MethodChoice] = []

    def target(self) -> Any:
        from qiskit_aer import AerSimulator

        return self._fake.target if self._fake is not None else AerSimulator().target

    def max_shots(self) -> int:
        if self._fake is not None:
            return int(getattr(self._fake.configuration(), "max_shots", 100_000) or 100_000)
        return 10_000_000

    def calibration_snapshot(self) -> Mapping[str, Any]:
        if self._fake is None:
            return {"backend": self.name, "noise": None}
        properties = self._fake.properties()
        return {"backend": self._fake.name, "last_update_date": str(properties.last_update_date)}

    def simulator(self, method: str) -> Any:
        from qiskit_aer import AerSimulator

        options: dict[str, Any] = {"seed_simulator": self.seed} if self.seed is not None else {}
        if self._fake is not None:
            if self.method != "automatic":  # a pinned method also holds under the noise model
                options["method"] = self.method
            return AerSimulator.from_backend(self._fake, **options)
        return AerSimulator(method=method, **options)

    def submit(self, job: SamplerJob) -> str:
        job_id = "aer-" + hashlib.sha256(job.idempotency_key.encode()).hexdigest()[:24]
        if job_id in self._jobs:  # same work submitted again: the same job
            return job_id
        created = datetime.now(UTC)
        started = time.perf_counter()
        counts: list[list[dict[str, int]]] = []
        self.last_choices = []
        try:
            for pub in job.pubs:
                choice = choose_method(pub.circuit, noisy=self._fake is not None)
                method = self.method if self.method != "automatic" else choice.method
                self.last_choices.append(choice)
                counts.append(self._run_pub(pub.circuit, pub.parameter_values, job.shots, method))
        except Exception as exc:
            raise classify(exc) from exc
        seconds = time.perf_counter() - started
        finished = datetime.now(UTC)
        status = JobStatus(job_id, JobState.DONE, 0, created, created, finished, usage_seconds=seconds)
        raw = RawResult(
            job_id,
            self.name,
            job.shots,
            counts,
            timings={"queue_seconds": 0.0, "execute_seconds": seconds},
            metadata={
                "methods": [c.method for c in self.last_choices],
                "reasons": [c.reason for c in self.last_choices],
            },
        )
        self._jobs[job_id] = (status, raw)
        return job_id

    def _run_pub(self, circuit: Any, values: np.ndarray | None, shots: int, method: str) -> list[dict[str, int]]:
        simulator = self.simulator(method)
        if values is None or circuit.num_parameters == 0:
            result = simulator.run([circuit], shots=shots).result()
            return [dict(result.get_counts(0))]
        matrix = np.atleast_2d(np.asarray(values, dtype=float))
        if matrix.shape[1] != circuit.num_parameters:
            raise StructuralQuantumError(
                f"{matrix.shape[1]} parameter values for a circuit with {circuit.num_parameters} parameters",
                hint="pass one value per circuit parameter, in circuit.parameters order",
            )
        # One run binds every parameter set: Aer reuses the compiled circuit across the sweep.
        binds = {param: matrix[:, i].tolist() for i, param in enumerate(circuit.parameters)}
        result = simulator.run([circuit], parameter_binds=[binds], shots=shots).result()
        return [dict(result.get_counts(i)) for i in range(matrix.shape[0])]

    def status(self, job_id: str) -> JobStatus:
        if job_id not in self._jobs:
            raise UnknownJobError(f"no Aer job {job_id!r} in this process")
        return self._jobs[job_id][0]

    def result(self, job_id: str) -> RawResult:
        self.status(job_id)
        return self._jobs[job_id][1]
