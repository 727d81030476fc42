"""The nightly DAG's tasks as functions over the store: each reads its inputs by reference, stores
what it produces, and returns artifact references only.

XCom carries ``{uri, sha256, manifest_uri}`` refs (or lists of them, for dynamic task mapping),
as every other qflow DAG does: the grid, the instance groups, the prepared records, the plan, each
batch, each batch's outcome and the collected night are JSON *documents* stored as artifacts
under ``<night>/handoff/`` — a one-row table pinning the document's hash, with the document as
its ``document.json`` attachment, so a reader verifies both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from include.benchmark.collect import collect_night
from include.benchmark.grid import SweepGrid, night_prefix_for
from include.benchmark.instances import group_by_content, instance_specs, prepare_group
from include.benchmark.plan import plan_night
from include.store.artifacts import ArtifactRef, ArtifactStore, TamperedArtifactError, canonical_json, sha256_hex

DOCUMENT = "document.json"
Ref = dict[str, str | None]


def put_document(
    store: ArtifactStore, prefix: str, name: str, value: Any, *, stage: str, inputs: Sequence[ArtifactRef] = ()
) -> Ref:
    """Store a JSON-safe ``value`` as an artifact; returns its ref (what goes into XCom)."""
    data = canonical_json(value)
    pin = pd.DataFrame({"document": [DOCUMENT], "sha256": [sha256_hex(data)], "bytes": [len(data)]})
    return store.put_table(prefix, name, pin, stage=stage, inputs=inputs, attachments={DOCUMENT: data}).to_xcom()


def read_document(store: ArtifactStore, ref: Mapping[str, Any]) -> Any:
    """The document behind a ref, verified against the ref's pinned hash and the manifest."""
    artifact = ArtifactRef.from_xcom(ref)
    pinned = str(store.read_table(artifact)["sha256"].iloc[0])
    data = store.read_attachment(artifact, DOCUMENT)
    if sha256_hex(data) != pinned:
        raise TamperedArtifactError(f"{artifact.uri}: {DOCUMENT} does not match the hash its table pins")
    return json.loads(data)


def _handoff(night: str) -> str:
    return f"{night_prefix_for(night)}/handoff"


def grid_task(store: ArtifactStore, night: str, params: Mapping[str, Any]) -> Ref:
    """Validate the Params, list the instances (grouped by content) and the impossible ones."""
    from include.benchmark.workloads import workload, workload_names

    grid = SweepGrid.from_params(params)
    specs, skipped = instance_specs(grid)
    content_groups = group_by_content(specs)
    for name in workload_names():  # every other workload: one group (one prepare task) per instance
        more, more_skipped = workload(name).instance_specs(grid)
        content_groups.extend([spec] for spec in more)
        skipped.extend(more_skipped)
    groups = [
        put_document(store, _handoff(night), f"group-{index:05d}", group, stage="grid")
        for index, group in enumerate(content_groups)
    ]
    return put_document(
        store, _handoff(night), "grid", {"grid": grid.to_params(), "skipped": skipped, "groups": groups}, stage="grid"
    )


def instance_groups(store: ArtifactStore, grid_ref: Mapping[str, Any]) -> list[Ref]:
    """One ref per distinct graph (the prepare task is mapped over them)."""
    return list(read_document(store, grid_ref)["groups"])


def prepare_task(store: ArtifactStore, night: str, group_ref: Mapping[str, Any], grid_ref: Mapping[str, Any]) -> Ref:
    from include.benchmark.workloads import MAXCUT, workload, workload_of

    settings = read_document(store, grid_ref)["grid"]
    group = read_document(store, group_ref)
    if group and workload_of(group[0]) != MAXCUT:
        entry, grid = workload(workload_of(group[0])), SweepGrid.from_params(settings)
        records = [entry.prepare(store, spec, grid) for spec in group]
    else:
        records = prepare_group(store, group, settings["reps"], angle_evaluations=settings["angle_evaluations"])
    name = f"prepared-{str(group_ref['sha256'])[:16]}"
    return put_document(
        store, _handoff(night), name, records, stage="prepare", inputs=[ArtifactRef.from_xcom(group_ref)]
    )


def _prepared(store: ArtifactStore, prepared_refs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [record for ref in prepared_refs for record in read_document(store, ref)]


def plan_task(
    store: ArtifactStore,
    night: str,
    grid_ref: Mapping[str, Any],
    prepared_refs: Sequence[Mapping[str, Any]],
    *,
    jobservice_url: str | None,
) -> Ref:
    """Plan the night; every batch becomes its own document, the plan holds their refs per pool."""
    grid = read_document(store, grid_ref)
    planned = plan_night(
        store,
        night_prefix_for(night),
        SweepGrid.from_params(grid["grid"]),
        _prepared(store, prepared_refs),
        jobservice_url=jobservice_url,
        skipped=grid["skipped"],
    )
    batches = {
        pool: [put_document(store, _handoff(night), f"batch-{int(b['batch']):05d}", b, stage="plan") for b in members]
        for pool, members in planned["batches"].items()
    }
    return put_document(store, _handoff(night), "plan", {**planned, "batches": batches}, stage="plan")


def pool_batches(store: ArtifactStore, plan_ref: Mapping[str, Any], pool: str) -> list[Ref]:
    """The batch refs one pool runs (a run task is mapped over them)."""
    return list(read_document(store, plan_ref)["batches"].get(pool, []))


def store_outcome(store: ArtifactStore, batch: Mapping[str, Any], outcome: Mapping[str, Any]) -> Ref:
    """A run task's outcome (executed, reused, job id, cost), stored beside its batch."""
    prefix = f"{batch['night_prefix']}/handoff"
    return put_document(store, prefix, f"outcome-{int(batch['batch']):05d}", dict(outcome), stage="run")


def collect_task(
    store: ArtifactStore,
    night: str,
    night_date: str,
    plan_ref: Mapping[str, Any],
    prepared_refs: Sequence[Mapping[str, Any]],
) -> Ref:
    collected = collect_night(
        store,
        night_prefix_for(night),
        night=night,
        night_date=night_date,
        plan=read_document(store, plan_ref),
        prepared=_prepared(store, prepared_refs),
    )
    return put_document(store, _handoff(night), "collected", collected, stage="collect")


def optional_document(store: ArtifactStore, ref: Mapping[str, Any] | None) -> Any:
    """The document, or None when the task that should have produced the ref failed."""
    return read_document(store, ref) if ref else None
