"""What every workload's variational-loop stage shares: where its checkpoint lives, how another
run's loop is continued (``resume_from``), the loop built with the policy's loop rules
(defer threshold, checkpoint cadence, depth limit), and the stage held in one process
(``held_loop_stage``). The workloads differ only in their problem."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from include.store.artifacts import ArtifactRef, ArtifactStore
from include.store.checkpoint import LoopCheckpoint


def checkpoint_uri(store: ArtifactStore, prefix: str, stage: str = "optimise") -> str:
    return store.uri(f"{prefix.strip('/')}/{stage}/checkpoint.json")


def open_checkpoint(store: ArtifactStore, prefix: str, stage: str, identity: Mapping[str, Any]) -> LoopCheckpoint[Any]:
    """This run's checkpoint of ``stage``'s loop, loaded where it is the same loop (``identity``)."""
    from include.quantum.loops.engine import Evaluation

    checkpoint = LoopCheckpoint(store, checkpoint_uri(store, prefix, stage), dict(identity), Evaluation)
    checkpoint.load()
    return checkpoint


def resume_checkpoint(
    store: ArtifactStore,
    checkpoint: LoopCheckpoint[Any],
    old_prefix: str,
    stage: str,
    error: type[Exception],
) -> ArtifactRef:
    """Continue another run's loop (``resume_from``): copy its evaluations into this run's checkpoint;
    the reference (its stored artifact, else its checkpoint object) that goes into the lineage."""
    from include.quantum.loops.engine import Evaluation

    source = LoopCheckpoint(store, checkpoint_uri(store, old_prefix, stage), checkpoint.settings, Evaluation)
    saved = source.saved_settings()
    if saved is None:
        raise error(f"resume_from: {old_prefix} has no {stage} checkpoint; give the run id of a run whose loop ran")
    if not source.load():
        raise error(
            f"resume_from: {old_prefix}'s loop is a different loop ({saved}) than this run's ({checkpoint.settings}); "
            "continue it with the same problem, optimiser and seed"
        )
    checkpoint.history = list(source.history)
    checkpoint.save()
    artifact_uri = store.uri(f"{old_prefix.strip('/')}/{stage}/data.parquet")
    if store.exists(artifact_uri.rsplit("/", 1)[0] + "/manifest.json"):
        manifest = store.read_manifest(artifact_uri)
        return ArtifactRef(
            artifact_uri, str(manifest["artifact"]["sha256"]), artifact_uri.rsplit("/", 1)[0] + "/manifest.json"
        )
    return store.source_ref(source.uri)


def policy_loop(
    store: ArtifactStore,
    problem: Any,
    checkpoint: LoopCheckpoint[Any],
    *,
    protocol: Any,
    optimiser: str,
    max_iterations: int,
    shots: int,
    seed: int,
    run: list[Any],
    dataset_version: str,
    allow_deferral: bool = True,
) -> Any:
    """``problem``'s loop on ``protocol``'s backend under the policy's loop rules, transpiling
    through the store's transpile cache."""
    from include.governance.policy import load_policy
    from include.quantum.backends.preflight import PreflightLimits
    from include.quantum.loops.engine import LoopSettings, VariationalLoop
    from include.quantum.transpile_cache import TranspileCache

    loops = load_policy().loops
    settings = LoopSettings(
        optimiser,
        max_iterations,
        shots,
        seed,
        defer_threshold_seconds=loops.defer_when_wait_exceeds_seconds,
        flush_seconds=loops.checkpoint_every_seconds,
    )
    return VariationalLoop(
        problem,
        protocol,
        checkpoint,
        settings,
        run=run,
        dataset_version=dataset_version,
        transpile_cache=TranspileCache(store),
        limits=PreflightLimits(max_depth=loops.max_depth),
        allow_deferral=allow_deferral,
    )


def held_loop_stage(
    store: ArtifactStore,
    prefix: str,
    inputs: Sequence[ArtifactRef],
    params: Any,
    build: Callable[..., tuple[Any, list[ArtifactRef]]],
    store_loop: Callable[..., ArtifactRef],
    *,
    run: list[Any],
    protocol: Any = None,
) -> ArtifactRef:
    """A workload's loop stage held in this process on ``params.loop_backend`` (the plain-Python
    path: ``run_pipeline``, tests). ``build`` and ``store_loop`` are the two functions the Airflow
    loop operator names (``VariationalLoopOperator.loop_stage``), so both paths run the same loop;
    the operator's defers between evaluations where the backend queues. Every evaluation is
    checkpointed; a rerun resumes from the checkpoint."""
    import logging
    import time

    from include.quantum.backends.registry import make_backend
    from include.quantum.loops.engine import run_held
    from include.quantum.submission import idempotency_key, local_protocol

    started = time.perf_counter()
    if protocol is None:
        from include.quantum.backends.jobservice import default_url

        url = default_url() if params.loop_backend.startswith("jobservice") else None
        protocol = local_protocol(make_backend(params.loop_backend, seed=params.seed, url=url))
    loop, lineage = build(store, prefix, *inputs, params, protocol=protocol, run=run, allow_deferral=False)
    if loop.checkpoint.history:
        logging.getLogger(__name__).info(
            "%s: resuming from checkpoint after %d evaluation(s)", run[2], len(loop.checkpoint.history)
        )
    run_held(loop, idempotency_key("loop", None, params.shots, loop.backend.name, [*run, "loop"]))
    return store_loop(store, prefix, params, loop, lineage, seconds=time.perf_counter() - started)
