"""The QAOA MaxCut workflow as stage functions over the artifact store.

Each stage reads its inputs by reference (verifying hashes), does its work with the pure core,
and writes one artifact with a manifest. The Airflow operators call exactly these functions, and
``run_pipeline`` chains them in one process (the baseline for the orchestration benchmark).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from include.params import params_from_mapping
from include.problems.baselines import COMPETITORS, HEURISTICS, random_sampling, run_baselines
from include.problems.maxcut import (
    GRAPH_KINDS,
    WEIGHT_KINDS,
    GraphSpec,
    ProblemSpecError,
    canonical_edges,
    cut_statistics,
    make_graph,
)
from include.quantum.backends.errors import QuantumError
from include.quantum.backends.registry import backend_profile
from include.quantum.loops.optimiser import OPTIMISERS
from include.store.artifacts import ArtifactError, ArtifactRef, ArtifactStore, read_parquet_bytes

MAX_QUBITS = 24  # statevector sampling on this machine stays interactive up to here


@dataclass(frozen=True)
class QAOAMaxCutParams:
    """The run's parameters (the DAG's Params form). ``from_mapping`` names any bad field."""

    n_nodes: int = 10
    graph_kind: str = "regular"
    degree: int = 3
    weights: str = "unit"
    seed: int = 7
    reps: int = 2
    shots: int = 1024
    optimiser: str = "COBYLA"
    max_iterations: int = 60
    edge_list_uri: str = ""  # empty: generate a seeded graph; else an edge-list Parquet in S3
    backend: str = "aer"  # where the optimum is finally sampled (include.quantum.backends.registry spec)
    loop_backend: str = "aer"  # where every evaluation of the optimiser loop runs (a registry spec)
    resume_from: str = ""  # a run id whose loop this run continues (on this run's loop_backend)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> QAOAMaxCutParams:
        return params_from_mapping(cls, values, ProblemSpecError)

    def check(self) -> None:
        if not 2 <= self.n_nodes <= MAX_QUBITS:
            raise ProblemSpecError(f"n_nodes={self.n_nodes}: set 2 <= n_nodes <= {MAX_QUBITS} (one qubit per node)")
        if self.graph_kind not in GRAPH_KINDS:
            raise ProblemSpecError(f"graph_kind={self.graph_kind!r} is not one of {GRAPH_KINDS}")
        if self.weights not in WEIGHT_KINDS:
            raise ProblemSpecError(f"weights={self.weights!r} is not one of {WEIGHT_KINDS}")
        if self.reps < 1:
            raise ProblemSpecError(f"reps={self.reps}: QAOA needs at least one layer; set reps >= 1")
        if self.shots < 1:
            raise ProblemSpecError(f"shots={self.shots}: set shots >= 1")
        if self.optimiser not in OPTIMISERS:
            raise ProblemSpecError(f"optimiser={self.optimiser!r} is not one of {OPTIMISERS}")
        if self.max_iterations < 1:
            raise ProblemSpecError(f"max_iterations={self.max_iterations}: set max_iterations >= 1")
        for name in ("backend", "loop_backend"):
            try:
                backend_profile(getattr(self, name))
            except QuantumError as exc:
                raise ProblemSpecError(f"{name}={getattr(self, name)!r}: {exc}") from exc
        if self.edge_list_uri and not self.edge_list_uri.startswith("s3://"):
            raise ProblemSpecError(
                f"edge_list_uri={self.edge_list_uri!r} must be an s3://bucket/key URI of a Parquet edge list"
            )

    def graph_spec(self) -> GraphSpec:
        return GraphSpec(self.n_nodes, self.graph_kind, self.degree, self.weights, self.seed)


def graph_n_nodes(store: ArtifactStore, graph: ArtifactRef) -> int:
    return int(store.read_manifest(graph.uri)["params"]["n_nodes"])


def stage_graph(store: ArtifactStore, prefix: str, params: QAOAMaxCutParams) -> ArtifactRef:
    """Make the seeded graph, or load (and canonicalise) a user's edge-list Parquet from S3."""
    started = time.perf_counter()
    if params.edge_list_uri:
        source = store.source_ref(params.edge_list_uri)
        try:
            raw = read_parquet_bytes(store.get_bytes(source.uri))
        except ArtifactError:
            raise  # missing object: its own message names the URI
        except Exception as exc:  # pyarrow raises many kinds for a non-Parquet object
            raise ProblemSpecError(
                f"edge_list_uri={params.edge_list_uri!r} is not a readable Parquet file: {exc}"
            ) from exc
        edges, inputs = canonical_edges(raw), [source]
        graph_params: dict[str, Any] = {"n_nodes": params.n_nodes, "source": "edge_list"}
    else:
        edges, inputs = make_graph(params.graph_spec()), []
        graph_params = {"source": "generated", **asdict(params.graph_spec())}
        graph_params.pop("seed")
    return store.put_table(
        prefix,
        "graph",
        edges,
        stage="graph",
        inputs=inputs,
        params=graph_params,
        seeds={"graph": params.seed} if not params.edge_list_uri else {},
        measurements={"seconds": time.perf_counter() - started},
    )


def stage_validate(store: ArtifactStore, prefix: str, graph: ArtifactRef) -> ArtifactRef:
    """Run the GX graph suite; store its report, then stop the run if anything failed."""
    from include.data.validation import validate_graph

    started = time.perf_counter()
    n_nodes = graph_n_nodes(store, graph)
    report = validate_graph(store.read_table(graph), n_nodes)
    ref = store.put_table(
        prefix,
        "validation",
        report.frame(),
        stage="validate",
        inputs=[graph],
        params={"suite": report.suite, "n_nodes": n_nodes},
        measurements={"seconds": time.perf_counter() - started, "success": report.success},
    )
    report.raise_for_failures()
    return ref


def _require_passed(store: ArtifactStore, validation: ArtifactRef) -> None:
    manifest = store.read_manifest(validation.uri)
    if manifest["stage"] != "validate" or not manifest["measurements"].get("success"):
        raise ProblemSpecError(
            f"{validation.uri} is not a passed validation; quantum stages only take validated inputs"
        )


def stage_encode(
    store: ArtifactStore, prefix: str, graph: ArtifactRef, validation: ArtifactRef, reps: int
) -> ArtifactRef:
    """MaxCut → Ising SparsePauliOp (stored as its terms) → QAOA ansatz (stored as QPY)."""
    import io

    from qiskit import qpy

    from include.problems.maxcut import maxcut_ising
    from include.quantum.circuits.qaoa import qaoa_ansatz

    _require_passed(store, validation)
    started = time.perf_counter()
    n_nodes = graph_n_nodes(store, graph)
    cost, offset = maxcut_ising(store.read_table(graph), n_nodes)
    ansatz = qaoa_ansatz(cost, reps)
    buffer = io.BytesIO()
    qpy.dump(ansatz, buffer)
    terms = pd.DataFrame(
        {"pauli": cost.paulis.to_labels(), "coefficient": [float(c.real) for c in cost.coeffs]}
    ).sort_values("pauli", kind="mergesort", ignore_index=True)
    return store.put_table(
        prefix,
        "encode",
        terms,
        stage="encode",
        inputs=[graph, validation],
        params={
            "encoding": "maxcut_ising",
            "ansatz": "qaoa",
            "reps": reps,
            "n_qubits": n_nodes,
            "offset": offset,
            "circuit_depth": ansatz.depth(),
            "parameters": [p.name for p in ansatz.parameters],
        },
        attachments={"ansatz.qpy": buffer.getvalue()},
        measurements={"seconds": time.perf_counter() - started},
    )


def loop_identity(graph: ArtifactRef, encoding: ArtifactRef, params: QAOAMaxCutParams) -> dict[str, Any]:
    """What makes two loops the same loop (a checkpoint resumes only its own): the problem's inputs,
    the optimiser and its seed — not the backend, the shots or the budget, which may change when a
    loop is continued elsewhere (``resume_from``)."""
    return {
        "kind": "qaoa_maxcut",
        "optimiser": params.optimiser,
        "seed": params.seed,
        "inputs": [graph.sha256, encoding.sha256],
    }


def qaoa_loop(
    store: ArtifactStore,
    prefix: str,
    graph: ArtifactRef,
    encoding: ArtifactRef,
    params: QAOAMaxCutParams,
    *,
    protocol: Any,
    run: list[Any],
    allow_deferral: bool = True,
) -> tuple[Any, list[ArtifactRef]]:
    """The QAOA loop of this run on ``protocol``'s backend, with its checkpoint loaded (or, for a
    ``resume_from`` run's first start, the old run's); the loop and its lineage inputs."""
    import io

    from qiskit import qpy

    from include.pipelines.loop_stage import open_checkpoint, policy_loop, resume_checkpoint
    from include.quantum.loops.qaoa import CountsObjective, QAOAProblem

    ansatz = qpy.load(io.BytesIO(store.read_attachment(encoding, "ansatz.qpy")))[0]
    objective = CountsObjective(store.read_table(graph), graph_n_nodes(store, graph))
    checkpoint = open_checkpoint(store, prefix, "optimise", loop_identity(graph, encoding, params))
    inputs = [graph, encoding]
    if params.resume_from:
        from include.store.artifacts import safe_key_part

        old_prefix = f"{prefix.rsplit('/', 1)[0]}/{safe_key_part(params.resume_from)}"
        if old_prefix.strip("/") == prefix.strip("/"):
            raise ProblemSpecError(f"resume_from={params.resume_from!r} is this run; give an earlier run's id")
        if not checkpoint.history and checkpoint.pending is None:
            inputs.append(resume_checkpoint(store, checkpoint, old_prefix, "optimise", ProblemSpecError))
        elif checkpoint.context.get("resumed_from_ref"):
            inputs.append(ArtifactRef.from_xcom(checkpoint.context["resumed_from_ref"]))
        checkpoint.context.setdefault("resumed_from_ref", inputs[-1].to_xcom() if len(inputs) > 2 else None)
    loop = policy_loop(
        store,
        QAOAProblem(ansatz, objective),
        checkpoint,
        protocol=protocol,
        optimiser=params.optimiser,
        max_iterations=params.max_iterations,
        shots=params.shots,
        seed=params.seed,
        run=run,
        dataset_version=graph.sha256,
        allow_deferral=allow_deferral,
    )
    return loop, inputs


def store_optimise(
    store: ArtifactStore,
    prefix: str,
    params: QAOAMaxCutParams,
    loop: Any,
    inputs: list[ArtifactRef],
    *,
    seconds: float,
    worker_seconds: float | None = None,
) -> ArtifactRef:
    """The loop's trace (one row per evaluation: where and how it ran) and its optimum."""
    import io

    from qiskit import qpy

    from include.quantum.loops.engine import evaluation_dicts
    from include.quantum.loops.qaoa import QAOAResult

    outcome = loop.outcome()
    result = QAOAResult.from_outcome(outcome)
    if not result.evaluations:
        raise ProblemSpecError("the QAOA loop ran no evaluation; raise max_iterations")
    compute_seconds = result.transpile_seconds + sum(e.seconds for e in result.evaluations if e.mode == "held")
    isa = io.BytesIO()
    qpy.dump(outcome.isa[0], isa)
    modes = {m: sum(1 for e in result.evaluations if e.mode == m) for m in ("held", "deferred")}
    return store.put_table(
        prefix,
        "optimise",
        result.trace_frame(),
        stage="optimise",
        inputs=inputs,
        params={
            "backend": loop.backend.name,
            "backends": outcome.by_backend(),  # which evaluations ran where (a moved loop has several)
            "transpiler": {"optimization_level": 1, "seed_transpiler": params.seed},
            "target_fingerprint": result.evaluations[-1].target_fingerprint,
            "optimiser": params.optimiser,
            "max_iterations": params.max_iterations,
            "shots": params.shots,
            "best_parameters": result.best_parameters,
            "best_bitstring": result.best_bitstring,
            "best_cut": result.best_cut,
            "expected_cut": result.expected_cut,
            "best_energy": result.best_energy,
            "resume_from": params.resume_from or None,
            "evaluation_modes": modes,
        },
        seeds={"simulator": params.seed, "transpiler": params.seed},
        attachments={"isa_circuit.qpy": isa.getvalue()},
        measurements={
            # Every evaluation's state as the orchestrator owns it (provider job id, mode, run id,
            # target fingerprint, measurement layout...): execution detail, not hashed content.
            "evaluations": evaluation_dicts(result.evaluations),
            "seconds": seconds,
            "transpile_seconds": result.transpile_seconds,
            "execute_seconds": result.execute_seconds,
            "transpile_count": result.transpile_count,
            "iterations": len(result.iterations),
            "resumed_from_iteration": loop.resumed_from,
            "loop_seconds": seconds,
            "compute_seconds": compute_seconds,
            "io_seconds": max(seconds - compute_seconds, 0.0),
            "worker_seconds": worker_seconds,
            "checkpoint_writes": outcome.checkpoint_writes,
            # Every evaluation's shots: the budget the random-sampling baseline gets.
            "total_shots": params.shots * len(result.iterations),
        },
    )


def stage_optimise(
    store: ArtifactStore,
    prefix: str,
    graph: ArtifactRef,
    encoding: ArtifactRef,
    params: QAOAMaxCutParams,
    *,
    protocol: Any = None,
    run: list[Any] | None = None,
) -> ArtifactRef:
    """The QAOA control loop held in this process on ``params.loop_backend`` (the plain-Python
    path; the Airflow loop operator runs the same loop and defers between evaluations where the
    backend queues). Every evaluation is checkpointed to S3; a rerun resumes from it."""
    from include.pipelines.loop_stage import held_loop_stage

    run = run or ["qaoa_maxcut", prefix, "optimise", -1]
    return held_loop_stage(
        store, prefix, [graph, encoding], params, qaoa_loop, store_optimise, run=run, protocol=protocol
    )


def stage_baselines(store: ArtifactStore, prefix: str, graph: ArtifactRef, seed: int) -> ArtifactRef:
    started = time.perf_counter()
    results = run_baselines(store.read_table(graph), graph_n_nodes(store, graph), seed)
    table = pd.DataFrame(
        {
            "method": [r.method for r in results],
            "cut": [r.cut for r in results],
            "bitstring": [r.bitstring for r in results],
            "exact": [r.exact for r in results],
            "seconds": [r.seconds for r in results],
        }
    )
    return store.put_table(
        prefix,
        "baselines",
        table,
        stage="baselines",
        inputs=[graph],
        params={"methods": [r.method for r in results]},
        seeds={"baselines": seed},
        measurements={"seconds": time.perf_counter() - started},
        nondeterministic_columns=["seconds"],
    )


def stage_aggregate(
    store: ArtifactStore,
    prefix: str,
    optimise: ArtifactRef,
    baselines: ArtifactRef,
    upstream: Mapping[str, ArtifactRef],
) -> ArtifactRef:
    """Expected and best cut, approximation ratios, quantum value added; a result table and a summary.

    The headline quantum figure is the expected cut (the mean over the final distribution); the
    best sampled bitstring (of every evaluation's samples) comes second, beside uniform random
    sampling with the same total shots (every evaluation's). Quantum value added is QAOA's best sample minus
    the best of the heuristics and random sampling. Times compare compute with compute: the loop's
    own transpile + sampling time against each baseline's run time; the optimise stage's remaining
    wall time is reported as I/O. Returns the summary's reference; the result table is its input.
    """
    started = time.perf_counter()
    qaoa = store.read_manifest(optimise.uri)
    table = store.read_table(baselines)
    baselines_manifest = store.read_manifest(baselines.uri)
    graph_ref = upstream.get("graph") or ArtifactRef.from_xcom(baselines_manifest["inputs"][0])
    edges = store.read_table(graph_ref)
    exact_cut = float(table.loc[table["method"] == "exact", "cut"].iloc[0])
    measured = qaoa["measurements"]
    total_shots = int(measured["total_shots"])
    compute_seconds = float(measured["compute_seconds"])
    io_seconds = float(measured["io_seconds"])
    random = random_sampling(
        edges, graph_n_nodes(store, graph_ref), total_shots, int(baselines_manifest["seeds"]["baselines"])
    )
    rows = pd.concat(
        [
            pd.DataFrame(
                {
                    "method": ["qaoa", random.method],
                    "cut": [float(qaoa["params"]["best_cut"]), random.cut],
                    "expected_cut": [float(qaoa["params"]["expected_cut"]), random.expected_cut],
                    "bitstring": [qaoa["params"]["best_bitstring"], random.bitstring],
                    "exact": [False, False],
                    "shots": [total_shots, total_shots],
                    "seconds": [compute_seconds, random.seconds],
                    "io_seconds": [io_seconds, 0.0],
                }
            ),
            table.assign(expected_cut=table["cut"], shots=0, io_seconds=0.0)[
                ["method", "cut", "expected_cut", "bitstring", "exact", "shots", "seconds", "io_seconds"]
            ],
        ],
        ignore_index=True,
    )
    rows["approximation_ratio"] = rows["cut"] / exact_cut if exact_cut > 0 else float("nan")
    rows["expected_approximation_ratio"] = rows["expected_cut"] / exact_cut if exact_cut > 0 else float("nan")
    result = store.put_table(
        prefix,
        "result",
        rows,
        stage="aggregate",
        inputs=[optimise, baselines],
        params={
            "reference": "exact",
            "seconds": "compute only: QAOA's loop (transpile + sampling); io_seconds is the rest of its stage",
            "random_sampling": {"shots": total_shots, "seed": int(baselines_manifest["seeds"]["baselines"])},
        },
        nondeterministic_columns=["seconds", "io_seconds"],
    )
    qaoa_row = rows.iloc[0]
    heuristics = rows[rows["method"].isin(HEURISTICS)]
    best = heuristics.sort_values(["cut", "seconds"], ascending=[False, True]).iloc[0]
    competitors = rows[rows["method"].isin(COMPETITORS)]
    strongest = competitors.sort_values(["cut", "seconds"], ascending=[False, True]).iloc[0]
    stage_seconds = {
        name: float(store.read_manifest(ref.uri)["measurements"].get("seconds", float("nan")))
        for name, ref in upstream.items()
    }
    stage_seconds["aggregate"] = time.perf_counter() - started
    summary = pd.DataFrame(
        {
            "qaoa_expected_cut": [float(qaoa_row["expected_cut"])],
            "qaoa_cut": [float(qaoa_row["cut"])],
            "qaoa_total_shots": [total_shots],
            "random_expected_cut": [random.expected_cut],
            "random_best_cut": [random.cut],
            "exact_optimum": [exact_cut],
            "expected_approximation_ratio": [float(qaoa_row["expected_approximation_ratio"])],
            "approximation_ratio": [float(qaoa_row["approximation_ratio"])],
            "best_heuristic": [str(best["method"])],
            "best_heuristic_cut": [float(best["cut"])],
            "best_classical": [str(strongest["method"])],
            "best_classical_cut": [float(strongest["cut"])],
            "quantum_value_added": [float(qaoa_row["cut"]) - float(strongest["cut"])],
            "expected_cut_vs_random": [float(qaoa_row["expected_cut"]) - random.expected_cut],
            "qaoa_compute_seconds": [compute_seconds],
            "qaoa_io_seconds": [io_seconds],
            "best_heuristic_seconds": [float(best["seconds"])],
            "compute_ratio_qaoa_vs_best_heuristic": [compute_seconds / max(float(best["seconds"]), 1e-9)],
            "qaoa_iterations": [int(measured["iterations"])],
        }
    )
    if "sample" in upstream:  # final sampling at the optimum on the selected backend
        sample_manifest = store.read_manifest(upstream["sample"].uri)
        sampled = store.read_table(upstream["sample"])
        fallback = sample_manifest["params"].get("fallback", {"tier": 1, "tier_name": "quantum", "reason": ""})
        summary["sample_backend"] = [str(sample_manifest["params"]["backend"])]
        summary["sample_tier"] = [int(fallback["tier"])]
        summary["sample_tier_reason"] = [str(fallback["reason"])]
        if len(sampled):
            counts = sampled.groupby("bitstring")["count"].sum().to_dict()
            stats = cut_statistics({str(k): int(v) for k, v in counts.items()}, edges)
            summary["sample_best_cut"] = [stats.best_cut]
            summary["sample_expected_cut"] = [stats.expected_cut]
        else:  # tier 4: the result is pending
            summary["sample_best_cut"] = [float("nan")]
            summary["sample_expected_cut"] = [float("nan")]
    return store.put_table(
        prefix,
        "summary",
        summary,
        stage="aggregate",
        inputs=[result, *upstream.values()],
        params={"baselines": {**{str(r.method): float(r.cut) for r in table.itertuples()}, random.method: random.cut}},
        measurements={"stage_seconds": stage_seconds, "seconds": stage_seconds["aggregate"]},
        nondeterministic_columns=[
            "qaoa_compute_seconds",
            "qaoa_io_seconds",
            "best_heuristic_seconds",
            "compute_ratio_qaoa_vs_best_heuristic",
        ],
    )


def run_pipeline(store: ArtifactStore, prefix: str, params: QAOAMaxCutParams) -> ArtifactRef:
    """The whole workflow in one process, stage after stage (no orchestrator)."""
    graph = stage_graph(store, prefix, params)
    validation = stage_validate(store, prefix, graph)
    encoding = stage_encode(store, prefix, graph, validation, params.reps)
    optimise = stage_optimise(store, prefix, graph, encoding, params)
    baselines = stage_baselines(store, prefix, graph, params.seed)
    upstream = {
        "graph": graph,
        "validate": validation,
        "encode": encoding,
        "optimise": optimise,
        "baselines": baselines,
    }
    return stage_aggregate(store, prefix, optimise, baselines, upstream)
