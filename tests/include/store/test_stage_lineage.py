"""A task's lineage for lineage tools (``include.store.lineage.stage_lineage``) from the manifests its
stages wrote to the real local SeaweedFS: outputs in order, inputs less its own outputs, and what a
quantum stage ran on."""

from __future__ import annotations

import pandas as pd

from include.store.artifacts import ArtifactStore, parquet_bytes
from include.store.lineage import stage_lineage, walk


def frame(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n))})


def test_a_task_that_writes_a_result_then_its_summary_reports_both_and_only_outside_inputs(
    store: ArtifactStore, prefix: str
) -> None:
    raw_uri = store.uri(f"{prefix}/raw.parquet")
    store.put_bytes(raw_uri, parquet_bytes(frame()))
    source = store.source_ref(raw_uri)
    upstream = ArtifactStore(store.client, store.bucket)  # another task's store
    graph = upstream.put_table(prefix, "graph", frame(), stage="graph", inputs=[source])
    result = store.put_table(prefix, "result", frame(), stage="aggregate", inputs=[graph, source])
    summary = store.put_table(prefix, "summary", frame(1), stage="aggregate", inputs=[result, graph])

    lineage = stage_lineage(store.manifests_written)

    outputs = [(stage, ref.uri) for stage, ref in lineage.outputs]
    assert outputs == [("aggregate", result.uri), ("aggregate", summary.uri)]
    assert [ref.manifest_uri for _, ref in lineage.outputs] == [result.manifest_uri, summary.manifest_uri]
    assert [ref.uri for ref in lineage.inputs] == [graph.uri, source.uri]  # the result is the task's own
    assert lineage.inputs[1].manifest_uri is None and lineage.quantum is None
    assert [uri for uri, _ in upstream.manifests_written] == [graph.manifest_uri]
    # The same edges `qflow lineage show` walks from the summary.
    tree = walk(store, summary.uri)
    assert {child.uri for child in tree.inputs} == {result.uri, graph.uri}


def test_quantum_stages_report_backend_jobs_shots_transpiler_and_fallback_tier(
    store: ArtifactStore, prefix: str
) -> None:
    transpiler = {"optimization_level": 1, "seed_transpiler": 7}
    loop = store.put_table(
        prefix,
        "optimise",
        frame(),
        stage="optimise",
        params={"backend": "aer:automatic", "shots": 512, "transpiler": transpiler},
        measurements={"evaluations": [{"job_id": "j-1"}, {"job_id": "j-2"}, {"job_id": "j-1"}]},
    )
    quantum = stage_lineage(store.manifests_written).quantum
    assert quantum == {
        "backend": "aer:automatic",
        "provider_job_ids": ["j-1", "j-2"],  # a resubmitted evaluation found its job: once
        "shots": 512,
        "transpiler": transpiler,
        "fallback_tier": 1,
    }
    fallen = ArtifactStore(store.client, store.bucket)
    fallen.put_table(
        prefix,
        "sample",
        frame(),
        stage="quantum_submit",
        inputs=[loop],
        params={"backend": "classical", "shots": 512, "transpiler": transpiler, "fallback": {"tier": 2}},
    )
    tier_two = stage_lineage(fallen.manifests_written).quantum
    assert tier_two is not None
    assert (tier_two["fallback_tier"], tier_two["provider_job_ids"], tier_two["backend"]) == (2, [], "classical")
