"""Running one batch of the plan as one job through the submission protocol, one result per experiment.

``submit_batch`` transpiles through the transpile cache and starts the batch's job through
``include.quantum.submission.SubmissionProtocol``: admitted against the budget, its idempotency key
(the hash of the batch's experiments) claimed in the job ledger, then found or submitted. On a
retry the protocol's rule applies: a provider job that exists (the job service, IBM) is found and
never submitted again; an in-process job (Aer, ``ibm:fake_*``) died with its process and is
submitted again with the same seed (the backend's seed comes from the key), giving the same
counts. The submission (pub order, compile figures) is stored before anyone waits
(``submission_uri``), so a resumed task rebuilds the same job. ``finish_batch`` turns the collected
counts into one stored result per experiment. ``run_batch`` does both and waits in between, in the
backend's batch context (an IBM Batch, closed at the end).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from include.benchmark.plan import TRANSPILE
from include.benchmark.schema import EXPERIMENT_RESULT_COLUMNS, EXPERIMENT_TIMING_COLUMNS, NIGHT_RESULT_DTYPES
from include.problems.maxcut import cut_statistics
from include.store.artifacts import ArtifactRef, ArtifactStore, canonical_json, parquet_bytes, sha256_hex


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
    context_id: str | None = None  # the provider batch context the job ran in (IBM), if any

    def to_json(self) -> bytes:
        return canonical_json(asdict(self))

    @classmethod
    def from_json(cls, data: bytes) -> BatchSubmission:
        return cls(**json.loads(data))


def submission_uri(store: ArtifactStore, batch: Mapping[str, Any]) -> str:
    return store.uri(f"{batch['night_prefix']}/batches/{int(batch['batch']):05d}.json")


def batch_rows(store: ArtifactStore, batch: Mapping[str, Any]) -> pd.DataFrame:
    plan = store.read_table(ArtifactRef.from_xcom(batch["plan"]))
    ids = set(int(i) for i in batch["experiment_ids"])
    return plan[plan["experiment_id"].isin(ids) & (plan["status"] == "run")]


def batch_protocol(backend: Any) -> Any:
    """The protocol outside Airflow: the default ledgers and the policy's environment."""
    from include.quantum.submission import local_protocol

    return local_protocol(backend)


def submit_batch(
    store: ArtifactStore,
    batch: Mapping[str, Any],
    *,
    jobservice_url: str | None = None,
    protocol_for: Callable[[Any], Any] = batch_protocol,
    stored: BatchSubmission | None = None,
) -> tuple[BatchSubmission | None, Any]:
    """Build the batch's circuits (through the transpile cache) and start its one job through the
    protocol (admit → claim → find or submit); (submission, protocol).

    ``stored``: the submission an earlier attempt stored — the same experiments in the same order,
    so the same job is found (or, in process, re-run). Returns (None, None) when every experiment of
    the batch is already stored. ``protocol_for`` builds the protocol for the batch's backend (and may
    open its batch context first: ``run_batch``, ``SweepBatchOperator``); the submission records it."""
    from include.problems.maxcut import maxcut_ising
    from include.quantum.backends.base import SamplerJob, SamplerPub
    from include.quantum.backends.registry import make_backend
    from include.quantum.circuits.qaoa import qaoa_ansatz
    from include.quantum.loops.qaoa_angles import in_circuit_order
    from include.quantum.transpile_cache import TranspileCache, TranspileSettings

    rows = batch_rows(store, batch)
    if stored is not None:  # the job an earlier attempt started: rebuild exactly it
        by_id = {int(r.experiment_id): r for r in rows.itertuples(index=False)}
        pending = [by_id[i] for i in stored.experiment_ids]
        job_key = stored.job_key
    else:
        pending = [
            r for r in rows.itertuples(index=False) if not store.exists(result_manifest_uri(store, r.result_prefix))
        ]
        if not pending:
            return None, None
        keys = sorted(str(r.experiment_key) for r in pending)
        job_key = "sweep:" + sha256_hex("|".join(keys + [str(r.result_prefix) for r in pending]).encode())
    # The seed comes from the key: an in-process job re-run on a retry gives the same counts.
    backend = make_backend(str(batch["spec"]), seed=int(job_key[-8:], 16), url=jobservice_url)
    protocol = protocol_for(backend)
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
    job_id = protocol.start(SamplerJob(pubs, shots, job_key), shots * len(pubs))
    if stored is not None:
        compile_seconds, sources = stored.compile_seconds, stored.transpile_sources
    submission = BatchSubmission(
        batch=int(batch["batch"]),
        spec=str(batch["spec"]),
        job_id=str(job_id),
        job_key=job_key,
        shots=shots,
        experiment_ids=[int(r.experiment_id) for r in pending],
        compile_seconds=compile_seconds,
        transpile_sources=sources,
        already_stored=stored.already_stored if stored is not None else len(rows) - len(pending),
        submitted_at=stored.submitted_at if stored is not None and stored.job_id == str(job_id) else time.time(),
        context_id=getattr(backend, "context_id", None),
    )
    return submission, protocol


def collect_batch(protocol: Any, submission: BatchSubmission) -> tuple[Any, float]:
    """The finished job's result, collected and settled through the protocol; (result, its cost)."""
    raw = protocol.collect(submission.job_key, submission.job_id, submission.shots * len(submission.experiment_ids))
    return raw, float(protocol.settled.get(submission.job_key, 0.0))


def finish_batch(
    store: ArtifactStore,
    batch: Mapping[str, Any],
    submission: BatchSubmission,
    raw: Any,
    *,
    cost: float = 0.0,
    night: str = "",
) -> BatchOutcome:
    """The finished job's counts → one stored result per experiment (pubs in submission order);
    ``cost``: what the job was settled at (``collect_batch``)."""
    rows = batch_rows(store, batch).set_index("experiment_id", drop=False)
    pubs = len(submission.experiment_ids)
    if len(raw.counts) != pubs:
        raise ValueError(f"job {submission.job_id} returned {len(raw.counts)} pubs; the batch submitted {pubs}")
    job_cost = cost
    execute_share = float(raw.timings.get("execute_seconds", 0.0)) / pubs
    graphs: dict[str, pd.DataFrame] = {}
    written = 0
    for index, experiment_id in enumerate(submission.experiment_ids):
        row = rows.loc[experiment_id]
        if store.exists(result_manifest_uri(store, str(row.result_prefix))):
            continue  # a resumed finish: this one was stored before the interruption
        post_started = time.perf_counter()
        if row.graph_uri not in graphs:
            graphs[row.graph_uri] = store.read_table(ArtifactRef(row.graph_uri, row.graph_sha256, None))
        stats = cut_statistics(dict(raw.counts[index][0]), graphs[row.graph_uri])
        objective, expected = stats.best_cut, stats.expected_cut
        optimum = float(row.optimum)
        result = {
            "experiment_key": row.experiment_key,
            "instance_hash": row.instance_hash,
            "workload": "maxcut",
            "family": row.family,
            "n_nodes": int(row.n_nodes),
            "seed": int(row.seed),
            "method": "qaoa",
            "variant": "",
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
        counts_frame = pd.DataFrame(
            {"bitstring": stats.bitstrings, "count": stats.counts.astype("int64"), "cut": stats.cuts}
        )
        put_result(
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
    protocol_for: Callable[[Any], Any] = batch_protocol,
    night: str = "",
) -> BatchOutcome:
    """Run a batch as one job through the protocol, held (this process waits), in the backend's
    batch context (an IBM Batch; nothing elsewhere), closed however this ends; one result per
    experiment. The path of in-process simulators and of code without a triggerer; the DAG's
    ``SweepBatchOperator`` starts the same way and defers the wait on queued providers.
    Idempotent: experiments already stored are not run again."""
    opened: list[Any] = []

    def in_batch_context(backend: Any) -> Any:
        opened.append(backend)
        backend.open_context("batch")
        return protocol_for(backend)

    try:
        from include.benchmark.workloads import MAXCUT, run_workload_batch, workload_of

        if workload_of(batch) != MAXCUT:  # its experiments held here, each through the protocol
            return run_workload_batch(store, batch, protocol_for=in_batch_context, night=night)
        submission, protocol = submit_batch(store, batch, jobservice_url=jobservice_url, protocol_for=in_batch_context)
        if submission is None:
            return BatchOutcome(int(batch["batch"]), str(batch["spec"]), already_stored=len(batch["experiment_ids"]))
        protocol.wait(submission.job_id)
        raw, cost = collect_batch(protocol, submission)
    finally:
        for backend in opened:
            backend.close_context()
    return finish_batch(store, batch, submission, raw, cost=cost, night=night)


def result_manifest_uri(store: ArtifactStore, result_prefix: str) -> str:
    return store.uri(f"{result_prefix}/result/manifest.json")


def put_result(
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
    row["time_to_solution_seconds"] = float(sum(row[c] for c in EXPERIMENT_TIMING_COLUMNS))
    frame = pd.DataFrame([row], columns=list(EXPERIMENT_RESULT_COLUMNS)).astype(
        {c: NIGHT_RESULT_DTYPES[c] for c in EXPERIMENT_RESULT_COLUMNS}
    )
    return store.put_table(
        result_prefix,
        "result",
        frame,
        stage="experiment",
        inputs=inputs,
        params=params,
        measurements=measurements,
        attachments=attachments,
        nondeterministic_columns=[*EXPERIMENT_TIMING_COLUMNS, "time_to_solution_seconds"],
    )
