"""Transpile every iteration versus transpile once and bind, side by side in one run.

8-qubit QAOA (3-regular MaxCut, p=2), the same parameter sequence for both strategies, on two
targets: the ideal Aer simulator (what qaoa_maxcut uses today) and a 127-qubit IBM fake backend
(FakeSherbrooke: ECR/RZ/SX basis and a heavy-hex coupling map, as on hardware). For each we time
the compile step alone (transpile vs assign_parameters) and the whole iteration (compile +
1024-shot sampling on Aer). Target: compile-per-iteration ratio >= 30x at 8 qubits.

Usage: python bench/compile_reuse.py [--iterations N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from qiskit import transpile
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import SamplerV2
from qiskit_ibm_runtime.fake_provider import FakeSherbrooke

from include.problems.maxcut import GraphSpec, make_graph, maxcut_ising
from include.quantum.circuits.qaoa import qaoa_ansatz

N_QUBITS, REPS, SHOTS, SEED = 8, 2, 1024, 11


def measure(target_name: str, backend: object, iterations: int) -> dict[str, float]:
    edges = make_graph(GraphSpec(N_QUBITS, "regular", 3, "unit", SEED))
    cost, _ = maxcut_ising(edges, N_QUBITS)
    ansatz = qaoa_ansatz(cost, REPS)
    rng = np.random.default_rng(SEED)
    thetas = [rng.uniform(0, np.pi, ansatz.num_parameters) for _ in range(iterations)]
    sampler = SamplerV2(default_shots=SHOTS, seed=SEED)
    level = 1 if target_name == "aer_ideal" else 3

    # Warm up both paths once (imports, plugin discovery) so neither pays first-call costs.
    isa = transpile(ansatz, backend=backend, optimization_level=level, seed_transpiler=SEED)
    sampler.run([(isa, thetas[0])]).result()

    every_compile, every_total, bind_compile, bind_total = [], [], [], []
    for theta in thetas:
        # Strategy A: bind first, then transpile the concrete circuit (every iteration).
        t0 = time.perf_counter()
        bound_isa = transpile(
            ansatz.assign_parameters(theta), backend=backend, optimization_level=level, seed_transpiler=SEED
        )
        t1 = time.perf_counter()
        sampler.run([bound_isa]).result()
        t2 = time.perf_counter()
        every_compile.append(t1 - t0)
        every_total.append(t2 - t0)
        # Strategy B: the ISA circuit transpiled once above; bind parameters only.
        t0 = time.perf_counter()
        bound = isa.assign_parameters(theta)
        t1 = time.perf_counter()
        sampler.run([bound]).result()
        t2 = time.perf_counter()
        bind_compile.append(t1 - t0)
        bind_total.append(t2 - t0)
    med = statistics.median
    return {
        "transpile_every_compile_ms": med(every_compile) * 1e3,
        "bind_compile_ms": med(bind_compile) * 1e3,
        "compile_ratio": med(every_compile) / med(bind_compile),
        "transpile_every_iteration_ms": med(every_total) * 1e3,
        "bind_iteration_ms": med(bind_total) * 1e3,
        "iteration_ratio": med(every_total) / med(bind_total),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    targets = {"aer_ideal": AerSimulator(seed_simulator=SEED), "fake_sherbrooke": FakeSherbrooke()}
    results = {name: measure(name, backend, args.iterations) for name, backend in targets.items()}
    print(f"compile reuse: {N_QUBITS}-qubit QAOA p={REPS}, {SHOTS} shots, median of {args.iterations}")
    print("A = transpile every iteration, B = transpile once and bind; times per iteration")
    columns = ("target", "A compile", "B compile", "ratio", "A total", "B total", "ratio")
    print(f"{columns[0]:<16}" + "".join(f"{c:>12}" for c in columns[1:]))
    for name, r in results.items():
        cells = (
            f"{r['transpile_every_compile_ms']:.2f} ms",
            f"{r['bind_compile_ms']:.3f} ms",
            f"{r['compile_ratio']:.0f}x",
            f"{r['transpile_every_iteration_ms']:.1f} ms",
            f"{r['bind_iteration_ms']:.1f} ms",
            f"{r['iteration_ratio']:.1f}x",
        )
        print(f"{name:<16}" + "".join(f"{c:>12}" for c in cells))
    worst = min(r["compile_ratio"] for r in results.values())
    verdict = "met" if worst >= 30 else "NOT met"
    print(f"target >= 30x compile-step speed-up per iteration: {verdict} (worst target {worst:.0f}x)")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "compile_reuse.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
