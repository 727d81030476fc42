"""Automatic simulation-method choice versus forced statevector on a 24-qubit ring QAOA (p=1),
side by side in one run, through the AerBackend interface. Target: >= 20x.

Usage: python bench/method_choice.py [--qubits N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
from qiskit import transpile

from include.problems.maxcut import canonical_edges, maxcut_ising
from include.quantum.backends.aer import AerBackend, choose_method
from include.quantum.backends.base import SamplerJob, SamplerPub
from include.quantum.circuits.qaoa import qaoa_ansatz

SHOTS, SEED = 1024, 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--qubits", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.qubits
    ring = canonical_edges(pd.DataFrame({"u": range(n), "v": [(i + 1) % n for i in range(n)], "weight": 1.0}))
    ansatz = qaoa_ansatz(maxcut_ising(ring, n)[0], reps=1)
    theta = np.array([[0.4, 0.3]])
    auto, forced = AerBackend(method="automatic", seed=SEED), AerBackend(method="statevector", seed=SEED)
    isa = transpile(ansatz, target=auto.target(), optimization_level=1, seed_transpiler=SEED)
    choice = choose_method(isa)
    times: dict[str, list[float]] = {"automatic": [], "statevector": []}
    for r in range(args.repeats):
        for name, backend in (("automatic", auto), ("statevector", forced)):
            t0 = time.perf_counter()
            counts = backend.result(backend.submit(SamplerJob([SamplerPub(isa, theta)], SHOTS, f"{name}-{r}"))).counts
            times[name].append(time.perf_counter() - t0)
            assert sum(counts[0][0].values()) == SHOTS
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["statevector"] / med["automatic"]
    print(f"method choice: {n}-qubit ring QAOA p=1, {SHOTS} shots, median of {args.repeats}")
    print(f"  automatic -> {choice.method} ({choice.reason})")
    print(f"  automatic    {med['automatic']:7.3f} s")
    print(f"  statevector  {med['statevector']:7.3f} s")
    print(f"  ratio {ratio:.1f}x (target >= 20x: {'met' if ratio >= 20 else 'NOT met'})")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "method_choice.json").write_text(json.dumps({**med, "ratio": ratio, "method": choice.method}))


if __name__ == "__main__":
    main()
