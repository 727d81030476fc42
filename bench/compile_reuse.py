"""Transpile every iteration versus transpile once and bind, through qflow's own QAOA loop.

Both strategies run `include.quantum.loops.qaoa.optimise_qaoa` (COBYLA, the same seed and
start), so every evaluation goes the path the optimise stage really takes: one `SamplerJob` through
the submission protocol (include/quantum/submission.py: claim, submit, poll, collect, settle) on a
qflow backend, with the ledgers in SQLite under a temporary `QFLOW_STATE_DIR` (so the bench never
spends a real environment's budget).

- **B, transpile once and bind** — the loop as it is: it transpiles the ansatz once for the
  backend's target and every evaluation submits that ISA circuit with the parameter values
  (the backend binds them).
- **A, transpile every iteration** — the same loop on a backend wrapper that, on each submit,
  binds the *logical* ansatz to the evaluation's values and transpiles it with the loop's
  settings (optimization level 1, the loop's seed) before passing it on.

Targets: Aer ideal in process (what the qaoa_maxcut optimise stage uses) and the local job service
emulating FakeSherbrooke (127 qubits, ECR/RZ/SX, heavy-hex coupling) with noise off, so the
figure is compile + submission, not noise simulation. A and B alternate, `--rounds` times each.

Also timed: the transpile cache (include/quantum/transpile_cache.py, the path
QuantumSubmitOperator takes once per task, and the loop once per run (in memory)): a miss
(transpile + QPY to S3), an S3 hit (a new process's first lookup) and an in-memory hit.

Printed per target: median per-evaluation time (A: of which transpiling), the whole loop, and the
ratios A/B. Usage: python bench/compile_reuse.py [--iterations N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from qiskit import QuantumCircuit, transpile

from include.problems.maxcut import GraphSpec, make_graph
from include.quantum.backends.aer import AerBackend
from include.quantum.backends.base import JobStatus, QuantumBackend, RawResult, SamplerJob, SamplerPub
from include.quantum.circuits.qaoa import qaoa_ansatz
from include.quantum.loops.qaoa import CountsObjective, optimise_qaoa

N_QUBITS, REPS, SHOTS, SEED = 8, 2, 1024, 11


def first_row(pub: SamplerPub) -> np.ndarray:
    """The loop submits one parameter set per pub."""
    assert pub.parameter_values is not None, "the QAOA loop always binds parameters"
    return np.atleast_2d(pub.parameter_values)[0]


class Timed(QuantumBackend):
    """Pass-through that times each submission; with ``transpile_from`` set, it binds that logical
    circuit to the job's parameter values and transpiles it (strategy A) before submitting."""

    def __init__(self, inner: QuantumBackend, transpile_from: QuantumCircuit | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.transpile_from = transpile_from
        self._target = inner.target()
        self.submit_seconds: list[float] = []
        self.transpile_seconds: list[float] = []
        self.parameters: list[list[float]] = []

    def target(self) -> Any:
        return self._target

    def max_shots(self) -> int:
        return self.inner.max_shots()

    def calibration_snapshot(self) -> Mapping[str, Any]:
        return self.inner.calibration_snapshot()

    def submit(self, job: SamplerJob) -> str:
        t0 = time.perf_counter()
        pubs = list(job.pubs)
        self.parameters.append([float(v) for v in first_row(pubs[0])])
        if self.transpile_from is not None:
            bound = [
                transpile(
                    self.transpile_from.assign_parameters(first_row(pub)),
                    target=self._target,
                    optimization_level=1,
                    seed_transpiler=SEED,
                )
                for pub in pubs
            ]
            self.transpile_seconds.append(time.perf_counter() - t0)
            pubs = [SamplerPub(circuit) for circuit in bound]
        job_id = self.inner.submit(SamplerJob(pubs, job.shots, job.idempotency_key, job.options))
        self.submit_seconds.append(time.perf_counter() - t0)
        return job_id

    def status(self, job_id: str) -> JobStatus:
        return self.inner.status(job_id)

    def result(self, job_id: str) -> RawResult:
        return self.inner.result(job_id)


def run_loop(
    backend: QuantumBackend, ansatz: QuantumCircuit, objective: CountsObjective, strategy: str, n: int
) -> dict[str, Any]:
    timed = Timed(backend, transpile_from=ansatz if strategy == "A" else None)
    t0 = time.perf_counter()
    result = optimise_qaoa(
        ansatz,
        objective,
        shots=SHOTS,
        max_iterations=n,
        seed=SEED,
        backend=timed,
        run=("bench_compile_reuse", uuid.uuid4().hex, strategy, -1),  # every loop its own jobs
    )
    loop_seconds = time.perf_counter() - t0
    evaluations = len(timed.submit_seconds)
    return {
        "loop_seconds": loop_seconds,
        "evaluations": evaluations,
        "evaluation_seconds": result.execute_seconds / evaluations,  # the protocol: submit, poll, collect
        "transpile_seconds": statistics.median(timed.transpile_seconds) if timed.transpile_seconds else 0.0,
        "one_off_transpile_seconds": result.transpile_seconds,
        "parameters": timed.parameters,
        "best_cut": result.best_cut,
    }


def cache_costs(backend: QuantumBackend, ansatz: QuantumCircuit) -> dict[str, float]:
    """The transpile cache's miss, S3 hit and memory hit for the ansatz, on this backend's target."""
    from include.quantum.transpile_cache import TranspileCache, TranspileSettings
    from include.store.artifacts import ArtifactStore
    from include.store.config import s3_client, s3_settings_from_env

    settings = s3_settings_from_env()
    store = ArtifactStore(s3_client(settings), settings.bucket)
    prefix = f"bench/transpile-cache-{uuid.uuid4().hex[:8]}"
    ts = TranspileSettings(1, SEED)
    target, calibration = backend.target(), backend.calibration_snapshot()
    out: dict[str, float] = {}
    _, source, out["miss"] = TranspileCache(store, prefix=prefix).get_or_transpile(ansatz, target, calibration, ts)
    assert source == "miss", source
    fresh = TranspileCache(store, prefix=prefix)
    _, source, out["s3"] = fresh.get_or_transpile(ansatz, target, calibration, ts)
    assert source == "s3", source
    memory = []
    for _ in range(5):
        _, source, seconds = fresh.get_or_transpile(ansatz, target, calibration, ts)
        assert source == "memory", source
        memory.append(seconds)
    out["memory"] = statistics.median(memory)
    return out


def measure(backend: QuantumBackend, iterations: int, rounds: int) -> dict[str, Any]:
    edges = make_graph(GraphSpec(N_QUBITS, "regular", 3, "unit", SEED))
    objective = CountsObjective(edges, N_QUBITS)
    ansatz = qaoa_ansatz(objective.cost, REPS)
    with warnings.catch_warnings():  # COBYLA's "MAXFUN < n+2" notice for the short warm-up loop
        warnings.simplefilter("ignore", UserWarning)
        run_loop(backend, ansatz, objective, "B", 2)  # warm-up: imports, transpiler plugins, first job
    runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    for i in range(rounds):
        for strategy in ("A", "B") if i % 2 == 0 else ("B", "A"):
            runs[strategy].append(run_loop(backend, ansatz, objective, strategy, iterations))
    med = statistics.median
    summary: dict[str, Any] = {}
    for strategy, values in runs.items():
        summary[strategy] = {
            key: med(v[key] for v in values)
            for key in ("loop_seconds", "evaluation_seconds", "transpile_seconds", "one_off_transpile_seconds")
        }
        summary[strategy]["evaluations"] = values[0]["evaluations"]
    same = all(a["parameters"] == b["parameters"] for a, b in zip(runs["A"], runs["B"], strict=True))
    summary["same_parameter_sequence"] = same
    summary["cache"] = cache_costs(backend, ansatz)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ["QFLOW_STATE_DIR"] = tempfile.mkdtemp(prefix="qflow-compile-reuse-")  # fresh ledgers
    os.environ.pop("QFLOW_LEDGER_URL", None)
    from include.emulator.process import JobServiceProcess, free_port
    from include.quantum.backends.jobservice import JobServiceBackend

    results: dict[str, Any] = {}
    results["aer ideal"] = measure(AerBackend(seed=SEED), args.iterations, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "QFLOW_JOBSERVICE_NOISE": "off"}
        # An OS-picked port: the 8790-8799 range is shared by every developer's services here.
        port = free_port(range(0))
        with JobServiceProcess(Path(tmp) / "jobs.sqlite", port=port, backend="fake_sherbrooke", env=env) as service:
            backend = JobServiceBackend(service.url, backend_name="fake_sherbrooke")
            results["jobservice sherbrooke"] = measure(backend, args.iterations, args.rounds)

    print(
        f"compile reuse through optimise_qaoa: {N_QUBITS}-qubit 3-regular MaxCut, p={REPS}, {SHOTS} shots,"
        f" {args.iterations} COBYLA evaluations at most, median of {args.rounds} loops per strategy"
    )
    print("A = transpile every iteration (bind the logical ansatz, transpile, submit)")
    print("B = transpile once and bind (the loop as it is); per-evaluation time = submit + poll + collect")
    columns = ("target", "A eval", "of it transp.", "B eval", "eval A/B", "A loop", "B loop", "loop A/B")
    print(f"{columns[0]:<24}" + "".join(f"{c:>14}" for c in columns[1:]))
    for name, r in results.items():
        a, b = r["A"], r["B"]
        cells = (
            f"{a['evaluation_seconds'] * 1e3:.1f} ms",
            f"{a['transpile_seconds'] * 1e3:.1f} ms",
            f"{b['evaluation_seconds'] * 1e3:.1f} ms",
            f"{a['evaluation_seconds'] / b['evaluation_seconds']:.1f}x",
            f"{a['loop_seconds']:.2f} s",
            f"{b['loop_seconds']:.2f} s",
            f"{a['loop_seconds'] / b['loop_seconds']:.1f}x",
        )
        print(f"{name:<24}" + "".join(f"{c:>14}" for c in cells))
    for name, r in results.items():
        c = r["cache"]
        print(
            f"  {name}: B's one-off transpile {r['B']['one_off_transpile_seconds'] * 1e3:.1f} ms;"
            f" same parameter sequence in A and B: {'yes' if r['same_parameter_sequence'] else 'NO'};"
            f" transpile cache miss {c['miss'] * 1e3:.1f} ms, S3 hit {c['s3'] * 1e3:.1f} ms,"
            f" memory hit {c['memory'] * 1e3:.2f} ms"
        )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "compile_reuse.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
