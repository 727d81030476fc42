"""Admission-control overhead per submission (spend-ledger reserve + settle) on SQLite and on
PostgreSQL, as a fraction of an 8-qubit Aer job's time, side by side in one run.

Usage: python bench/admission_overhead.py [--submissions N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from qiskit import transpile

from include.governance.budget import SpendLedger
from include.governance.policy import CostModel, Environment
from include.problems.maxcut import GraphSpec, make_graph, maxcut_ising
from include.quantum.backends.aer import AerBackend
from include.quantum.backends.base import SamplerJob, SamplerPub
from include.quantum.circuits.qaoa import qaoa_ansatz

POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
ENVIRONMENT = Environment(
    allowed_backends=["aer*"],
    shots_per_job=10**6,
    shots_per_day=10**12,
    spend_per_day=1e9,
    spend_per_month=1e9,
    jobs_per_day=10**9,
)


def admission_seconds(ledger: SpendLedger, n: int) -> float:
    env = f"bench-{uuid.uuid4().hex[:8]}"
    times = []
    for i in range(n):
        key = f"{env}-{i}"
        t0 = time.perf_counter()
        ledger.reserve(
            key,
            environment_name=env,
            environment=ENVIRONMENT,
            backend="aer:automatic",
            shots=1024,
            cost_model=CostModel(per_shot=1e-6),
        )
        ledger.settle(key, 0.001)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def aer_job_seconds(n: int) -> float:
    backend = AerBackend(seed=1)
    ansatz = qaoa_ansatz(maxcut_ising(make_graph(GraphSpec(8, "regular", 3, "unit", 1)), 8)[0], 2)
    isa = transpile(ansatz, target=backend.target(), seed_transpiler=1)
    theta = np.array([[0.3, 0.2, 0.5, 0.1]])
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        backend.result(backend.submit(SamplerJob([SamplerPub(isa, theta)], 1024, f"aer-{i}-{time.time()}")))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submissions", type=int, default=200)
    args = parser.parse_args()
    job = aer_job_seconds(50)
    results: dict[str, float] = {"aer_8q_job_s": job}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite_s"] = admission_seconds(
            SpendLedger(f"sqlite:///{Path(tmp) / 'spend.sqlite'}"), args.submissions
        )
    try:
        engine = sa.create_engine(POSTGRES)
        with engine.connect():
            pass
        results["postgresql_s"] = admission_seconds(SpendLedger(engine=engine), args.submissions)
    except Exception as exc:  # no server here: say so rather than invent a figure
        print(f"  (PostgreSQL at 127.0.0.1:5432 not reachable: {type(exc).__name__})")
    print(f"admission overhead: median of {args.submissions} reserve+settle vs median of 50 8-qubit Aer jobs")
    print(f"  8-qubit QAOA job on Aer (1024 shots)   {job * 1e3:8.2f} ms")
    for name in ("sqlite", "postgresql"):
        if f"{name}_s" in results:
            seconds = results[f"{name}_s"]
            print(f"  reserve + settle on {name:<11}        {seconds * 1e3:8.2f} ms  = {seconds / job:.1%} of the job")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "admission_overhead.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main()
