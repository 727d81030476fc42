"""OpenLineage from every stage task (operators/lineage.py): `airflow dags test qaoa_maxcut` with the
provider's file transport against the real local SeaweedFS, its events checked against what
`qflow lineage show` prints for the same run and against the stored manifests."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from include.store.artifacts import ArtifactStore
from tests.conftest import airflow_dags_test

pytestmark = pytest.mark.integration

CONF = {"n_nodes": 6, "reps": 1, "max_iterations": 5, "shots": 256, "seed": 3}
LINE = re.compile(r"\[(?P<stage>[^\]]+)\] (?P<uri>s3://\S+)")


@pytest.fixture(scope="module")
def lineage_run(qflow_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    events = tmp_path_factory.mktemp("openlineage") / "events.jsonl"
    env = {
        **qflow_env,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(events), "append": True}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "qflow",
    }
    run_id, state, output = airflow_dags_test("qaoa_maxcut", env, CONF, timeout=600)
    assert state == "success", output[-4000:]
    assert "expired and will be terminated" not in output  # the provider's forked emitter never hung
    return run_id, events


def task_events(events: Path) -> dict[str, dict[str, Any]]:
    """The COMPLETE event of each task (job name ``qaoa_maxcut.<task>``), by task id."""
    out: dict[str, dict[str, Any]] = {}
    for line in events.read_text().splitlines():
        event = json.loads(line)
        if event["eventType"] == "COMPLETE" and "." in event["job"]["name"]:
            out[event["job"]["name"].split(".", 1)[1]] = event
    return out


def dataset_uri(dataset: Mapping[str, Any]) -> str:
    return f"{dataset['namespace']}/{dataset['name']}"


def printed_edges(uri: str, env: Mapping[str, str]) -> set[tuple[str, str]]:
    """(input, artifact) for every edge of the tree `qflow lineage show URI` prints."""
    proc = subprocess.run(["qflow", "lineage", "show", uri], env=dict(env), capture_output=True, text=True, check=True)
    edges: set[tuple[str, str]] = set()
    stack: list[tuple[int, str]] = []  # (column of "[", uri) of the lines above
    for line in proc.stdout.splitlines():
        match = LINE.search(line)
        if match is None:
            continue  # a params line
        column = match.start()
        while stack and stack[-1][0] >= column:
            stack.pop()
        if stack:
            edges.add((match["uri"], stack[-1][1]))
        stack.append((column, match["uri"]))
    return edges


def test_the_events_graph_equals_what_qflow_lineage_show_prints(
    lineage_run: tuple[str, Path], qflow_env: dict[str, str]
) -> None:
    _, events_file = lineage_run
    events = task_events(events_file)
    produced_by = {dataset_uri(o): task for task, e in events.items() for o in e["outputs"]}
    inputs_of = {task: {dataset_uri(i) for i in e["inputs"]} for task, e in events.items()}
    consumed = set().union(*inputs_of.values())
    sinks = sorted(uri for uri in produced_by if uri not in consumed)
    assert any(uri.endswith("/summary/data.parquet") for uri in sinks), sinks
    edges: set[tuple[str, str]] = set()
    for sink in sinks:  # every artifact of the run is upstream of one of them
        edges |= printed_edges(sink, qflow_env)
    printed = {uri for edge in edges for uri in edge}
    assert printed | set(sinks) >= set(produced_by)  # lineage show knows every artifact the events name
    # Per task: what its outputs were made from (as printed), less what it made itself, is what
    # its event names as inputs — and every printed artifact with a manifest has its task.
    for task, inputs in inputs_of.items():
        own = {uri for uri, by in produced_by.items() if by == task}
        made_from = {child for child, parent in edges if parent in own} - own
        assert inputs == made_from, task
    assert {parent for _, parent in edges} <= set(produced_by)
    assert {"graph", "validate", "encode", "optimise", "baselines", "readiness", "sample", "aggregate"} <= set(events)
    assert events["approval_gate"]["outputs"] == []  # a branch stores nothing


def test_every_dataset_carries_its_hash_and_manifest_and_quantum_runs_their_jobs(
    lineage_run: tuple[str, Path], store: ArtifactStore
) -> None:
    _, events_file = lineage_run
    events = task_events(events_file)
    for task, event in events.items():
        for output in event["outputs"]:
            facet = output["facets"]["qflow_artifact"]
            manifest = store.read_manifest(facet["manifestUri"])
            assert manifest["artifact"]["uri"] == dataset_uri(output), task
            assert facet["sha256"] == manifest["artifact"]["sha256"] and facet["stage"] == manifest["stage"]
            assert facet["_schemaURL"].endswith("qflow-facets.json#/$defs/QflowArtifactDatasetFacet")
        for dataset in event["inputs"]:
            assert len(dataset["facets"]["qflow_artifact"]["sha256"]) == 64
    optimise = store.read_manifest(events["optimise"]["outputs"][0]["facets"]["qflow_artifact"]["manifestUri"])
    quantum = events["optimise"]["run"]["facets"]["qflow_quantum"]
    assert quantum["providerJobIds"] == [e["job_id"] for e in optimise["measurements"]["evaluations"]]
    assert len(quantum["providerJobIds"]) == optimise["measurements"]["iterations"] >= 1
    assert (quantum["backend"], quantum["shots"], quantum["fallbackTier"]) == (
        optimise["params"]["backend"],
        CONF["shots"],
        1,
    )
    assert quantum["transpiler"] == optimise["params"]["transpiler"]
    sample = store.read_manifest(events["sample"]["outputs"][0]["facets"]["qflow_artifact"]["manifestUri"])
    sampled = events["sample"]["run"]["facets"]["qflow_quantum"]
    assert sampled["providerJobIds"] == [sample["params"]["provider_job_id"]]
    assert sampled["fallbackTier"] == sample["params"]["fallback"]["tier"] == 1
    for classical in ("graph", "validate", "encode", "baselines", "aggregate"):
        assert "qflow_quantum" not in events[classical]["run"]["facets"], classical


def test_no_secret_reaches_the_events(lineage_run: tuple[str, Path]) -> None:
    _, events_file = lineage_run
    text = events_file.read_text()
    assert len(text) > 1000
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in text  # the S3 connection's password
