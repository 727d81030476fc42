"""Deferral: 200 jobs queued on the job service at once, all waiting in one triggerer.

Submits N small jobs to a real job service (held QUEUED by a queue delay), then runs N
QuantumJobTrigger coroutines in one asyncio event loop in a fresh process — exactly what the
triggerer does with deferred tasks, which hold no worker slot while they wait. Prints that
process's CPU seconds and peak-memory growth per waiting job, and checks every trigger fired
once with DONE.

Usage: python bench/deferral.py [--jobs N] [--queue-delay S]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WAITER = r"""
import asyncio, json, os, resource, sys, time, tracemalloc
from operators.triggers.quantum_job import QuantumJobTrigger
from operators.hooks.quantum import QuantumBackendHook
from include.quantum.backends import jobservice  # imports the first trigger would pay, outside the measurement

job_ids = json.loads(sys.argv[1])
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cpu_before, wall_before = time.process_time(), time.perf_counter()

async def wait(job_id):
    trigger = QuantumJobTrigger(job_id, "jobservice:fake_manila", poll_interval=1.0, max_poll_interval=5.0)
    events = [event async for event in trigger.run()]
    return events

async def main():
    return await asyncio.gather(*(wait(j) for j in job_ids))

tracemalloc.start()
results = asyncio.run(main())
heap_peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({
    "heap_peak_bytes": heap_peak,
    "events": [[e.payload["state"] for e in events] for events in results],
    "cpu_seconds": time.process_time() - cpu_before,
    "wall_seconds": time.perf_counter() - wall_before,
    "rss_growth_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before,
    "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--queue-delay", type=float, default=30.0)
    args = parser.parse_args()
    from qiskit import QuantumCircuit, transpile

    from include.emulator.process import JobServiceProcess
    from include.quantum.backends.base import SamplerJob, SamplerPub
    from include.quantum.backends.jobservice import JobServiceBackend

    with (
        tempfile.TemporaryDirectory() as tmp,
        JobServiceProcess(
            Path(tmp) / "jobs.sqlite", workers=2, faults={"queue_delay_seconds": args.queue_delay}
        ) as service,
    ):
        backend = JobServiceBackend(service.url, backend_name="fake_manila")
        circuit = QuantumCircuit(3)
        circuit.h(0)
        circuit.cx(0, 1)
        circuit.cx(1, 2)
        circuit.measure_all()
        isa = transpile(circuit, target=backend.target(), seed_transpiler=1)
        started = time.perf_counter()
        job_ids = [
            backend.submit(SamplerJob([SamplerPub(isa)], 100, f"deferral-bench-{i}-{time.time()}"))
            for i in range(args.jobs)
        ]
        submit_seconds = time.perf_counter() - started
        waiter = subprocess.run(
            [sys.executable, "-c", WAITER, json.dumps(job_ids)],
            capture_output=True,
            text=True,
            env={**os.environ, "QFLOW_JOBSERVICE_URL": service.url},
        )
        if waiter.returncode != 0:
            sys.exit(waiter.stderr[-3000:])
        report = json.loads(waiter.stdout.strip().splitlines()[-1])
    states = report["events"]
    assert all(events == ["DONE"] for events in states), states[:5]
    n = args.jobs
    print(f"deferral: {n} jobs queued on the job service (queue delay {args.queue_delay:g} s), one event loop")
    print(f"  submitted in {submit_seconds:.1f} s; all {n} triggers fired exactly once with DONE")
    print(
        f"  waiting process: wall {report['wall_seconds']:.1f} s, CPU {report['cpu_seconds']:.2f} s"
        f" -> {report['cpu_seconds'] / n * 1e3:.1f} ms CPU per waiting job"
    )
    print(
        f"  peak RSS {report['rss_peak_kib'] / 1024:.0f} MiB,"
        f" growth while waiting {report['rss_growth_kib'] / 1024:.1f} MiB"
        f" -> {report['rss_growth_kib'] / n:.0f} KiB per waiting job"
    )
    print(
        f"  Python heap at peak while waiting {report['heap_peak_bytes'] / 2**20:.1f} MiB"
        f" -> {report['heap_peak_bytes'] / n / 1024:.0f} KiB per waiting job (tracemalloc)"
    )
    print("  worker slots held while waiting: 0 (a deferred task leaves its slot; the trigger waits here)")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "deferral.json").write_text(json.dumps({**report, "events": len(states), "submit_seconds": submit_seconds}))


if __name__ == "__main__":
    main()
