"""Admission-control overhead per submission, the operator's whole admission path, on SQLite and on
PostgreSQL, as a fraction of an 8-qubit Aer job's time — every case measured interleaved in one run.

What `QuantumSubmitOperator` does for one task that is admitted, runs and settles (operators/
operators/quantum.py: `_admit` before submitting, the tail of `_finish` after):

    policy = load_policy(); name = environment(policy)          # _admit: _policy(), _environment_name()
    Admission(policy, name, SpendLedger()).admit(key, backend, shots)
    Admission(load_policy(), environment(load_policy()), SpendLedger()).settle(...)   # _finish

— three policy loads (four with quantum-value routing), two SpendLedger constructions (each
checks the schema), one reserve and one settle transaction. The cases, per submission:

- **ledger only**: reserve + settle on a ready SpendLedger (what this benchmark used to time);
- **path, policy uncached**: the sequence above with `QFLOW_POLICY_CACHE=0` — every load reads
  the YAML and validates it (the behaviour before the per-file-version cache);
- **path, policy cached**: the same sequence with the cache (one parse per file version);
- and the parts: three uncached loads, three cached loads, two SpendLedger constructions.

The policy file is the shipped one plus one benchmark environment with room for every
reservation (so no real environment's budget is touched); its rows are deleted afterwards.

Usage: python bench/admission_overhead.py [--submissions N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sqlalchemy as sa
import yaml
from qiskit import transpile

from include.governance.budget import Admission, SpendLedger, spend
from include.governance.policy import DEFAULT_POLICY_FILE, current_environment_name, load_policy
from include.problems.maxcut import GraphSpec, make_graph, maxcut_ising
from include.quantum.backends.aer import AerBackend
from include.quantum.backends.base import SamplerJob, SamplerPub
from include.quantum.circuits.qaoa import qaoa_ansatz

POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
BACKEND, SHOTS = "aer:automatic", 1024


def write_policy(directory: Path, environment: str) -> Path:
    data = yaml.safe_load(DEFAULT_POLICY_FILE.read_text())
    data["environments"][environment] = {
        "allowed_backends": ["aer*"],
        "shots_per_job": 10**6,
        "shots_per_day": 10**12,
        "spend_per_day": 1e9,
        "spend_per_month": 1e9,
        "jobs_per_day": 10**9,
    }
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def with_cache(enabled: bool, call: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        os.environ["QFLOW_POLICY_CACHE"] = "1" if enabled else "0"
        try:
            call()
        finally:
            os.environ.pop("QFLOW_POLICY_CACHE", None)

    return run


def cases(url: str, environment: str) -> dict[str, Callable[[str], None]]:
    ready = SpendLedger(url)
    policy = load_policy()
    admission = Admission(policy, environment, ready)

    def ledger_only(key: str) -> None:
        admission.admit(key, BACKEND, SHOTS)
        admission.settle(key, BACKEND, SHOTS, 0.001)

    def operator_path(key: str) -> None:
        policy = load_policy()  # _admit
        name = current_environment_name(policy, environment)
        Admission(policy, name, SpendLedger(url)).admit(key, BACKEND, SHOTS)
        settling = Admission(load_policy(), current_environment_name(load_policy(), environment), SpendLedger(url))
        settling.settle(key, BACKEND, SHOTS, 0.001)  # _finish

    def three_loads(_key: str) -> None:
        for _ in range(3):
            load_policy()

    def two_ledgers(_key: str) -> None:
        SpendLedger(url)
        SpendLedger(url)

    return {
        "ledger only (reserve + settle)": ledger_only,
        "path, policy uncached": lambda k: with_cache(False, lambda: operator_path(k))(),
        "path, policy cached": lambda k: with_cache(True, lambda: operator_path(k))(),
        "  3 x load_policy, uncached": lambda k: with_cache(False, lambda: three_loads(k))(),
        "  3 x load_policy, cached": lambda k: with_cache(True, lambda: three_loads(k))(),
        "  2 x SpendLedger()": two_ledgers,
    }


def measure(url: str, environment: str, n: int) -> dict[str, float]:
    run = cases(url, environment)
    times: dict[str, list[float]] = {name: [] for name in run}
    rng = random.Random(1)
    for i in range(n):
        order = list(run)
        rng.shuffle(order)  # interleaved, in a different order each round
        for name in order:
            key = f"{environment}-{i}-{uuid.uuid4().hex[:8]}"
            t0 = time.perf_counter()
            run[name](key)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) for name, values in times.items()}


def aer_job_seconds(n: int) -> float:
    backend = AerBackend(seed=1)
    ansatz = qaoa_ansatz(maxcut_ising(make_graph(GraphSpec(8, "regular", 3, "unit", 1)), 8)[0], 2)
    isa = transpile(ansatz, target=backend.target(), seed_transpiler=1)
    theta = np.array([[0.3, 0.2, 0.5, 0.1]])
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        backend.result(backend.submit(SamplerJob([SamplerPub(isa, theta)], SHOTS, f"aer-{i}-{time.time()}")))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submissions", type=int, default=100)
    args = parser.parse_args()
    environment = f"bench_{uuid.uuid4().hex[:8]}"
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["QFLOW_POLICY_FILE"] = str(write_policy(Path(tmp), environment))
        job = aer_job_seconds(50)
        results["sqlite"] = measure(f"sqlite:///{Path(tmp) / 'spend.sqlite'}", environment, args.submissions)
        try:
            with sa.create_engine(POSTGRES).connect():
                pass
        except Exception as exc:  # no server here: say so rather than invent a figure
            print(f"  (PostgreSQL at 127.0.0.1:5432 not reachable: {type(exc).__name__})")
        else:
            try:
                results["postgresql"] = measure(POSTGRES, environment, args.submissions)
            finally:
                with sa.create_engine(POSTGRES).begin() as conn:
                    conn.execute(spend.delete().where(spend.c.environment == environment))
    print(
        f"admission overhead per submission: median of {args.submissions} interleaved rounds"
        f" vs median of 50 8-qubit QAOA jobs on Aer ({SHOTS} shots) = {job * 1e3:.2f} ms"
    )
    for db, figures in results.items():
        uncached, cached = figures["path, policy uncached"], figures["path, policy cached"]
        print(f"  {db}:")
        for name, seconds in figures.items():
            print(f"    {name:<34}{seconds * 1e3:8.2f} ms  = {seconds / job:6.1%} of the job")
        print(f"    whole path, uncached / cached policy: {uncached / cached:.2f}x")
        print(f"    whole path / ledger only:            {cached / figures['ledger only (reserve + settle)']:.2f}x")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "admission_overhead.json").write_text(json.dumps({"aer_8q_job_s": job, **results}, indent=2))


if __name__ == "__main__":
    main()
