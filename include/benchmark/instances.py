"""Problem instances of the sweep: which exist, which are the same content, and preparing each once.

An *instance* is a seeded graph (family, size, seed). Preparing it is done once and reused by every
experiment on it and by every later night: the graph, its GX validation, the classical baselines
(exact, greedy, local search, simulated annealing) and QAOA angles per reps, found noise-free.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import pandas as pd

from include.benchmark.grid import FAMILIES, SWEEP_VERSION, SweepGrid, sweep_root
from include.benchmark.schema import skipped_row
from include.problems.maxcut import GraphSpec, ProblemSpecError, make_graph
from include.store.artifacts import ArtifactRef, ArtifactStore, canonical_json, parquet_bytes, sha256_hex


@dataclass(frozen=True)
class InstanceSpec:
    family: str
    n_nodes: int
    seed: int
    degree: int
    weights: str

    def graph_spec(self) -> GraphSpec:
        return GraphSpec(self.n_nodes, FAMILIES[self.family], self.degree, self.weights, self.seed)


def instance_specs(grid: SweepGrid) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every distinct instance of the grid, smallest first (so a night cut short has them), and
    the (family, size) pairs that cannot exist, with the reason."""
    specs: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    seen: set[InstanceSpec] = set()
    if "maxcut" not in grid.workloads:
        return specs, skipped
    for n_nodes in sorted(set(grid.sizes)):
        for family in dict.fromkeys(grid.families):
            for seed in range(grid.seeds_per_size):
                spec = InstanceSpec(family, n_nodes, seed, grid.degree, grid.weights)
                try:
                    spec.graph_spec().check()
                except ProblemSpecError as exc:
                    skipped.append(skipped_row(family, n_nodes, seed, "classical", "none", str(exc)))
                    continue
                if spec not in seen:
                    seen.add(spec)
                    specs.append(asdict(spec))
    return specs, skipped


def group_by_content(specs: Sequence[Mapping[str, Any]]) -> list[list[dict[str, Any]]]:
    """Instance specs that generate the same graph (K4 is both 3-regular and Erdős–Rényi with
    p=1; small regular graphs repeat across seeds) grouped together, first-seen order kept: one
    preparation serves each group, and no two tasks ever prepare the same content at once."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        instance = InstanceSpec(**dict(spec))
        groups.setdefault(instance_hash(make_graph(instance.graph_spec()), instance.n_nodes), []).append(dict(spec))
    return list(groups.values())


def prepare_group(
    store: ArtifactStore, group: Sequence[Mapping[str, Any]], reps: Sequence[int], *, angle_evaluations: int = 300
) -> list[dict[str, Any]]:
    """Prepare one content group: the first spec does the work, the others reuse it."""
    return [prepare_instance(store, spec, reps, angle_evaluations=angle_evaluations) for spec in group]


def instance_hash(edges: pd.DataFrame, n_nodes: int) -> str:
    """Content hash of a problem instance: its canonical edge list and node count."""
    return sha256_hex(canonical_json({"n_nodes": n_nodes, "edges": sha256_hex(parquet_bytes(edges))}))


def prepare_instance(
    store: ArtifactStore, spec: Mapping[str, Any], reps: Sequence[int], *, angle_evaluations: int = 300
) -> dict[str, Any]:
    """Graph → GX validation → classical baselines → QAOA angles per reps, once per instance.

    Content-addressed under ``sweep/instances/<hash>/``; ``prepared.json`` is written last and
    marks the preparation complete, so a later night (or a retry) reuses it. Reps levels missing
    from an earlier preparation are added. Returns the prepared record (JSON-safe)."""
    from include.pipelines.qaoa_maxcut import stage_baselines, stage_validate

    instance = InstanceSpec(**dict(spec))
    edges = make_graph(instance.graph_spec())
    digest = instance_hash(edges, instance.n_nodes)
    prefix = f"{sweep_root()}/instances/{digest}"
    record_uri = store.uri(f"{prefix}/prepared.json")
    wanted = sorted(set(int(p) for p in reps))
    record: dict[str, Any] | None = None
    if store.exists(record_uri):
        record = json.loads(store.get_bytes(record_uri))
        if record.get("sweep_version") != SWEEP_VERSION:
            record = None
    reused = record is not None and all(str(p) in record["angles"] for p in wanted)
    if record is None:
        started = time.perf_counter()
        graph = store.put_table(
            prefix,
            "graph",
            edges,
            stage="graph",
            params={"source": "generated", **asdict(instance), "kind": FAMILIES[instance.family]},
            seeds={"graph": instance.seed},
            measurements={"seconds": time.perf_counter() - started},
        )
        validation = stage_validate(store, prefix, graph)
        # Seeded from the content, so the same graph gets the same heuristic runs whoever prepares it.
        baselines = stage_baselines(store, prefix, graph, int(digest[:8], 16))
        table = store.read_table(baselines)
        # Content-level only: another (family, seed) with the same graph shares this record.
        record = {
            "sweep_version": SWEEP_VERSION,
            "instance_hash": digest,
            "n_nodes": instance.n_nodes,
            "graph": graph.to_xcom(),
            "validation": validation.to_xcom(),
            "baselines": baselines.to_xcom(),
            "optimum": float(table.loc[table["method"] == "exact", "cut"].iloc[0]),
            "classical": [
                {"method": str(r.method), "cut": float(r.cut), "seconds": float(r.seconds)} for r in table.itertuples()
            ],
            "angles": {},
        }
    if not reused:
        record["angles"] = _angles(store, record, wanted, angle_evaluations, edges)
        store.put_bytes(record_uri, canonical_json(record), content_type="application/json")
    return {**record, **asdict(instance), "prepared_uri": record_uri, "reused": reused}


def _angles(
    store: ArtifactStore, record: Mapping[str, Any], wanted: Sequence[int], evaluations: int, edges: pd.DataFrame
) -> dict[str, Any]:
    """Noise-free QAOA angles for every wanted reps (and those already found), with the ansatz's
    structure hash; stored as the instance's ``angles`` artifact."""
    from include.problems.maxcut import maxcut_ising
    from include.quantum.circuits.qaoa import qaoa_ansatz
    from include.quantum.loops.qaoa_angles import AngleResult, optimal_angles
    from include.quantum.transpile_cache import circuit_structure

    n_nodes = int(record["n_nodes"])
    cost, _ = maxcut_ising(edges, n_nodes)
    angles: dict[str, Any] = dict(record["angles"])
    previous: AngleResult | None = None
    # The INTERP chain: level p starts from level p-1. Levels found on an earlier night are kept
    # as they are (experiments keyed on them stay valid) and seed the missing levels above them.
    for reps in range(1, max(wanted) + 1):
        known = angles.get(str(reps))
        if known is not None:
            previous = AngleResult(reps, known["parameters"], known["expected_cut"], known["evaluations"], [], 0.0)
            continue
        result = optimal_angles(edges, n_nodes, reps, warm_start=previous, max_evaluations=evaluations)
        below = float(angles[str(reps - 1)]["seconds"]) if reps > 1 else 0.0
        angles[str(reps)] = {
            "parameters": [float(x) for x in result.parameters],
            "expected_cut": float(result.expected_cut),
            "evaluations": int(result.evaluations),
            "seconds": below + result.seconds,  # reaching level p costs levels 1..p
            "structure": sha256_hex(circuit_structure(qaoa_ansatz(cost, reps)).encode()),
        }
        previous = result
    angles = {str(p): angles[str(p)] for p in sorted(int(k) for k in angles)}
    table = pd.DataFrame(
        {
            "reps": [int(p) for p in angles],
            "parameters": [a["parameters"] for a in angles.values()],
            "expected_cut": [a["expected_cut"] for a in angles.values()],
            "evaluations": [a["evaluations"] for a in angles.values()],
            "seconds": [a["seconds"] for a in angles.values()],
        }
    )
    prefix = f"{sweep_root()}/instances/{record['instance_hash']}"
    store.put_table(
        prefix,
        "angles",
        table,
        stage="angles",
        inputs=[ArtifactRef.from_xcom(record["graph"])],
        params={"method": "noise-free expectation, grid + INTERP", "max_evaluations": evaluations},
        nondeterministic_columns=["seconds"],
    )
    return angles


def stored_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The stored prepared.json content of a prepared instance (without the spec it was asked for)."""
    spec_fields = {f.name for f in fields(InstanceSpec)} - {"n_nodes"}
    return {k: v for k, v in record.items() if k not in ("prepared_uri", "reused", *spec_fields)}
