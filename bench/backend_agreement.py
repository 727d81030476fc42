"""The same QAOA instance optimised on different backends through the same loop: do they agree?

One MaxCut instance (8 nodes, 3-regular, p=2), one start point, COBYLA, the same evaluation budget
and shots, run by ``include.quantum.loops.qaoa.optimise_qaoa`` (every evaluation one job through the
submission protocol, the ledgers in SQLite under a temporary QFLOW_STATE_DIR) on:

- ``aer`` — ideal Aer in process;
- ``jobservice:fake_kolkata`` — the local job service (a separate process, queued jobs over HTTP)
  with its noise off, so it should agree with ideal Aer;
- ``ibm:fake_kolkata`` — qiskit-ibm-runtime's local testing mode (noisy: FakeKolkata's model);
- ``aer:fake_kolkata`` — Aer with the same noise model, the like-for-like comparison for the
  runtime's local mode.

For each: the loop's best sampled expected cut (the evaluation with the lowest energy), the
*ideal* expected cut of the final parameters (exact statevector, so optimiser quality is seen
without sampling noise), and the shot noise of one sampled expected cut at those parameters
(σ_cut/√shots, from the exact distribution). A sampled loop's end point depends on its shots'
seed, so every backend runs ``--seeds`` seeds and is compared with its reference (ideal: ``aer``;
noisy: ``aer:fake_kolkata``) by the difference of their means over the standard error of that
difference (z; the seed-to-seed sd, never taken below one evaluation's shot noise): |z| ≤ 3 is
"the same answer within shot noise".

Usage: python bench/backend_agreement.py [--evaluations 40] [--shots 4096] [--seeds 4]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_NODES, REPS, SEED, DEVICE = 8, 2, 11, "fake_kolkata"


def ideal_cut_statistics(ansatz: Any, edges: Any, theta: list[float]) -> tuple[float, float]:
    """(expected cut, its standard deviation) of the exact output distribution at ``theta``."""
    import numpy as np
    from qiskit.quantum_info import Statevector

    circuit = ansatz.remove_final_measurements(inplace=False).assign_parameters(theta)
    probabilities = Statevector(circuit).probabilities_dict()
    pairs = list(zip(edges["u"], edges["v"], edges["weight"], strict=True))
    mean = second = 0.0
    for bitstring, p in probabilities.items():
        bits = bitstring[::-1]  # Qiskit's bitstrings are little-endian
        cut = sum(float(w) for u, v, w in pairs if bits[int(u)] != bits[int(v)])
        mean += p * cut
        second += p * cut * cut
    return float(mean), float(np.sqrt(max(second - mean * mean, 0.0)))


def bench_policy(directory: Path) -> Path:
    """The default policy with a ``bench`` environment: dev's rules, with day and month budgets this
    bench cannot exhaust (the job service prices its shots like a provider)."""
    import yaml

    from include.governance.policy import DEFAULT_POLICY_FILE

    data = yaml.safe_load(DEFAULT_POLICY_FILE.read_text())
    bench = dict(data["environments"]["dev"])
    bench.update(spend_per_day=1e9, spend_per_month=1e9, shots_per_day=10**12, jobs_per_day=10**9)
    data["environments"]["bench"] = bench
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=40)
    parser.add_argument("--shots", type=int, default=4096)
    parser.add_argument("--seeds", type=int, default=4, help="runs of each reference backend, for its spread")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="qflow-bench-agreement-"))
    os.environ["QFLOW_STATE_DIR"] = str(state)  # SQLite ledgers of this bench only
    os.environ.pop("QFLOW_LEDGER_URL", None)
    os.environ["QFLOW_POLICY_FILE"] = str(bench_policy(state))
    os.environ["QFLOW_ENVIRONMENT"] = "bench"

    from include.emulator.process import JobServiceProcess, free_port
    from include.problems.maxcut import GraphSpec, make_graph
    from include.quantum.backends.registry import make_backend
    from include.quantum.circuits.qaoa import qaoa_ansatz
    from include.quantum.loops.qaoa import CountsObjective, optimise_qaoa

    edges = make_graph(GraphSpec(N_NODES, "regular", 3, "unit", SEED))
    objective = CountsObjective(edges, N_NODES)
    ansatz = qaoa_ansatz(objective.cost, reps=REPS)

    def optimise(spec: str, seed: int, url: str) -> dict[str, float]:
        result = optimise_qaoa(
            ansatz,
            objective,
            shots=args.shots,
            max_iterations=args.evaluations,
            seed=seed,
            backend=make_backend(spec, seed=seed, url=url),
            run=("bench_agreement", spec, "optimise", seed),
        )
        best = min(result.iterations, key=lambda r: r.energy)
        ideal, sigma = ideal_cut_statistics(ansatz, edges, list(result.best_parameters))
        return {
            "evaluations": len(result.iterations),
            "sampled": float(best.expected_cut),
            "ideal": ideal,
            "noise": sigma / math.sqrt(args.shots),
        }

    references = {"aer": "aer", f"jobservice:{DEVICE}": "aer", f"aer:{DEVICE}": f"aer:{DEVICE}"}
    references[f"ibm:{DEVICE}"] = f"aer:{DEVICE}"
    runs: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "QFLOW_JOBSERVICE_NOISE": "off"}
        with JobServiceProcess(Path(tmp) / "jobs.sqlite", port=free_port(), backend=DEVICE, env=env) as service:
            # A sampled loop's end point depends on its shots' seed: every backend runs the same
            # seeds, and backends are compared by their seed-to-seed distributions.
            for spec in references:
                runs[spec] = [optimise(spec, SEED + k, service.url) for k in range(args.seeds)]

    def mean_sd(spec: str, key: str) -> tuple[float, float]:
        values = [r[key] for r in runs[spec]]
        return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0

    print(
        f"QAOA MaxCut {N_NODES} nodes 3-regular p={REPS}, COBYLA ≤{args.evaluations} evaluations x {args.shots} "
        f"shots, one start point, seeds {SEED}..{SEED + args.seeds - 1}, through optimise_qaoa on each backend"
    )
    print(
        f"{'backend':<26} {'evals':>5} {'sampled E[cut] (mean ± sd)':>27} {'ideal E[cut] of θ*':>19} "
        f"{'shot noise':>10} {'reference':>16} {'z':>6}"
    )
    verdicts = []
    for spec, ref in references.items():
        mean, sd = mean_sd(spec, "sampled")
        ideal, _ = mean_sd(spec, "ideal")
        ref_mean, ref_sd = mean_sd(ref, "sampled")
        noise = statistics.mean(r["noise"] for r in runs[spec])
        # Two samples of args.seeds runs each; the shot noise bounds the spread from below.
        spread = math.sqrt((max(sd, noise) ** 2 + max(ref_sd, noise) ** 2) / args.seeds)
        z = (mean - ref_mean) / spread if spec != ref else 0.0
        evals = statistics.mean(r["evaluations"] for r in runs[spec])
        print(f"{spec:<26} {evals:>5.0f} {mean:>18.3f} ± {sd:<6.3f} {ideal:>19.3f} {noise:>10.3f} {ref:>16} {z:>+6.1f}")
        if spec != ref:
            verdicts.append(f"{spec} vs {ref}: z={z:+.1f} ({'agree' if abs(z) <= 3 else 'DIFFER'})")
    print("; ".join(verdicts))


if __name__ == "__main__":
    main()
