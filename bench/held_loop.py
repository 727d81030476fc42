"""A held QAOA loop through qflow's loop engine ÷ a bare Qiskit loop doing the same work.

Both loops optimise the same 12-qubit, p=2 QAOA ansatz of the same MaxCut instance with SciPy's
COBYLA from the same start, for the same number of evaluations and shots, on Aer's statevector
simulator in this process, and score each evaluation's counts with the same energy function
(``CountsObjective``). What differs is everything qflow wraps around an evaluation:

- **bare** — what a Qiskit user writes: transpile once, then ``scipy.optimize.minimize`` calling
  ``AerSimulator.run(isa, parameter_binds=...)`` and the energy of the counts. Nothing is stored.
- **qflow** — the optimise stage's own code path (``include.pipelines.qaoa_maxcut.qaoa_loop`` +
  ``run_held``, what ``stage_optimise`` and the held loop operator run): the transpile cache
  (QPY to SeaweedFS), preflight, the loop's budget admitted up front in the spend ledger, every
  evaluation one job claimed in the job ledger and carved from the loop's reservation, the
  optimiser replayable from the S3 checkpoint, with the policy's amortised writes (ledger rows
  and checkpoint at most every ``loops.checkpoint_every_seconds``) — free, fast backends book in
  batches.
- **qflow, every write** — the same, with the checkpoint and ledger written after every
  evaluation (``flush_seconds=0``): what amortising saves.

The ledgers are SQLite under a temporary QFLOW_STATE_DIR (never a real environment's budget); the
checkpoint and transpile cache go to the local SeaweedFS (start it with ``scripts/s3.sh start``,
or run through ``make bench``). The loops alternate, ``--rounds`` times each, each from a new run
prefix (nothing reused between rounds except the process's imports, loaded by one untimed
round of each). Printed: median seconds per
loop (transpile + every evaluation; qflow's also counts its ledger and checkpoint writes), per
evaluation, and the ratios qflow ÷ bare. Target: qflow ÷ bare ≤ 1.10.

Usage: python bench/held_loop.py [--nodes 12] [--reps 2] [--evaluations 60] [--shots 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bare_loop(
    ansatz: Any, objective: Any, start: list[float], rhobeg: float, evaluations: int, shots: int, seed: int
) -> tuple[float, int]:
    """Seconds for transpile + at most ``evaluations`` COBYLA evaluations with plain Qiskit and
    SciPy, and how many it ran."""
    import numpy as np
    from qiskit import transpile
    from qiskit_aer import AerSimulator
    from scipy.optimize import minimize

    started = time.perf_counter()
    simulator = AerSimulator(method="statevector", seed_simulator=seed)
    isa = transpile(ansatz, simulator, optimization_level=1, seed_transpiler=seed)
    calls = 0

    def energy(theta: np.ndarray) -> float:
        nonlocal calls
        calls += 1
        binds = [{p: [float(v)] for p, v in zip(isa.parameters, theta, strict=True)}]
        counts = simulator.run([isa], parameter_binds=binds, shots=shots).result().get_counts(0)
        return float(objective.evaluate(dict(counts))[0])

    minimize(energy, np.asarray(start), method="COBYLA", options={"maxiter": evaluations, "rhobeg": rhobeg})
    return time.perf_counter() - started, calls


def qflow_loop(store: Any, refs: tuple[Any, Any], params: Any, flush_seconds: float | None) -> tuple[float, int, int]:
    """Seconds for the optimise stage's held loop (a new run prefix), its evaluations and checkpoint writes."""
    from include.pipelines.qaoa_maxcut import qaoa_loop
    from include.quantum.backends.aer import AerBackend
    from include.quantum.loops.engine import run_held
    from include.quantum.submission import idempotency_key, local_protocol
    from include.quantum.transpile_cache import TranspileCache

    prefix = f"bench/held_loop/{uuid.uuid4().hex[:12]}"
    run = ["bench_held_loop", prefix, "optimise", -1]
    started = time.perf_counter()
    protocol = local_protocol(AerBackend(method="statevector", seed=params.seed))
    loop, _ = qaoa_loop(store, prefix, refs[0], refs[1], params, protocol=protocol, run=run, allow_deferral=False)
    # The same starting state as the bare loop: nothing transpiled yet (a cache of its own, empty).
    loop.cache = TranspileCache(store, prefix=f"{prefix}/transpile-cache")
    if flush_seconds is not None:
        loop.settings = dataclasses.replace(loop.settings, flush_seconds=flush_seconds)
    outcome = run_held(loop, idempotency_key("loop", None, params.shots, loop.backend.name, [*run, "loop"]))
    seconds = time.perf_counter() - started
    return seconds, len(outcome.evaluations), int(outcome.checkpoint_writes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=12)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--evaluations", type=int, default=60)
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    state = tempfile.mkdtemp(prefix="qflow-bench-held-")
    os.environ["QFLOW_STATE_DIR"] = state  # SQLite ledgers of this bench only
    os.environ.pop("QFLOW_LEDGER_URL", None)

    import io

    from qiskit import qpy

    from include.pipelines.qaoa_maxcut import QAOAMaxCutParams, stage_encode, stage_graph, stage_validate
    from include.quantum.loops.qaoa import CountsObjective, QAOAProblem
    from include.store.artifacts import ArtifactStore
    from include.store.config import s3_client, s3_settings_from_env

    settings = s3_settings_from_env()
    store = ArtifactStore(s3_client(settings), settings.bucket)
    params = QAOAMaxCutParams.from_mapping(
        {
            "n_nodes": args.nodes,
            "degree": 3,
            "reps": args.reps,
            "shots": args.shots,
            "max_iterations": args.evaluations,
            "seed": 11,
            "loop_backend": "aer:statevector",
        }
    )
    prefix = f"bench/held_loop/inputs-{uuid.uuid4().hex[:8]}"
    graph = stage_graph(store, prefix, params)
    encoding = stage_encode(store, prefix, graph, stage_validate(store, prefix, graph), params.reps)
    ansatz = qpy.load(io.BytesIO(store.read_attachment(encoding, "ansatz.qpy")))[0]
    objective = CountsObjective(store.read_table(graph), args.nodes)
    problem = QAOAProblem(ansatz, objective)
    start, rhobeg = [float(v) for v in problem.start], float(problem.rhobeg)

    timings: dict[str, list[float]] = {"bare": [], "qflow": [], "qflow, every write": []}
    writes: dict[str, list[int]] = {"qflow": [], "qflow, every write": []}
    # One untimed round of each first: the process's one-off imports and transpiler plug-in loading
    # (seconds, on the first transpile in a process) are not the loops' work.
    _, calls = bare_loop(ansatz, objective, start, rhobeg, args.evaluations, args.shots, params.seed)
    qflow_loop(store, (graph, encoding), params, None)
    for _ in range(args.rounds):
        seconds, calls = bare_loop(ansatz, objective, start, rhobeg, args.evaluations, args.shots, params.seed)
        timings["bare"].append(seconds)
        for label, flush in (("qflow", None), ("qflow, every write", 0.0)):
            seconds, evaluations, checkpoint_writes = qflow_loop(store, (graph, encoding), params, flush)
            # Like with like: the same optimiser on the same counts asks for the same evaluations.
            assert evaluations == calls, f"{label} ran {evaluations} evaluations, the bare loop {calls}"
            timings[label].append(seconds)
            writes[label].append(checkpoint_writes)

    print(
        f"held QAOA loop, {args.nodes} qubits, p={args.reps}, {calls} COBYLA evaluations (budget {args.evaluations}) x "
        f"{args.shots} shots, Aer statevector in process; median of {args.rounds} alternating rounds"
    )
    print(f"{'loop':<20} {'s/loop':>8} {'ms/eval':>8} {'ckpt writes':>12} {'÷ bare':>7}")
    bare = statistics.median(timings["bare"])
    for label, values in timings.items():
        median = statistics.median(values)
        ckpt = str(int(statistics.median(writes[label]))) if label in writes else "-"
        print(f"{label:<20} {median:8.2f} {1000 * median / calls:8.1f} {ckpt:>12} {median / bare:7.2f}")
    ratio = statistics.median(timings["qflow"]) / bare
    print(f"qflow ÷ bare = {ratio:.2f} (target ≤ 1.10: {'met' if ratio <= 1.10 else 'MISSED'})")


if __name__ == "__main__":
    main()
