"""The nightly benchmark sweep: a grid of MaxCut experiments, run once each, gathered into one table.

An *instance* is a seeded graph (family, size, seed). Preparing it is done once and reused by every
experiment on it and by every later night: the graph, its GX validation, the classical baselines
(exact, greedy, local search, simulated annealing) and QAOA angles per reps, found noise-free.

An *experiment* samples the QAOA circuit of one instance at those angles on one backend, with one
noise model and one shot count. Its key is the content hash of what would run: circuit structure,
parameter values, shots, backend, effective noise and the device calibration. A key runs once:
duplicates in the grid and results already in the store (from earlier nights) are reused. What
does run is batched: one job per (backend, noise, shots) and chunk of circuits, cheapest first.

Airflow-free: the DAG's tasks call ``instance_specs``, ``prepare_instance``, ``plan_night``,
``run_batch`` and ``collect_night``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from include.benchmark.schema import NOT_RUN_COLUMNS, RESULT_COLUMNS, SKIPPED_COLUMNS, TIMING_COLUMNS
from include.problems.baselines import HEURISTICS
from include.problems.maxcut import GraphSpec, ProblemSpecError, bitstring_to_bits, cut_values, make_graph
from include.store.artifacts import (
    ArtifactRef,
    ArtifactStore,
    IncompleteArtifactError,
    canonical_json,
    parquet_bytes,
    sha256_hex,
)

# Bump when what an experiment computes changes (angle finding, result fields): older stored
# results then stop matching and are recomputed instead of silently reused.
SWEEP_VERSION = "1"
FAMILIES: dict[str, str] = {"maxcut_regular": "regular", "maxcut_erdos_renyi": "erdos_renyi"}
SWEEP_BACKENDS = ("aer:statevector", "aer:matrix_product_state", "aer", "jobservice")
IDEAL = "ideal"
CLASSICAL_METHODS: tuple[str, ...] = ("exact", *HEURISTICS)
MAX_SWEEP_NODES = 22  # the noise-free angle search holds 2^n amplitudes
NIGHTS_PREFIX = "nightly"
TRANSPILE = {"optimization_level": 1, "seed_transpiler": 7}

# The per-experiment part of a result row (the night columns are added when a night collects it).
EXPERIMENT_COLUMNS = [c for c in RESULT_COLUMNS if c not in ("night", "night_date", "reused")]


def sweep_root() -> str:
    """Where instances, experiment results and the history live (QFLOW_SWEEP_ROOT, default
    ``sweep``): everything sharing a root shares its results, across nights."""
    return os.environ.get("QFLOW_SWEEP_ROOT", "sweep").strip("/") or "sweep"


class SweepConfigError(ValueError):
    """A sweep grid setting is wrong; the message names the Param and the fix."""


def _as_list(name: str, value: Any) -> list[Any]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise SweepConfigError(f"{name}={value!r}: give a non-empty list (or a comma-separated string)")
    return list(value)


def _ints(name: str, value: Any, low: int, high: int) -> tuple[int, ...]:
    out = []
    for item in _as_list(name, value):
        try:
            number = int(item)
        except (TypeError, ValueError) as exc:
            raise SweepConfigError(f"{name}: {item!r} is not a whole number") from exc
        if number != float(item) or not low <= number <= high:
            raise SweepConfigError(f"{name}: {item!r} is out of range; use whole numbers from {low} to {high}")
        out.append(number)
    return tuple(out)


@dataclass(frozen=True)
class SweepGrid:
    """The night's grid (the DAG's Params). Lists may repeat values: repeats are duplicates."""

    families: tuple[str, ...] = ("maxcut_regular", "maxcut_erdos_renyi")
    sizes: tuple[int, ...] = (6, 8, 10, 12, 14, 16, 18, 20)
    seeds_per_size: int = 5
    reps: tuple[int, ...] = (1, 2)
    shots: tuple[int, ...] = (1024,)
    noise: tuple[str, ...] = (IDEAL, "fake_kolkata")
    backends: tuple[str, ...] = ("aer:statevector", "aer:matrix_product_state", "jobservice")
    degree: int = 3  # regular graphs: the degree; Erdős–Rényi: the expected degree
    weights: str = "unit"
    noise_max_nodes: int = 10  # noisy simulation of larger circuits is skipped (and says so)
    max_pubs_per_job: int = 50  # circuits batched into one job; 1 submits one circuit at a time
    deduplicate: bool = True
    angle_evaluations: int = 300  # noise-free expectation evaluations per reps level

    @classmethod
    def from_params(cls, values: Mapping[str, Any]) -> SweepGrid:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SweepConfigError(f"unknown sweep Param(s) {unknown}; valid ones are {sorted(known)}")
        merged = {**{f.name: getattr(cls(), f.name) for f in fields(cls)}, **values}
        families = tuple(str(f) for f in _as_list("families", merged["families"]))
        for family in families:
            if family not in FAMILIES:
                raise SweepConfigError(f"families: {family!r} is not one of {sorted(FAMILIES)}")
        backends = tuple(str(b) for b in _as_list("backends", merged["backends"]))
        for backend in backends:
            if backend not in SWEEP_BACKENDS:
                raise SweepConfigError(
                    f"backends: {backend!r} is not one of {SWEEP_BACKENDS}; the nightly sweep runs on simulators "
                    "and the local job service (hardware runs go through qaoa_maxcut, with approval)"
                )
        noise = tuple(str(n) for n in _as_list("noise", merged["noise"]))
        for model in noise:
            if model != IDEAL:
                from include.quantum.backends.fake import fake_backend_names

                if model not in fake_backend_names():
                    raise SweepConfigError(
                        f"noise: {model!r} is neither 'ideal' nor an IBM fake backend "
                        "(e.g. fake_kolkata, fake_manila; see qiskit_ibm_runtime.fake_provider)"
                    )
        weights = str(merged["weights"])
        if weights not in ("unit", "uniform"):
            raise SweepConfigError(f"weights={weights!r}: use 'unit' or 'uniform'")
        flags = str(merged["deduplicate"]).lower()
        if flags not in ("true", "false", "1", "0"):
            raise SweepConfigError(f"deduplicate={merged['deduplicate']!r}: use true or false")
        return cls(
            families=families,
            sizes=_ints("sizes", merged["sizes"], 3, MAX_SWEEP_NODES),
            seeds_per_size=_ints("seeds_per_size", [merged["seeds_per_size"]], 1, 100)[0],
            reps=_ints("reps", merged["reps"], 1, 6),
            shots=_ints("shots", merged["shots"], 1, 100_000),
            noise=noise,
            backends=backends,
            degree=_ints("degree", [merged["degree"]], 1, MAX_SWEEP_NODES - 1)[0],
            weights=weights,
            noise_max_nodes=_ints("noise_max_nodes", [merged["noise_max_nodes"]], 0, MAX_SWEEP_NODES)[0],
            max_pubs_per_job=_ints("max_pubs_per_job", [merged["max_pubs_per_job"]], 1, 1000)[0],
            deduplicate=flags in ("true", "1"),
            angle_evaluations=_ints("angle_evaluations", [merged["angle_evaluations"]], 20, 10_000)[0],
        )

    def to_params(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


# --- instances -------------------------------------------------------------------------------------


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
    for n_nodes in sorted(set(grid.sizes)):
        for family in dict.fromkeys(grid.families):
            for seed in range(grid.seeds_per_size):
                spec = InstanceSpec(family, n_nodes, seed, grid.degree, grid.weights)
                try:
                    spec.graph_spec().check()
                except ProblemSpecError as exc:
                    skipped.append(_skip(family, n_nodes, seed, "classical", "none", str(exc)))
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


def _skip(family: str, n_nodes: int, seed: int, backend: str, noise: str, reason: str) -> dict[str, Any]:
    return {"family": family, "n_nodes": n_nodes, "seed": seed, "backend": backend, "noise": noise, "reason": reason}


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


# --- backends, keys and the plan --------------------------------------------------------------------


@dataclass(frozen=True)
class BackendIdentity:
    """What a (backend, noise) pair of the grid runs as: a registry spec, the noise that really
    applies, and the device calibration (both in the experiment key), or why it cannot run."""

    backend: str
    noise: str
    spec: str = ""
    effective_noise: str = ""
    calibration: str = ""
    max_qubits: int = MAX_SWEEP_NODES
    pool: str = ""
    skip_reason: str = ""


def backend_identity(backend: str, noise: str, *, jobservice_url: str | None) -> BackendIdentity:
    from include.quantum.backends.registry import make_backend
    from include.quantum.backends.results import calibration_hash

    if backend == "jobservice":
        try:
            service = make_backend("jobservice", url=jobservice_url)
            info = service.backend_info()  # type: ignore[attr-defined]
        except Exception as exc:  # an unreachable service skips its experiments, not the night
            return BackendIdentity(backend, noise, skip_reason=f"job service unavailable ({type(exc).__name__}: {exc})")
        # The service emulates one device; started with --noise off it runs that device's gates and
        # coupling map noise-free. Its experiments are the grid's noise value it really serves.
        device, noise_on = str(info["name"]), bool(info.get("noise", True))
        effective = device if noise_on else IDEAL
        if noise != effective:
            serves = f"{device} with its noise model {'on' if noise_on else 'off'}, i.e. noise={effective!r}"
            fix = (
                f"start it with --backend {noise} (QFLOW_JOBSERVICE_BACKEND) and noise on"
                if noise != IDEAL
                else "start it with --noise off (QFLOW_JOBSERVICE_NOISE=off)"
            )
            return BackendIdentity(backend, noise, skip_reason=f"the job service emulates {serves}; {fix}")
        calibration = calibration_hash({**service.calibration_snapshot(), "noise": effective})
        qubits = int(info["num_qubits"])
        return BackendIdentity(
            backend, noise, f"jobservice:{device}", effective, calibration, qubits, "qflow_jobservice"
        )
    method = backend.partition(":")[2]
    spec = backend if noise == IDEAL else f"aer:{method or 'automatic'}:{noise}"
    instance = make_backend(spec)
    max_qubits = MAX_SWEEP_NODES if noise == IDEAL else int(instance.target().num_qubits)
    return BackendIdentity(
        backend, noise, spec, noise, calibration_hash(instance.calibration_snapshot()), max_qubits, "qflow_aer"
    )


def experiment_key(
    *,
    structure: str,
    parameters: Sequence[float],
    shots: int,
    identity: BackendIdentity,
    instance: str,
) -> str:
    """The content hash of what would run: the same key means the same experiment."""
    return sha256_hex(
        canonical_json(
            {
                "sweep_version": SWEEP_VERSION,
                "instance": instance,
                "circuit_structure": structure,
                "parameters": [round(float(p), 10) for p in parameters],
                "shots": int(shots),
                "backend": identity.spec,
                "noise": identity.effective_noise,
                "calibration": identity.calibration,
                "transpile": TRANSPILE,
            }
        )
    )


def classical_key(instance: str, method: str) -> str:
    """Baselines run once per instance content (prepare_instance), so they are keyed by it."""
    return sha256_hex(canonical_json({"sweep_version": SWEEP_VERSION, "instance": instance, "method": method}))


def estimated_cost(n_nodes: int, reps: int, shots: int, noisy: bool) -> float:
    """Relative cost for ordering: statevector work grows as 2^n, noise multiplies it."""
    return (2.0 ** min(n_nodes, 30)) * reps * shots * (50.0 if noisy else 1.0)


PLAN_COLUMNS: dict[str, str] = {
    "experiment_id": "int64",
    "experiment_key": "string",
    "status": "string",  # run | duplicate (of a key run this night) | reused (in the store already)
    "instance_hash": "string",
    "family": "string",
    "n_nodes": "int64",
    "seed": "int64",
    "backend": "string",
    "noise": "string",
    "spec": "string",
    "shots": "int64",
    "reps": "int64",
    "parameters": "string",  # JSON list: γ[0..p-1] then β[0..p-1]
    "angle_seconds": "float64",
    "graph_uri": "string",
    "graph_sha256": "string",
    "optimum": "float64",
    "result_prefix": "string",
    "batch": "int64",  # -1 when nothing runs for this row
    "pool": "string",
    "estimated_cost": "float64",
}


def existing_result_prefixes(store: ArtifactStore) -> set[str]:
    """Result prefixes whose manifest exists (complete results), in one listing."""
    suffix = "/result/manifest.json"
    root = store.uri(f"{sweep_root()}/experiments/")
    bucket_root = store.uri("")
    return {uri[len(bucket_root) : -len(suffix)] for uri in store.list_uris(root) if uri.endswith(suffix)}


def plan_night(
    store: ArtifactStore,
    night_prefix: str,
    grid: SweepGrid,
    prepared: Sequence[Mapping[str, Any]],
    *,
    jobservice_url: str | None,
    skipped: Sequence[Mapping[str, Any]] = (),
    identity_of: Callable[[str, str], BackendIdentity] | None = None,
) -> dict[str, Any]:
    """Expand the grid over the prepared instances, key every experiment, mark duplicates and
    results already stored, and cut what must run into batches per pool, cheapest first.

    Writes ``<night>/plan`` (one row per quantum experiment) and ``<night>/skipped``; returns
    their refs and the batches (JSON-safe, for dynamic task mapping)."""
    identity_of = identity_of or (lambda b, n: backend_identity(b, n, jobservice_url=jobservice_url))
    identities = {(b, n): identity_of(b, n) for b in dict.fromkeys(grid.backends) for n in dict.fromkeys(grid.noise)}
    stored = existing_result_prefixes(store) if grid.deduplicate else set()
    rows: list[dict[str, Any]] = []
    skips = [dict(s) for s in skipped]
    by_family_size = sorted(prepared, key=lambda r: (int(r["n_nodes"]), str(r["family"]), int(r["seed"])))
    for record in by_family_size:
        n_nodes = int(record["n_nodes"])
        for reps in grid.reps:
            angles = record["angles"][str(reps)]
            for shots in grid.shots:
                for backend in grid.backends:
                    for noise in grid.noise:
                        identity = identities[(backend, noise)]
                        reason = identity.skip_reason
                        noisy = identity.effective_noise not in ("", IDEAL)
                        if not reason and noisy and n_nodes > grid.noise_max_nodes:
                            reason = f"noisy simulation above noise_max_nodes={grid.noise_max_nodes}"
                        if not reason and n_nodes > identity.max_qubits:
                            reason = f"{n_nodes} qubits do not fit the {identity.max_qubits}-qubit device"
                        if reason:
                            skips.append(_skip(record["family"], n_nodes, int(record["seed"]), backend, noise, reason))
                            continue
                        key = experiment_key(
                            structure=angles["structure"],
                            parameters=angles["parameters"],
                            shots=shots,
                            identity=identity,
                            instance=record["instance_hash"],
                        )
                        rows.append(
                            {
                                "experiment_id": len(rows),
                                "experiment_key": key,
                                "instance_hash": record["instance_hash"],
                                "family": record["family"],
                                "n_nodes": n_nodes,
                                "seed": int(record["seed"]),
                                "backend": backend,
                                "noise": identity.effective_noise,
                                "spec": identity.spec,
                                "shots": int(shots),
                                "reps": int(reps),
                                "parameters": json.dumps(angles["parameters"]),
                                "angle_seconds": float(angles["seconds"]),
                                "graph_uri": record["graph"]["uri"],
                                "graph_sha256": record["graph"]["sha256"],
                                "optimum": float(record["optimum"]),
                                "pool": identity.pool,
                                "estimated_cost": estimated_cost(n_nodes, int(reps), int(shots), noisy),
                            }
                        )
    seen: set[str] = set()
    for row in rows:
        key = row["experiment_key"]
        if grid.deduplicate:
            row["result_prefix"] = f"{sweep_root()}/experiments/{key}"
            row["status"] = "reused" if row["result_prefix"] in stored else "duplicate" if key in seen else "run"
        else:  # every row runs, each into its own place under the night
            row["result_prefix"] = f"{night_prefix}/experiments/{row['experiment_id']:06d}"
            row["status"] = "run"
        seen.add(key)
    batches = _batches(rows, grid.max_pubs_per_job)
    plan = pd.DataFrame(rows, columns=list(PLAN_COLUMNS)).astype(PLAN_COLUMNS) if rows else _empty(PLAN_COLUMNS)
    plan_ref = store.put_table(
        night_prefix,
        "plan",
        plan,
        stage="plan",
        inputs=[ArtifactRef(r["prepared_uri"], sha256_hex(canonical_json(_record_only(r))), None) for r in prepared],
        params={"grid": grid.to_params()},
    )
    skipped_frame = pd.DataFrame(skips, columns=list(SKIPPED_COLUMNS)).astype({"n_nodes": "int64", "seed": "int64"})
    skipped_ref = store.put_table(night_prefix, "skipped", skipped_frame, stage="plan", inputs=[plan_ref])
    counts = plan["status"].value_counts().to_dict() if len(plan) else {}
    pools: dict[str, list[dict[str, Any]]] = {}
    for batch in batches:
        pools.setdefault(batch["pool"], []).append({**batch, "plan": plan_ref.to_xcom(), "night_prefix": night_prefix})
    return {
        "plan": plan_ref.to_xcom(),
        "skipped": skipped_ref.to_xcom(),
        "batches": pools,
        "experiments": len(plan),
        "to_run": int(counts.get("run", 0)),
        "duplicates": int(counts.get("duplicate", 0)),
        "reused": int(counts.get("reused", 0)),
        "skipped_count": len(skipped_frame),
    }


def _record_only(record: Mapping[str, Any]) -> dict[str, Any]:
    """The stored prepared.json content of a prepared instance (without the spec it was asked for)."""
    spec_fields = {f.name for f in fields(InstanceSpec)} - {"n_nodes"}
    return {k: v for k, v in record.items() if k not in ("prepared_uri", "reused", *spec_fields)}


def _empty(columns: Mapping[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def _batches(rows: list[dict[str, Any]], max_pubs: int) -> list[dict[str, Any]]:
    """Rows that run → jobs of up to ``max_pubs`` circuits sharing (spec, shots), cheapest first."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        row["batch"] = -1
        if row["status"] == "run":
            groups.setdefault((row["spec"], row["shots"]), []).append(row)
    chunks: list[list[dict[str, Any]]] = []
    for members in groups.values():
        members.sort(key=lambda r: (r["estimated_cost"], r["experiment_id"]))
        chunks.extend(members[start : start + max_pubs] for start in range(0, len(members), max_pubs))
    # Cheap, informative work first: mapped task instances start in map-index order.
    chunks.sort(key=lambda c: (max(int(r["n_nodes"]) for r in c), sum(r["estimated_cost"] for r in c)))
    batches: list[dict[str, Any]] = []
    for number, chunk in enumerate(chunks):
        for row in chunk:
            row["batch"] = number
        batches.append(
            {
                "batch": number,
                "spec": chunk[0]["spec"],
                "shots": chunk[0]["shots"],
                "pool": chunk[0]["pool"],
                "experiment_ids": [r["experiment_id"] for r in chunk],
                "estimated_cost": float(sum(r["estimated_cost"] for r in chunk)),
                "max_nodes": max(int(r["n_nodes"]) for r in chunk),
            }
        )
    return batches


# --- running a batch --------------------------------------------------------------------------------


@dataclass
class BatchOutcome:
    batch: int
    spec: str
    executed: int = 0
    already_stored: int = 0
    job_id: str = ""
    pubs: int = 0
    seconds: float = 0.0
    cost: float = 0.0
    transpile_sources: dict[str, int] = field(default_factory=dict)

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BatchSubmission:
    """A batch's job as submitted: which experiments are its pubs, in order, and what compiling
    them cost. Stored beside the night (``submission_uri``) before anyone waits on the job, so a
    resumed or retried task finishes this job instead of submitting another."""

    batch: int
    spec: str
    job_id: str
    job_key: str
    shots: int
    experiment_ids: list[int]  # pub order
    compile_seconds: list[float]
    transpile_sources: dict[str, int]
    already_stored: int
    submitted_at: float

    def to_json(self) -> bytes:
        return canonical_json(asdict(self))

    @classmethod
    def from_json(cls, data: bytes) -> BatchSubmission:
        return cls(**json.loads(data))


def submission_uri(store: ArtifactStore, batch: Mapping[str, Any]) -> str:
    return store.uri(f"{batch['night_prefix']}/batches/{int(batch['batch']):05d}.json")


def _batch_rows(store: ArtifactStore, batch: Mapping[str, Any]) -> pd.DataFrame:
    plan = store.read_table(ArtifactRef.from_xcom(batch["plan"]))
    ids = set(int(i) for i in batch["experiment_ids"])
    return plan[plan["experiment_id"].isin(ids) & (plan["status"] == "run")]


def submit_batch(
    store: ArtifactStore,
    batch: Mapping[str, Any],
    *,
    jobservice_url: str | None = None,
    admit: Callable[[str, str, int], Any] | None = None,
) -> tuple[BatchSubmission | None, Any]:
    """Build the batch's circuits (through the transpile cache), reserve budget, submit one job.

    Returns (None, backend) when every experiment of the batch is already stored. The job's
    idempotency key is the hash of its experiments, so submitting the same batch again finds
    the same job on providers that keep keys (the job service, IBM via the ledger)."""
    from include.problems.maxcut import maxcut_ising
    from include.quantum.backends.base import SamplerJob, SamplerPub
    from include.quantum.backends.errors import call_with_retries
    from include.quantum.backends.registry import make_backend
    from include.quantum.circuits.qaoa import qaoa_ansatz
    from include.quantum.loops.qaoa_angles import in_circuit_order
    from include.quantum.transpile_cache import TranspileCache, TranspileSettings

    rows = _batch_rows(store, batch)
    pending = [r for r in rows.itertuples(index=False) if not store.exists(_result_manifest(store, r.result_prefix))]
    if not pending:
        return None, None
    keys = sorted(str(r.experiment_key) for r in pending)
    job_key = "sweep:" + sha256_hex("|".join(keys + [str(r.result_prefix) for r in pending]).encode())
    backend = make_backend(str(batch["spec"]), seed=int(job_key[-8:], 16), url=jobservice_url)
    target, calibration = backend.target(), backend.calibration_snapshot()
    cache = TranspileCache(store)
    settings = TranspileSettings(**TRANSPILE)
    pubs: list[Any] = []
    compile_seconds: list[float] = []
    sources: dict[str, int] = {}
    graphs: dict[str, pd.DataFrame] = {}
    for row in pending:
        if row.graph_uri not in graphs:
            graphs[row.graph_uri] = store.read_table(ArtifactRef(row.graph_uri, row.graph_sha256, None))
        cost, _ = maxcut_ising(graphs[row.graph_uri], int(row.n_nodes))
        isa, source, seconds = cache.get_or_transpile(qaoa_ansatz(cost, int(row.reps)), target, calibration, settings)
        # Angles are stored γs then βs; a circuit binds in its own parameter order (β before γ).
        values = in_circuit_order(json.loads(row.parameters), [p.name for p in isa.parameters])
        pubs.append(SamplerPub(isa, np.asarray([values], dtype=float)))
        compile_seconds.append(seconds)
        sources[source] = sources.get(source, 0) + 1
    shots = int(batch["shots"])
    if admit is not None:
        admit(job_key, str(batch["spec"]), shots * len(pubs))
    job_id = call_with_retries(lambda: backend.submit(SamplerJob(pubs, shots, job_key)))
    submission = BatchSubmission(
        batch=int(batch["batch"]),
        spec=str(batch["spec"]),
        job_id=str(job_id),
        job_key=job_key,
        shots=shots,
        experiment_ids=[int(r.experiment_id) for r in pending],
        compile_seconds=compile_seconds,
        transpile_sources=sources,
        already_stored=len(rows) - len(pending),
        submitted_at=time.time(),
    )
    return submission, backend


def finish_batch(
    store: ArtifactStore,
    batch: Mapping[str, Any],
    submission: BatchSubmission,
    raw: Any,
    *,
    settle: Callable[[str, str, int, float | None], float] | None = None,
    night: str = "",
) -> BatchOutcome:
    """The finished job's counts → one stored result per experiment (pubs in submission order)."""
    rows = _batch_rows(store, batch).set_index("experiment_id", drop=False)
    pubs = len(submission.experiment_ids)
    if len(raw.counts) != pubs:
        raise ValueError(f"job {submission.job_id} returned {len(raw.counts)} pubs; the batch submitted {pubs}")
    usage = raw.timings.get("execute_seconds")
    job_cost = settle(submission.job_key, submission.spec, submission.shots * pubs, usage) if settle else 0.0
    execute_share = float(raw.timings.get("execute_seconds", 0.0)) / pubs
    graphs: dict[str, pd.DataFrame] = {}
    written = 0
    for index, experiment_id in enumerate(submission.experiment_ids):
        row = rows.loc[experiment_id]
        if store.exists(_result_manifest(store, str(row.result_prefix))):
            continue  # a resumed finish: this one was stored before the interruption
        post_started = time.perf_counter()
        if row.graph_uri not in graphs:
            graphs[row.graph_uri] = store.read_table(ArtifactRef(row.graph_uri, row.graph_sha256, None))
        counts = dict(raw.counts[index][0])
        keys_sorted = sorted(counts)
        bits = np.array([bitstring_to_bits(k) for k in keys_sorted])
        cuts = cut_values(bits, graphs[row.graph_uri])
        weights = np.array([counts[k] for k in keys_sorted], dtype=float)
        objective, expected = float(cuts.max()), float(cuts @ weights / weights.sum())
        optimum = float(row.optimum)
        result = {
            "experiment_key": row.experiment_key,
            "instance_hash": row.instance_hash,
            "family": row.family,
            "n_nodes": int(row.n_nodes),
            "seed": int(row.seed),
            "method": "qaoa",
            "backend": row.backend,
            "noise": row.noise,
            "shots": submission.shots,
            "reps": int(row.reps),
            "objective": objective,
            "expected_objective": expected,
            "optimum": optimum,
            "approximation_ratio": objective / optimum if optimum > 0 else math.nan,
            "expected_approximation_ratio": expected / optimum if optimum > 0 else math.nan,
            "angle_seconds": float(row.angle_seconds),
            "compile_seconds": submission.compile_seconds[index],
            "queue_seconds": float(raw.timings.get("queue_seconds", 0.0)),
            "execute_seconds": execute_share,
            "postprocess_seconds": time.perf_counter() - post_started,
            "cost": job_cost / pubs,
            "tier": 1,
        }
        counts_frame = pd.DataFrame({"bitstring": keys_sorted, "count": weights.astype("int64"), "cut": cuts})
        _put_result(
            store,
            str(row.result_prefix),
            result,
            inputs=[ArtifactRef(row.graph_uri, row.graph_sha256, None)],
            params={
                "experiment": {k: result[k] for k in ("backend", "noise", "shots", "reps")},
                "spec": row.spec,
                "parameters": json.loads(row.parameters),
                "provider_job_id": raw.job_id,
                "job_key": submission.job_key,
                "transpiler": TRANSPILE,
            },
            measurements={"night": night, "pubs_in_job": pubs},
            attachments={"counts.parquet": parquet_bytes(counts_frame)},
        )
        written += 1
    return BatchOutcome(
        batch=submission.batch,
        spec=submission.spec,
        executed=written,
        already_stored=submission.already_stored + pubs - written,
        job_id=submission.job_id,
        pubs=pubs,
        seconds=time.time() - submission.submitted_at,
        cost=job_cost,
        transpile_sources=dict(submission.transpile_sources),
    )


def run_batch(
    store: ArtifactStore,
    batch: Mapping[str, Any],
    *,
    jobservice_url: str | None = None,
    admit: Callable[[str, str, int], Any] | None = None,
    settle: Callable[[str, str, int, float | None], float] | None = None,
    night: str = "",
) -> BatchOutcome:
    """Submit a batch as one job, wait for it here, store one result per experiment.

    The waiting path for in-process simulators and for code without a triggerer; the DAG's
    ``SweepBatchOperator`` submits the same way and defers the wait on queued providers.
    Idempotent: experiments already stored are not run again."""
    from include.quantum.backends.execute import wait_for_result

    submission, backend = submit_batch(store, batch, jobservice_url=jobservice_url, admit=admit)
    if submission is None:
        return BatchOutcome(int(batch["batch"]), str(batch["spec"]), already_stored=len(batch["experiment_ids"]))
    raw = wait_for_result(backend, submission.job_id)
    return finish_batch(store, batch, submission, raw, settle=settle, night=night)


def _result_manifest(store: ArtifactStore, result_prefix: str) -> str:
    return store.uri(f"{result_prefix}/result/manifest.json")


def _put_result(
    store: ArtifactStore,
    result_prefix: str,
    result: Mapping[str, Any],
    *,
    inputs: Sequence[ArtifactRef],
    params: Mapping[str, Any],
    measurements: Mapping[str, Any],
    attachments: Mapping[str, bytes] | None = None,
) -> ArtifactRef:
    row = {**result}
    row["time_to_solution_seconds"] = float(sum(row[c] for c in TIMING_COLUMNS))
    frame = pd.DataFrame([row], columns=EXPERIMENT_COLUMNS).astype({c: RESULT_COLUMNS[c] for c in EXPERIMENT_COLUMNS})
    return store.put_table(
        result_prefix,
        "result",
        frame,
        stage="experiment",
        inputs=inputs,
        params=params,
        measurements=measurements,
        attachments=attachments,
        nondeterministic_columns=[*TIMING_COLUMNS, "time_to_solution_seconds"],
    )


# --- collecting a night ------------------------------------------------------------------------------


def classical_rows(prepared: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The classical baselines of every instance, as result rows (computed once per instance)."""
    rows = []
    for record in prepared:
        optimum = float(record["optimum"])
        for entry in record["classical"]:
            cut = float(entry["cut"])
            rows.append(
                {
                    "experiment_key": classical_key(record["instance_hash"], entry["method"]),
                    "instance_hash": record["instance_hash"],
                    "family": record["family"],
                    "n_nodes": int(record["n_nodes"]),
                    "seed": int(record["seed"]),
                    "method": entry["method"],
                    "backend": "classical",
                    "noise": "none",
                    "shots": 0,
                    "reps": 0,
                    "objective": cut,
                    "expected_objective": cut,
                    "optimum": optimum,
                    "approximation_ratio": cut / optimum if optimum > 0 else math.nan,
                    "expected_approximation_ratio": cut / optimum if optimum > 0 else math.nan,
                    "angle_seconds": 0.0,
                    "compile_seconds": 0.0,
                    "queue_seconds": 0.0,
                    "execute_seconds": float(entry["seconds"]),
                    "postprocess_seconds": 0.0,
                    "time_to_solution_seconds": float(entry["seconds"]),
                    "cost": 0.0,
                    "tier": 2,
                    "reused": bool(record.get("reused", False)),
                }
            )
    return rows


def collect_night(
    store: ArtifactStore,
    night_prefix: str,
    *,
    night: str,
    night_date: str,
    plan: Mapping[str, Any],
    prepared: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """One tidy row per experiment of the night (quantum from the store by key, classical from
    the prepared instances), appended to the history. Experiments whose result is missing (a
    batch failed or the night was cut short) are listed as not run, never filled in."""
    plan_ref = ArtifactRef.from_xcom(plan["plan"])
    plan_frame = store.read_table(plan_ref)
    rows: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    stored: dict[str, dict[str, Any] | None] = {}  # duplicates share one result: read it once
    for row in plan_frame.itertuples(index=False):
        prefix = str(row.result_prefix)
        if prefix not in stored:
            try:
                stored[prefix] = store.read_table(store.uri(f"{prefix}/result/data.parquet")).iloc[0].to_dict()
            except IncompleteArtifactError:  # no manifest: the result was never (completely) written
                stored[prefix] = None
        result = stored[prefix]
        if result is None:
            reason = "no result: its batch failed or did not run"
            missing.append(
                {
                    **_skip(str(row.family), int(row.n_nodes), int(row.seed), str(row.backend), str(row.noise), reason),
                    "experiment_key": str(row.experiment_key),
                }
            )
            continue
        rows.append({**result, "reused": str(row.status) != "run"})
    rows.extend(classical_rows(prepared))
    frame = pd.DataFrame(rows, columns=[*EXPERIMENT_COLUMNS, "reused"])
    frame.insert(0, "night_date", night_date)
    frame.insert(0, "night", night)
    frame = frame[list(RESULT_COLUMNS)].astype(RESULT_COLUMNS)
    order = ["n_nodes", "family", "seed", "method", "backend", "noise", "shots", "reps"]
    frame = frame.sort_values(order, kind="mergesort")
    frame = frame.reset_index(drop=True)
    results_ref = store.put_table(
        night_prefix,
        "results",
        frame,
        stage="collect",
        inputs=[plan_ref],
        params={"night": night, "night_date": night_date},
        measurements={"rows": len(frame), "not_run": len(missing), "reused": int(frame["reused"].sum())},
        nondeterministic_columns=[*TIMING_COLUMNS, "time_to_solution_seconds", "cost"],
    )
    not_run = pd.DataFrame(missing, columns=list(NOT_RUN_COLUMNS)).astype({"n_nodes": "int64", "seed": "int64"})
    not_run_ref = store.put_table(night_prefix, "not_run", not_run, stage="collect", inputs=[plan_ref])
    history_ref = append_history(store, frame, night, results_ref)
    return {
        "results": results_ref.to_xcom(),
        "not_run": not_run_ref.to_xcom(),
        "history": history_ref.to_xcom(),
        "rows": len(frame),
        "missing": len(missing),
    }


def read_history(store: ArtifactStore) -> pd.DataFrame:
    uri = store.uri(f"{sweep_root()}/history/results/data.parquet")
    if not store.exists(store.uri(f"{sweep_root()}/history/results/manifest.json")):
        return _empty(RESULT_COLUMNS)
    return store.read_table(uri)


def append_history(store: ArtifactStore, night_rows: pd.DataFrame, night: str, night_ref: ArtifactRef) -> ArtifactRef:
    """History = every night's rows; a re-collected night replaces its own rows."""
    history = read_history(store)
    history = history[history["night"] != night]
    combined = pd.concat([history, night_rows], ignore_index=True) if len(history) else night_rows.copy()
    combined = combined.astype(RESULT_COLUMNS).sort_values(["night_date", "night"], kind="mergesort")
    return store.put_table(
        f"{sweep_root()}/history",
        "results",
        combined.reset_index(drop=True),
        stage="history",
        inputs=[night_ref],
        params={"nights": int(combined["night"].nunique())},
        nondeterministic_columns=[*TIMING_COLUMNS, "time_to_solution_seconds", "cost"],
    )


def night_prefix_for(night: str) -> str:
    from include.store.artifacts import safe_key_part

    return f"{NIGHTS_PREFIX}/{safe_key_part(night)}"


def store_report(
    store: ArtifactStore, night_prefix: str, *, night: str, collected: Mapping[str, Any], plan: Mapping[str, Any]
) -> ArtifactRef:
    """Statistics and the HTML report with its PNG plots, stored together under ``<night>/report/``
    (index.html beside the images it links). Returns the statistics artifact's ref."""
    from include.benchmark.report import render_report

    results_ref = ArtifactRef.from_xcom(collected["results"])
    results = store.read_table(results_ref)
    history = read_history(store)
    skipped = store.read_table(ArtifactRef.from_xcom(plan["skipped"]))
    not_run = store.read_table(ArtifactRef.from_xcom(collected["not_run"]))
    report = render_report(results, history, night=night, skipped=skipped, not_run=not_run)
    return store.put_table(
        night_prefix,
        "report",
        report.statistics.reset_index(drop=True),
        stage="report",
        inputs=[results_ref, ArtifactRef.from_xcom(collected["history"])],
        params={"night": night, "headline": list(report.headline)},
        attachments={"index.html": report.html.encode(), **report.images},
    )


def report_index_uri(report_ref: ArtifactRef) -> str:
    return report_ref.uri.rsplit("/", 1)[0] + "/index.html"
