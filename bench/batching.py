"""One job with all parameter sets bound versus one job per point, side by side in one run.

10-qubit QAOA (3-regular MaxCut, p=2), 200 parameter points, 1024 shots, through the backend
interface the operators use (submit, poll, collect), on two backends: Aer in process, and the
local job service (HTTP, queue, worker process; FakeKolkata's 27-qubit target with its noise model
switched off, so the figure is about submission overhead rather than noise simulation).
Target: >= 10x.

Usage: python bench/batching.py [--points N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from qiskit import transpile

from include.problems.maxcut import GraphSpec, make_graph, maxcut_ising
from include.quantum.backends.aer import AerBackend
from include.quantum.backends.base import QuantumBackend, SamplerJob, SamplerPub
from include.quantum.circuits.qaoa import qaoa_ansatz

N_QUBITS, REPS, SHOTS, SEED = 10, 2, 1024, 5


def measure(backend: QuantumBackend, points_count: int, repeats: int) -> tuple[float, float]:
    """(batched seconds, one-job-per-point seconds), medians over repeats."""
    ansatz = qaoa_ansatz(maxcut_ising(make_graph(GraphSpec(N_QUBITS, "regular", 3, "unit", SEED)), N_QUBITS)[0], REPS)
    isa = transpile(ansatz, target=backend.target(), optimization_level=1, seed_transpiler=SEED)
    points = np.random.default_rng(SEED).uniform(0, np.pi, (points_count, isa.num_parameters))
    tag = f"{time.time()}"
    backend.run(SamplerJob([SamplerPub(isa, points[:2])], SHOTS, f"warmup-{tag}"))
    batched, per_point = [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        raw = backend.run(SamplerJob([SamplerPub(isa, points)], SHOTS, f"batch-{r}-{tag}"))
        assert len(raw.counts[0]) == points_count
        batched.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for i, point in enumerate(points):
            backend.run(SamplerJob([SamplerPub(isa, point[None, :])], SHOTS, f"one-{r}-{i}-{tag}"))
        per_point.append(time.perf_counter() - t0)
    return statistics.median(batched), statistics.median(per_point)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from include.emulator.process import JobServiceProcess
    from include.quantum.backends.jobservice import JobServiceBackend

    aer = measure(AerBackend(method="statevector", seed=SEED), args.points, args.repeats)
    with (
        tempfile.TemporaryDirectory() as tmp,
        JobServiceProcess(
            Path(tmp) / "jobs.sqlite",
            workers=1,
            backend="fake_kolkata",
            env={**os.environ, "QFLOW_JOBSERVICE_NOISE": "off"},  # measure orchestration, not noise simulation
        ) as service,
    ):
        remote = measure(JobServiceBackend(service.url, backend_name="fake_kolkata"), args.points, args.repeats)
    print(f"batching: {N_QUBITS}-qubit QAOA p={REPS}, {args.points} points x {SHOTS} shots, median of {args.repeats}")
    results: dict[str, dict[str, float]] = {}
    for name, (batched, per_point) in (("Aer in process", aer), ("job service (HTTP, queue, worker)", remote)):
        ratio = per_point / batched
        results[name] = {"batched_s": batched, "per_point_s": per_point, "ratio": ratio}
        print(f"  {name}:")
        print(f"    one job, all points bound  {batched:8.3f} s  ({batched / args.points * 1e3:.2f} ms/point)")
        print(f"    one job per point          {per_point:8.3f} s  ({per_point / args.points * 1e3:.2f} ms/point)")
        print(f"    ratio {ratio:.1f}x (target >= 10x: {'met' if ratio >= 10 else 'NOT met'})")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "batching.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main()
