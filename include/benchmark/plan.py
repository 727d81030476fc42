"""The night's plan: every quantum experiment keyed by the content hash of what would run.

An *experiment* samples the QAOA circuit of one instance at its prepared angles on one backend,
with one noise model and one shot count. Its key is the content hash of what would run: circuit
structure, parameter values, shots, backend, effective noise and the device calibration. A key
runs once: duplicates in the grid and results already in the store (from earlier nights) are
reused. What does run is cut into batches: one job per (backend, noise, shots) and chunk of
circuits, cheapest first.

Other workloads (``include.benchmark.workloads``: the classifier) are planned through their entry:
its experiments per prepared instance, its key and its backend rules, over the same backends and
noise models, with the same skip rules, dedup and batches (one training loop per batch task).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from include.benchmark.grid import IDEAL, IDEAL_ONLY_BACKENDS, MAX_SWEEP_NODES, SWEEP_VERSION, SweepGrid, sweep_root
from include.benchmark.instances import stored_record
from include.benchmark.schema import NOT_RUN_COLUMNS, SKIPPED_COLUMNS, empty_frame, skipped_row
from include.store.artifacts import ArtifactRef, ArtifactStore, canonical_json, sha256_hex

TRANSPILE = {"optimization_level": 1, "seed_transpiler": 7}


@dataclass(frozen=True)
class BackendIdentity:
    """What a (backend, noise) pair of the grid runs as: a registry spec, the noise that really
    applies, and the device calibration (both in the experiment key), or why it cannot run:
    ``skip_reason`` when the combination cannot exist (the service emulates another device, a
    device too small), ``unreachable`` when the configured backend could not be asked at all —
    its experiments were planned and are *not run*, which fails the night."""

    backend: str
    noise: str
    spec: str = ""
    effective_noise: str = ""
    calibration: str = ""
    max_qubits: int = MAX_SWEEP_NODES
    pool: str = ""
    skip_reason: str = ""
    unreachable: str = ""


def backend_identity(backend: str, noise: str, *, jobservice_url: str | None) -> BackendIdentity:
    from include.quantum.backends.registry import backend_profile, make_backend
    from include.quantum.backends.results import calibration_hash

    if backend == "jobservice":
        try:
            service = make_backend("jobservice", url=jobservice_url)
            info = service.backend_info()  # type: ignore[attr-defined]
        except Exception as exc:  # its experiments are not run (and the verdict says so), never "skipped"
            where = jobservice_url or "QFLOW_JOBSERVICE_URL"
            return BackendIdentity(
                backend, noise, unreachable=f"job service unreachable at {where} ({type(exc).__name__}: {exc})"
            )
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
            backend, noise, f"jobservice:{device}", effective, calibration, qubits, backend_profile(backend).pool
        )
    if backend in IDEAL_ONLY_BACKENDS:
        if noise != IDEAL:
            return BackendIdentity(backend, noise, skip_reason=IDEAL_ONLY_BACKENDS[backend])
        instance = make_backend(backend)
        return BackendIdentity(
            backend,
            noise,
            backend,
            IDEAL,
            calibration_hash(instance.calibration_snapshot()),
            min(MAX_SWEEP_NODES, int(instance.target().num_qubits)),
            backend_profile(backend).pool,
        )
    method = backend.partition(":")[2]
    spec = backend if noise == IDEAL else f"aer:{method or 'automatic'}:{noise}"
    instance = make_backend(spec)
    max_qubits = MAX_SWEEP_NODES if noise == IDEAL else int(instance.target().num_qubits)
    return BackendIdentity(
        backend,
        noise,
        spec,
        noise,
        calibration_hash(instance.calibration_snapshot()),
        max_qubits,
        backend_profile(spec).pool,
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
    "workload": "string",  # maxcut | an entry of include.benchmark.workloads
    "instance_hash": "string",
    "family": "string",
    "n_nodes": "int64",
    "seed": "int64",
    "backend": "string",
    "noise": "string",
    "spec": "string",
    "shots": "int64",
    "reps": "int64",
    "variant": "string",  # the workload's configuration beyond reps ("" for MaxCut)
    "parameters": "string",  # MaxCut: JSON list γ[0..p-1] then β[0..p-1]
    "config": "string",  # other workloads: their experiment's settings (JSON)
    "angle_seconds": "float64",
    "graph_uri": "string",  # MaxCut's graph ("" for other workloads: their inputs are in config)
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

    Writes ``<night>/plan`` (one row per quantum experiment), ``<night>/skipped`` (combinations that
    cannot run) and ``<night>/unreachable`` (experiments on a configured backend that could not be
    reached: not run, and they fail the night); returns their refs and the batches."""
    identity_of = identity_of or (lambda b, n: backend_identity(b, n, jobservice_url=jobservice_url))
    identities = {(b, n): identity_of(b, n) for b in dict.fromkeys(grid.backends) for n in dict.fromkeys(grid.noise)}
    stored = existing_result_prefixes(store) if grid.deduplicate else set()
    rows: list[dict[str, Any]] = []
    skips = [dict(s) for s in skipped]
    unreachable: list[dict[str, Any]] = []  # planned on a configured backend nobody could reach
    from include.benchmark.workloads import MAXCUT, workload, workload_of

    def placeable(identity: BackendIdentity, family: str, n_qubits: int, seed: int, extra: str = "") -> bool:
        """Whether an experiment of this size can run on the identity; records why not (skipped,
        or unreachable: planned, not run)."""
        backend, noise = identity.backend, identity.noise
        if extra:  # the workload cannot run there at all, reachable or not
            skips.append(skipped_row(family, n_qubits, seed, backend, noise, extra))
            return False
        if identity.unreachable:
            # The key is unknown: it needs the device's calibration.
            row = skipped_row(family, n_qubits, seed, backend, noise, identity.unreachable)
            unreachable.append({**row, "experiment_key": ""})
            return False
        reason = identity.skip_reason
        noisy = identity.effective_noise not in ("", IDEAL)
        if not reason and noisy and n_qubits > grid.noise_max_nodes:
            reason = f"noisy simulation above noise_max_nodes={grid.noise_max_nodes}"
        if not reason and n_qubits > identity.max_qubits:
            reason = f"{n_qubits} qubits do not fit the {identity.max_qubits}-qubit device"
        if reason:
            skips.append(skipped_row(family, n_qubits, seed, backend, noise, reason))
        return not reason

    maxcut = [r for r in prepared if workload_of(r) == MAXCUT]
    by_family_size = sorted(maxcut, key=lambda r: (int(r["n_nodes"]), str(r["family"]), int(r["seed"])))
    for record in by_family_size:
        n_nodes = int(record["n_nodes"])
        for reps in grid.reps:
            angles = record["angles"][str(reps)]
            for shots in grid.shots:
                for backend in grid.backends:
                    for noise in grid.noise:
                        identity = identities[(backend, noise)]
                        if not placeable(identity, record["family"], n_nodes, int(record["seed"])):
                            continue
                        noisy = identity.effective_noise not in ("", IDEAL)
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
                                "workload": MAXCUT,
                                "instance_hash": record["instance_hash"],
                                "family": record["family"],
                                "n_nodes": n_nodes,
                                "seed": int(record["seed"]),
                                "backend": backend,
                                "noise": identity.effective_noise,
                                "spec": identity.spec,
                                "shots": int(shots),
                                "reps": int(reps),
                                "variant": "",
                                "parameters": json.dumps(angles["parameters"]),
                                "config": "{}",
                                "angle_seconds": float(angles["seconds"]),
                                "graph_uri": record["graph"]["uri"],
                                "graph_sha256": record["graph"]["sha256"],
                                "optimum": float(record["optimum"]),
                                "pool": identity.pool,
                                "estimated_cost": estimated_cost(n_nodes, int(reps), int(shots), noisy),
                            }
                        )
    # Every other workload through its entry: its experiments, keys and skips, the same backends,
    # noise rules, dedup and batching.
    others = [r for r in prepared if workload_of(r) != MAXCUT]
    for record in sorted(others, key=lambda r: (workload_of(r), str(r["family"]), int(r["seed"]))):
        entry = workload(workload_of(record))
        for experiment in entry.experiments(record, grid):
            for backend in grid.backends:
                for noise in grid.noise:
                    identity = identities[(backend, noise)]
                    extra = entry.backend_skip(identity)
                    if not placeable(identity, record["family"], experiment.n_qubits, int(record["seed"]), extra):
                        continue
                    noisy = identity.effective_noise not in ("", IDEAL)
                    rows.append(
                        {
                            "experiment_id": len(rows),
                            "experiment_key": entry.experiment_key(record, experiment, identity),
                            "workload": entry.name,
                            "instance_hash": record["instance_hash"],
                            "family": record["family"],
                            "n_nodes": experiment.n_qubits,
                            "seed": int(record["seed"]),
                            "backend": backend,
                            "noise": identity.effective_noise,
                            "spec": identity.spec,
                            "shots": experiment.shots,
                            "reps": experiment.reps,
                            "variant": experiment.variant,
                            "parameters": "[]",
                            "config": json.dumps(experiment.config, sort_keys=True),
                            "angle_seconds": 0.0,
                            "graph_uri": "",
                            "graph_sha256": "",
                            "optimum": float("nan"),
                            "pool": identity.pool,
                            "estimated_cost": experiment.estimated_cost * (50.0 if noisy else 1.0),
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
    batches = cut_batches(rows, grid.max_pubs_per_job)
    plan = pd.DataFrame(rows, columns=list(PLAN_COLUMNS)).astype(PLAN_COLUMNS) if rows else empty_frame(PLAN_COLUMNS)
    plan_ref = store.put_table(
        night_prefix,
        "plan",
        plan,
        stage="plan",
        inputs=[
            ArtifactRef(
                r["prepared_uri"], r.get("prepared_sha256") or sha256_hex(canonical_json(stored_record(r))), None
            )
            for r in prepared
        ],
        params={"grid": grid.to_params()},
    )
    skipped_frame = pd.DataFrame(skips, columns=list(SKIPPED_COLUMNS)).astype({"n_nodes": "int64", "seed": "int64"})
    skipped_ref = store.put_table(night_prefix, "skipped", skipped_frame, stage="plan", inputs=[plan_ref])
    not_run_frame = pd.DataFrame(unreachable, columns=list(NOT_RUN_COLUMNS)).astype(
        {"n_nodes": "int64", "seed": "int64"}
    )
    not_run_ref = store.put_table(night_prefix, "unreachable", not_run_frame, stage="plan", inputs=[plan_ref])
    counts = plan["status"].value_counts().to_dict() if len(plan) else {}
    pools: dict[str, list[dict[str, Any]]] = {}
    for batch in batches:
        pools.setdefault(batch["pool"], []).append({**batch, "plan": plan_ref.to_xcom(), "night_prefix": night_prefix})
    return {
        "plan": plan_ref.to_xcom(),
        "skipped": skipped_ref.to_xcom(),
        "not_run": not_run_ref.to_xcom(),
        "batches": pools,
        "experiments": len(plan),
        "to_run": int(counts.get("run", 0)),
        "duplicates": int(counts.get("duplicate", 0)),
        "reused": int(counts.get("reused", 0)),
        "skipped_count": len(skipped_frame),
        "not_run_count": len(not_run_frame),
    }


def cut_batches(rows: list[dict[str, Any]], max_pubs: int) -> list[dict[str, Any]]:
    """Rows that run → jobs of up to ``max_pubs`` circuits sharing (spec, shots), cheapest first."""
    from include.benchmark.workloads import MAXCUT, workload

    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for row in rows:
        row["batch"] = -1
        if row["status"] == "run":
            groups.setdefault((row["workload"], row["spec"], row["shots"]), []).append(row)
    chunks: list[list[dict[str, Any]]] = []
    for (name, _, _), members in groups.items():
        members.sort(key=lambda r: (r["estimated_cost"], r["experiment_id"]))
        # MaxCut: circuits per job; another workload: its experiments per batch task (a training loop each).
        size = max_pubs if name == MAXCUT else workload(name).experiments_per_batch
        chunks.extend(members[start : start + size] for start in range(0, len(members), size))
    # Cheap, informative work first: mapped task instances start in map-index order.
    chunks.sort(key=lambda c: (max(int(r["n_nodes"]) for r in c), sum(r["estimated_cost"] for r in c)))
    batches: list[dict[str, Any]] = []
    for number, chunk in enumerate(chunks):
        for row in chunk:
            row["batch"] = number
        batches.append(
            {
                "batch": number,
                "workload": chunk[0]["workload"],
                "spec": chunk[0]["spec"],
                "shots": chunk[0]["shots"],
                "pool": chunk[0]["pool"],
                "experiment_ids": [r["experiment_id"] for r in chunk],
                "estimated_cost": float(sum(r["estimated_cost"] for r in chunk)),
                "max_nodes": max(int(r["n_nodes"]) for r in chunk),
            }
        )
    return batches
