"""One job with all parameter sets bound versus one job per point, side by side in one run.

10-qubit QAOA (3-regular MaxCut, p=2), 200 parameter points, 1024 shots, through the same
AerBackend interface the operators use. Target: >= 10x.

Usage: python bench/batching.py [--points N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from qiskit import transpile

from include.backends.aer import AerBackend
from include.backends.base import SamplerJob, SamplerPub
from include.maxcut import GraphSpec, make_graph, maxcut_ising
from include.qaoa import qaoa_ansatz

N_QUBITS, REPS, SHOTS, SEED = 10, 2, 1024, 5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    backend = AerBackend(method="statevector", seed=SEED)
    ansatz = qaoa_ansatz(maxcut_ising(make_graph(GraphSpec(N_QUBITS, "regular", 3, "unit", SEED)), N_QUBITS)[0], REPS)
    isa = transpile(ansatz, target=backend.target(), optimization_level=1, seed_transpiler=SEED)
    points = np.random.default_rng(SEED).uniform(0, np.pi, (args.points, isa.num_parameters))
    backend.submit(SamplerJob([SamplerPub(isa, points[:2])], SHOTS, "warmup"))

    batched, per_point = [], []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        job = backend.submit(SamplerJob([SamplerPub(isa, points)], SHOTS, f"batch-{r}"))
        assert len(backend.result(job).counts[0]) == args.points
        batched.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for i, point in enumerate(points):
            backend.result(backend.submit(SamplerJob([SamplerPub(isa, point[None, :])], SHOTS, f"one-{r}-{i}")))
        per_point.append(time.perf_counter() - t0)
    med = statistics.median
    ratio = med(per_point) / med(batched)
    print(f"batching: {N_QUBITS}-qubit QAOA p={REPS}, {args.points} points x {SHOTS} shots, median of {args.repeats}")
    print(f"  one job, all points bound   {med(batched):7.3f} s  ({med(batched) / args.points * 1e3:.2f} ms/point)")
    print(f"  one job per point           {med(per_point):7.3f} s  ({med(per_point) / args.points * 1e3:.2f} ms/point)")
    print(f"  ratio {ratio:.1f}x (target >= 10x: {'met' if ratio >= 10 else 'NOT met'})")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "batching.json").write_text(
        json.dumps({"batched_s": med(batched), "per_point_s": med(per_point), "ratio": ratio})
    )


if __name__ == "__main__":
    main()
