"""Amazon Braket's local simulator against Aer on the same QAOA circuits: time per circuit and
distribution distance, side by side in one run.

For each size (3-regular MaxCut, ``--sizes`` nodes = qubits, p = ``--reps``, the linear-ramp
angles), the same logical circuit runs through qflow's backend interface on

- ``aer:statevector`` — Aer in process, its OpenMP threads as it chooses (parallel above 14 qubits);
- ``aer 1 thread`` — the same with ``max_parallel_threads=1``: like for like with Braket's simulator,
  which runs in one thread (its process CPU time stays at or under its wall time);
- ``braket:local`` — Braket's ``LocalSimulator("braket_sv")`` in process,

both seeded, ``--shots`` shots, ``--repeats`` times, the two backends alternating. Timed separately
(medians over the repeats):

- **transpile**: ``qiskit.transpile`` for the backend's target (Aer's, or the Braket target built
  from the LocalSimulator's properties);
- **convert**: Braket only — the ISA circuit to OpenQASM 3 in Braket's gate names
  (``amazon_braket.to_braket_program``) and the ``Program``; Aer takes the Qiskit circuit itself;
- **execute**: the backend's own ``execute_seconds`` for the job — simulation and sampling (for Aer
  this includes its internal assembly of the circuit, which has no separate figure).

Distances (total variation, ½ Σ|p − q|): Aer's sample against Braket's; each against the exact
statevector probabilities; and, for scale, the same distances between samples drawn with NumPy
from the exact distribution — the shot-noise floor at this many shots (with 2^n outcomes and
``--shots`` samples, two samples of the same distribution are far apart in TV at 18–20 qubits; the
floor says how far). The same distances over the distribution of cut values (a few dozen outcomes, so they
discriminate at every size). "Agree" means Aer vs Braket within 1.1x the floor's two-sample TV
over bitstrings and 2x over cut values (medians over ``--repeats`` pairs: a rough screen; the
statistical test with a stated bound is in tests/include/quantum/backends/test_braket.py).

Usage: python bench/braket_vs_aer.py [--sizes 10 14 18 20] [--reps 2] [--shots 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SEED = 11


def tv_counts(a: dict[str, int], b: dict[str, int]) -> float:
    na, nb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a.get(k, 0) / na - b.get(k, 0) / nb) for k in set(a) | set(b))


def tv_exact(counts: dict[str, int], probabilities: np.ndarray) -> float:
    """TV between a sample (Qiskit bitstrings: int(bitstring, 2) indexes the statevector) and the
    exact distribution: sampled outcomes contribute |c/N − p|, unsampled ones their p."""
    shots = sum(counts.values())
    seen = np.fromiter((int(k, 2) for k in counts), dtype=np.int64, count=len(counts))
    freq = np.fromiter((c / shots for c in counts.values()), dtype=float, count=len(counts))
    p_seen = probabilities[seen]
    return 0.5 * (float(np.abs(freq - p_seen).sum()) + float(probabilities.sum() - p_seen.sum()))


def cut_histogram(counts: dict[str, int], edges: Any) -> dict[str, int]:
    """The sample as a distribution over cut values (few outcomes: discriminating at any n)."""
    from include.problems.maxcut import cut_statistics

    stats = cut_statistics(counts, edges)
    histogram: dict[str, int] = {}
    for cut, count in zip(stats.cuts, stats.counts, strict=True):
        histogram[f"{cut:g}"] = histogram.get(f"{cut:g}", 0) + int(count)
    return histogram


def numpy_sample(probabilities: np.ndarray, shots: int, n: int, rng: np.random.Generator) -> dict[str, int]:
    draws = rng.choice(len(probabilities), size=shots, p=probabilities / probabilities.sum())
    values, counts = np.unique(draws, return_counts=True)
    return {format(int(v), f"0{n}b"): int(c) for v, c in zip(values, counts, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 14, 18, 20])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--shots", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from qiskit import transpile
    from qiskit.quantum_info import Statevector

    from include.problems.maxcut import GraphSpec, cut_statistics, cut_values, make_graph, maxcut_ising
    from include.quantum.backends.aer import AerBackend
    from include.quantum.backends.amazon_braket import BraketLocalBackend, to_braket_program
    from include.quantum.backends.base import SamplerJob, SamplerPub
    from include.quantum.circuits.qaoa import linear_ramp_point, qaoa_ansatz
    from include.quantum.loops.qaoa_angles import in_circuit_order

    class OneThreadAer(AerBackend):
        def simulator(self, method: str) -> Any:
            simulator = super().simulator(method)
            simulator.set_options(max_parallel_threads=1)
            return simulator

    def run_once(backend: Any, circuit: Any, theta: list[float], key: str) -> dict[str, Any]:
        target = backend.target()
        started = time.perf_counter()
        isa = transpile(circuit, target=target, optimization_level=1, seed_transpiler=7)
        transpile_s = time.perf_counter() - started
        convert_s = 0.0
        if isinstance(backend, BraketLocalBackend):
            started = time.perf_counter()
            to_braket_program(isa)  # what the backend does once per ISA circuit (timed here alone)
            convert_s = time.perf_counter() - started
        raw = backend.run(SamplerJob([SamplerPub(isa, np.asarray([theta]))], args.shots, key))
        return {
            "transpile": transpile_s,
            "convert": convert_s,
            "execute": float(raw.timings["execute_seconds"]),
            "counts": dict(raw.counts[0][0]),
        }

    # Warm both (imports, Aer's first simulator, Braket's interpreter) outside the timings.
    warm_circuit = qaoa_ansatz(maxcut_ising(make_graph(GraphSpec(6, "regular", 3, "unit", SEED)), 6)[0], reps=1)
    for backend in (AerBackend(method="statevector", seed=SEED), BraketLocalBackend("braket:local", seed=SEED)):
        run_once(backend, warm_circuit, [0.3, 0.4], "warm")

    rng = np.random.default_rng(SEED)
    print(
        f"QAOA MaxCut 3-regular, p={args.reps}, linear-ramp angles, {args.shots} shots, "
        f"median of {args.repeats} (Aer and Braket alternating), seeded"
    )
    header = (
        f"{'n':>3} {'backend':<16} {'transpile s':>11} {'convert s':>9} {'execute s':>9} {'total s':>8} "
        f"{'TV vs exact':>11} {'E[cut]':>7}"
    )
    summary = []
    for n in args.sizes:
        edges = make_graph(GraphSpec(n, "regular", 3, "unit", SEED))
        circuit = qaoa_ansatz(maxcut_ising(edges, n)[0], reps=args.reps)
        theta = in_circuit_order(linear_ramp_point(args.reps), [p.name for p in circuit.parameters])
        exact = Statevector(circuit.remove_final_measurements(inplace=False).assign_parameters(theta)).probabilities()
        makers: dict[str, Any] = {
            "aer:statevector": lambda seed: AerBackend(method="statevector", seed=seed),
            "aer 1 thread": lambda seed: OneThreadAer(method="statevector", seed=seed),
            "braket:local": lambda seed: BraketLocalBackend("braket:local", seed=seed),
        }
        runs: dict[str, list[dict[str, Any]]] = {spec: [] for spec in makers}
        for repeat in range(args.repeats):
            for spec, make in makers.items():  # fresh backends: no job or conversion reused between repeats
                runs[spec].append(run_once(make(SEED + repeat), circuit, theta, f"{n}-{repeat}"))
        print()
        print(header)
        medians: dict[str, dict[str, float]] = {}
        for spec, results in runs.items():
            m = {k: statistics.median(r[k] for r in results) for k in ("transpile", "convert", "execute")}
            m["total"] = m["transpile"] + m["convert"] + m["execute"]
            m["tv_exact"] = statistics.median(tv_exact(r["counts"], exact) for r in results)
            m["cut"] = statistics.median(cut_statistics(r["counts"], edges).expected_cut for r in results)
            medians[spec] = m
            convert = f"{m['convert']:>9.4f}" if spec.startswith("braket") else f"{'-':>9}"
            print(
                f"{n:>3} {spec:<16} {m['transpile']:>11.4f} {convert} {m['execute']:>9.4f} {m['total']:>8.3f} "
                f"{m['tv_exact']:>11.4f} {m['cut']:>7.3f}"
            )
        pairs = zip(runs["aer:statevector"], runs["braket:local"], strict=True)
        tv_pair = statistics.median(tv_counts(a["counts"], b["counts"]) for a, b in pairs)
        floor_pairs = [
            (numpy_sample(exact, args.shots, n, rng), numpy_sample(exact, args.shots, n, rng))
            for _ in range(args.repeats)
        ]
        floor_pair = statistics.median(tv_counts(a, b) for a, b in floor_pairs)
        floor_exact = statistics.median(tv_exact(a, exact) for a, _ in floor_pairs)
        pairs = zip(runs["aer:statevector"], runs["braket:local"], strict=True)
        cut_pair = statistics.median(
            tv_counts(cut_histogram(a["counts"], edges), cut_histogram(b["counts"], edges)) for a, b in pairs
        )
        cut_floor = statistics.median(
            tv_counts(cut_histogram(a, edges), cut_histogram(b, edges)) for a, b in floor_pairs
        )
        index = np.arange(len(exact))
        bits = ((index[:, None] >> np.arange(n)[None, :]) & 1).astype(np.int8)  # node j = qubit j
        exact_cut = float(exact @ cut_values(bits, edges))
        ratio = medians["braket:local"]["execute"] / medians["aer:statevector"]["execute"]
        total_ratio = medians["braket:local"]["total"] / medians["aer:statevector"]["total"]
        ratio_1t = medians["braket:local"]["execute"] / medians["aer 1 thread"]["execute"]
        agree = tv_pair <= 1.1 * floor_pair and cut_pair <= 2.0 * max(cut_floor, 1.0 / args.shots)
        print(
            f"    TV Aer vs Braket {tv_pair:.4f} | shot-noise floor: two exact samples {floor_pair:.4f}, "
            f"a sample vs exact {floor_exact:.4f} | exact E[cut] {exact_cut:.3f}"
        )
        print(f"    TV of the cut-value histograms: Aer vs Braket {cut_pair:.4f}, two exact samples {cut_floor:.4f}")
        print(
            f"    Braket / Aer: execute {ratio:.1f}x (vs Aer 1 thread {ratio_1t:.1f}x), "
            f"transpile+convert+execute {total_ratio:.1f}x; "
            f"distributions {'agree' if agree else 'DIFFER'} within shot noise"
        )
        summary.append((n, ratio, ratio_1t, total_ratio, tv_pair, floor_pair, cut_pair, cut_floor, agree))

    print()
    print(
        f"{'n':>3} {'Braket/Aer execute':>18} {'/Aer 1 thread':>13} {'Braket/Aer total':>16} {'TV Aer-Braket':>13} "
        f"{'TV floor':>9} {'cut TV':>7} {'cut floor':>9}  agree"
    )
    for n, ratio, ratio_1t, total_ratio, tv_pair, floor_pair, cut_pair, cut_floor, agree in summary:
        print(
            f"{n:>3} {ratio:>17.1f}x {ratio_1t:>12.1f}x {total_ratio:>15.1f}x {tv_pair:>13.4f} {floor_pair:>9.4f} "
            f"{cut_pair:>7.4f} {cut_floor:>9.4f}  {agree}"
        )


if __name__ == "__main__":
    main()
