"""Preflight: checks every submission passes before anything is sent (or spent).

Qubit count, native gates and coupling map (the circuit must be ISA for the target), depth limit,
measurements present, shots within the backend's maximum and the run's shot budget, and an
estimated runtime within its limit. Failures are structural: retrying cannot fix them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from include.quantum.backends.base import SamplerPub
from include.quantum.backends.errors import StructuralQuantumError

REP_DELAY_SECONDS = 250e-6  # IBM's default repetition delay between shots
LAYER_SECONDS = 1e-6  # a coarse per-layer gate time for the runtime estimate


@dataclass(frozen=True)
class PreflightLimits:
    max_depth: int | None = None
    shot_budget: int | None = None  # shots this run may still spend, across all pubs and sets
    max_runtime_seconds: float | None = None


@dataclass
class PreflightReport:
    problems: list[str] = field(default_factory=list)
    total_shots: int = 0
    estimated_runtime_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self, backend_name: str) -> None:
        if self.problems:
            raise StructuralQuantumError(
                f"preflight for {backend_name} failed: " + "; ".join(self.problems),
                hint="nothing was submitted",
            )


def check_fits(circuit: Any, target: Any, backend_name: str) -> None:
    """Before transpiling: a circuit wider than the device, or holding an opaque gate (no
    definition, not in the target, not a standard gate the transpiler can translate), can never
    run there."""
    from qiskit.circuit.library import get_standard_gate_name_mapping

    if circuit.num_qubits > target.num_qubits:
        raise StructuralQuantumError(
            f"circuit {circuit.name!r} needs {circuit.num_qubits} qubits but {backend_name} has {target.num_qubits}",
            hint="choose a larger backend or a smaller problem",
        )
    translatable = set(target.operation_names) | set(get_standard_gate_name_mapping()) | {"barrier", "measure"}
    opaque = sorted(
        {
            inst.operation.name
            for inst in circuit.data
            if inst.operation.name not in translatable and getattr(inst.operation, "definition", None) is None
        }
    )
    if opaque:
        raise StructuralQuantumError(
            f"circuit {circuit.name!r} uses gate(s) {', '.join(opaque)} that {backend_name}'s target does not "
            "support and that have no definition to translate",
            hint=f"define them in terms of standard gates, or choose a backend whose target has "
            f"{', '.join(opaque)} (its gates: {', '.join(sorted(target.operation_names))})",
        )


def estimate_runtime_seconds(circuit: Any, shots: int, n_sets: int) -> float:
    return n_sets * shots * (circuit.depth() * LAYER_SECONDS + REP_DELAY_SECONDS)


def preflight(
    pubs: Sequence[SamplerPub], shots: int, target: Any, max_shots: int, limits: PreflightLimits | None = None
) -> PreflightReport:
    limits = limits or PreflightLimits()
    report = PreflightReport()
    if shots < 1:
        report.problems.append(f"shots={shots}: set shots >= 1")
    if shots > max_shots:
        report.problems.append(f"shots={shots} exceeds the backend maximum {max_shots}; lower shots")
    for index, pub in enumerate(pubs):
        circuit = pub.circuit
        where = f"pub {index} ({circuit.name})"
        if circuit.num_qubits > target.num_qubits:
            report.problems.append(f"{where} uses {circuit.num_qubits} qubits; the target has {target.num_qubits}")
            continue
        if not any(inst.operation.name == "measure" for inst in circuit.data):
            report.problems.append(f"{where} has no measurements; add measure_all() before sampling")
        unsupported: set[str] = set()
        for inst in circuit.data:
            name = inst.operation.name
            if name in ("barrier",):
                continue
            qargs = tuple(circuit.find_bit(q).index for q in inst.qubits)
            if not target.instruction_supported(name, qargs):
                unsupported.add(f"{name}{list(qargs)}" if name in target.operation_names else name)
        if unsupported:
            report.problems.append(
                f"{where} is not ISA for the target (unsupported gate or qubits: "
                f"{', '.join(sorted(unsupported)[:5])}); transpile it for this backend first"
            )
        depth = circuit.depth()
        if limits.max_depth is not None and depth > limits.max_depth:
            report.problems.append(f"{where} has depth {depth} > limit {limits.max_depth}; reduce reps or simplify")
        report.total_shots += shots * pub.n_sets()
        report.estimated_runtime_seconds += estimate_runtime_seconds(circuit, shots, pub.n_sets())
    if limits.shot_budget is not None and report.total_shots > limits.shot_budget:
        report.problems.append(
            f"the job needs {report.total_shots} shots but the run's shot budget has {limits.shot_budget} left"
        )
    if limits.max_runtime_seconds is not None and report.estimated_runtime_seconds > limits.max_runtime_seconds:
        report.problems.append(
            f"estimated runtime {report.estimated_runtime_seconds:.1f} s exceeds the limit "
            f"{limits.max_runtime_seconds:.1f} s; use fewer shots or parameter sets"
        )
    return report
