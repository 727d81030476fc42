"""Published data sets against the real SeaweedFS and Redis: content-addressed versions with their
manifest last, announcements on the stream, and what a consuming run does with a burst, a repeat
and each kind of bad event."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from include.data.announcements import stream_for
from include.data.published import (
    DUPLICATE,
    PROCESSED,
    REJECTED,
    SUPERSEDED,
    DatasetEventError,
    DatasetVersionRecord,
    ReceivedEvent,
    announce,
    publish,
    resolve,
    stored_version,
)
from include.store.artifacts import ArtifactStore, parquet_bytes
from include.store.lineage import verify, walk


def edge_list(n: int = 5, salt: float | None = None) -> bytes:
    """A ring of ``n`` nodes; ``salt`` (a weight) makes the content, hence the version, unique."""
    weight = salt if salt is not None else uuid.uuid4().int % 1000 / 1000 + 0.1
    frame = pd.DataFrame({"u": list(range(n)), "v": [(i + 1) % n for i in range(n)], "weight": [weight] * n})
    return parquet_bytes(frame)


@pytest.fixture
def record(tmp_path: Path) -> DatasetVersionRecord:
    return DatasetVersionRecord(url=f"sqlite:///{tmp_path / 'ledger.sqlite'}")


def event(fields: dict, stream_id: str | None = None, at: str = "2026-12-07T10:00:00+00:00") -> ReceivedEvent:
    if stream_id is None:
        return ReceivedEvent(extra=fields, received_at=at, where="test REST event")
    return ReceivedEvent(
        extra={"announcements": [{"stream_id": stream_id, "fields": fields}]}, received_at=at, where="test watcher"
    )


def test_publish_stores_the_file_content_addressed_with_its_manifest_last(store: ArtifactStore) -> None:
    data = edge_list(6)
    version = publish(store, "maxcut_graph", data, "ring.parquet")
    assert version.uri == store.uri(f"datasets/maxcut_graph/{version.sha256}/data.parquet")
    assert store.get_bytes(version.uri) == data  # the file as given: its hash names the version
    manifest = store.read_manifest(version.manifest_uri)
    assert manifest["stage"] == "dataset" and manifest["artifact"]["sha256"] == version.sha256
    assert manifest["params"]["n_nodes"] == 6 and manifest["artifact"]["rows"] == 6
    assert verify(store, version.manifest_uri) == []  # qflow lineage verify reads it like any manifest
    # The same bytes again: the complete version is found, nothing is rewritten.
    again = publish(store, "maxcut_graph", data, "elsewhere/ring.parquet")
    assert again == version


@pytest.mark.parametrize(
    ("name", "filename", "data", "message"),
    [
        ("graphs", "g.parquet", b"", "dataset='graphs' is not a data set qflow knows"),
        ("maxcut_graph", "g.csv", b"u,v\n0,1\n", "takes parquet files"),
        ("maxcut_graph", "g.parquet", b"not parquet", "is not a readable parquet file"),
        ("maxcut_graph", "g.parquet", parquet_bytes(pd.DataFrame({"a": [0], "b": [1]})), "has no column(s) ['u', 'v']"),
    ],
)
def test_publish_refuses_what_its_consumer_could_not_read(
    store: ArtifactStore, name: str, filename: str, data: bytes, message: str
) -> None:
    before = len(store.list_uris(store.uri("datasets/")))
    with pytest.raises(DatasetEventError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        publish(store, name, data, filename)
    assert len(store.list_uris(store.uri("datasets/"))) == before  # nothing half-written


def test_a_burst_becomes_one_run_on_the_newest_and_the_rest_are_superseded(
    store: ArtifactStore, record: DatasetVersionRecord
) -> None:
    versions = [publish(store, "maxcut_graph", edge_list(4 + i), f"g{i}.parquet") for i in range(5)]
    events = [event(v.announcement(), f"1700000000000-{i}") for i, v in enumerate(versions)]
    resolution = resolve(store, record, "qaoa_maxcut", "run-1", "maxcut_graph", events[::-1])
    assert resolution.chosen == versions[-1]
    assert resolution.overrides == {"edge_list_uri": versions[-1].uri, "n_nodes": 8}
    assert resolution.superseded == [v.sha256 for v in versions[-2::-1]]
    assert resolution.announced_through == "1700000000000-4" and resolution.duplicate_of is None
    states = {(r.sha256, r.state) for r in record.history("qaoa_maxcut")}
    assert states == {(versions[-1].sha256, PROCESSED)} | {(v.sha256, SUPERSEDED) for v in versions[:-1]}


def test_the_same_content_again_is_a_duplicate_of_the_run_that_processed_it(
    store: ArtifactStore, record: DatasetVersionRecord
) -> None:
    version = publish(store, "maxcut_graph", edge_list(), "g.parquet")
    first = resolve(store, record, "qaoa_maxcut", "run-1", "maxcut_graph", [event(version.announcement(), "1-0")])
    assert first.duplicate_of is None
    # A retry of the same run is not a duplicate of itself.
    retry = resolve(store, record, "qaoa_maxcut", "run-1", "maxcut_graph", [event(version.announcement(), "1-0")])
    assert retry.duplicate_of is None
    second = resolve(store, record, "qaoa_maxcut", "run-2", "maxcut_graph", [event(version.announcement(), "2-0")])
    assert second.duplicate_of == "run-1"
    assert [(r.run_id, r.state) for r in record.history("qaoa_maxcut")] == [("run-1", PROCESSED), ("run-2", DUPLICATE)]
    # Another DAG consuming the same data set processes it for itself.
    other = resolve(store, record, "another_dag", "run-9", "maxcut_graph", [event(version.announcement(), "3-0")])
    assert other.duplicate_of is None


def test_bad_events_fail_naming_what_is_wrong_and_are_recorded(
    store: ArtifactStore, record: DatasetVersionRecord
) -> None:
    good = publish(store, "maxcut_graph", edge_list(), "g.parquet")
    tampered = publish(store, "maxcut_graph", edge_list(), "t.parquet")
    store.put_bytes(tampered.uri, edge_list(7))  # changed after publication
    unfinished = publish(store, "maxcut_graph", edge_list(), "u.parquet")
    store.delete(unfinished.manifest_uri)  # as if the publisher died before the manifest
    cases = [
        ({"dataset": "graphs", "sha256": good.sha256}, "dataset='graphs' is not a data set qflow knows"),
        ({"dataset": "maxcut_graph", "sha256": "0" * 64}, "nothing is stored there"),
        ({"dataset": "maxcut_graph", "sha256": tampered.sha256}, "the object was changed after it was published"),
        ({"dataset": "maxcut_graph", "sha256": unfinished.sha256}, "but no manifest"),
        ({"dataset": "maxcut_graph"}, "field 'sha256' is missing"),
        ({"dataset": "maxcut_graph", "sha256": "xyz"}, "is not a SHA-256 hex digest"),
        ({"dataset": "classifier_table", "sha256": good.sha256}, "announced on the asset of data set 'maxcut_graph'"),
        ("not an object", "an announcement must be an object"),
    ]
    for i, (fields, message) in enumerate(cases):
        with pytest.raises(DatasetEventError, match=message):
            resolve(store, record, "qaoa_maxcut", f"bad-{i}", "maxcut_graph", [event(fields)])  # type: ignore[arg-type]
    rejected = [r for r in record.history("qaoa_maxcut") if r.state == REJECTED]
    assert [r.run_id for r in rejected] == [f"bad-{i}" for i in range(len(cases))]
    assert all(r.detail for r in rejected)
    assert not [r for r in record.history("qaoa_maxcut") if r.state == PROCESSED]  # nothing ran


def test_an_older_bad_announcement_in_a_burst_does_not_stop_the_newest(
    store: ArtifactStore, record: DatasetVersionRecord
) -> None:
    good = publish(store, "maxcut_graph", edge_list(), "g.parquet")
    events = [event({"dataset": "maxcut_graph", "sha256": "nope"}, "5-0"), event(good.announcement(), "5-1")]
    resolution = resolve(store, record, "qaoa_maxcut", "run-1", "maxcut_graph", events)
    assert resolution.chosen == good
    assert {r.state for r in record.history("qaoa_maxcut")} == {PROCESSED, REJECTED}


def test_a_published_version_is_the_lineage_root_of_the_run_that_reads_it(store: ArtifactStore, prefix: str) -> None:
    from include.pipelines.qaoa_maxcut import QAOAMaxCutParams, stage_graph

    version = publish(store, "maxcut_graph", edge_list(5), "g.parquet")
    graph = stage_graph(store, prefix, QAOAMaxCutParams(n_nodes=5, edge_list_uri=version.uri))
    manifest = store.read_manifest(graph.uri)
    assert manifest["inputs"] == [{"uri": version.uri, "sha256": version.sha256, "manifest_uri": version.manifest_uri}]
    assert version.manifest_uri in json.dumps(walk(store, graph.uri), default=str)
    assert verify(store, graph.uri) == []


def test_announce_appends_to_the_data_sets_stream_on_redis(store: ArtifactStore) -> None:
    import redis

    prefix = f"qflow-test:{uuid.uuid4().hex[:8]}"
    version = publish(store, "classifier_table", b"sample_id,x,label\n0,1.0,a\n1,2.0,b\n", "t.csv")
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0", decode_responses=True)
    try:
        first = announce("redis://127.0.0.1:6379/0", version, prefix)
        second = announce("redis://127.0.0.1:6379/0", version, prefix)
        entries: Any = client.xrange(stream_for("classifier_table", prefix))
        assert [e[0] for e in entries] == [first, second]
        assert entries[0][1] == version.announcement()
        assert stored_version(store, "classifier_table", version.sha256)[0] == version
    finally:
        client.delete(stream_for("classifier_table", prefix))
        client.close()


def test_cli_publish_prints_the_rest_payload_and_announces(
    store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import redis

    from include.cli import main

    prefix = f"qflow-test:{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("QFLOW_DATASET_STREAM_PREFIX", prefix)
    monkeypatch.setenv("QFLOW_REDIS_URL", "redis://127.0.0.1:6379/0")
    path = tmp_path / "ring.parquet"
    path.write_bytes(edge_list(4))
    assert main(["dataset", "publish", "maxcut_graph", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["dataset"] == "maxcut_graph" and store.exists(printed["manifest_uri"])
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        assert client.xlen(stream_for("maxcut_graph", prefix)) == 1
        assert main(["dataset", "publish", "maxcut_graph", str(path), "--no-announce"]) == 0
        assert client.xlen(stream_for("maxcut_graph", prefix)) == 1
    finally:
        client.delete(stream_for("maxcut_graph", prefix))
        client.close()
    assert main(["dataset", "publish", "nope", str(path)]) == 1
    assert "is not a data set qflow knows" in capsys.readouterr().err
    assert main(["dataset", "publish", "maxcut_graph", str(tmp_path / "missing.parquet")]) == 1
    assert "No such file" in capsys.readouterr().err


def test_a_duplicate_runs_summary_says_nothing_ran_and_which_run_did(
    store: ArtifactStore, record: DatasetVersionRecord, prefix: str
) -> None:
    from include.data.published import write_duplicate_summary
    from include.summary import format_summary, latest_summary_uri

    version = publish(store, "maxcut_graph", edge_list(), "g.parquet")
    resolve(store, record, "qaoa_maxcut", "run-1", "maxcut_graph", [event(version.announcement(), "1-0")])
    again = resolve(store, record, "qaoa_maxcut", "run-2", "maxcut_graph", [event(version.announcement(), "2-0")])
    summary = write_duplicate_summary(store, f"{prefix}/runs/dup", version, again)
    text = format_summary(store, summary.uri)
    assert "nothing ran" in text and "processed by run      run-1" in text and version.sha256 in text
    assert latest_summary_uri(store, "nope") is None


def test_a_price_table_version_sets_the_portfolio_runs_data_uri(
    store: ArtifactStore, record: DatasetVersionRecord
) -> None:
    prices = (
        b"date,AAPL,MSFT\n2024-01-02,185.6,370.9\n2024-01-03,184.2,370.6\n"
        + f"2024-01-04,{uuid.uuid4().int % 100 + 100},371.0\n".encode()
    )
    version = publish(store, "portfolio_prices", prices, "prices.csv")
    resolution = resolve(
        store, record, "portfolio_optimisation", "r1", "portfolio_prices", [event(version.announcement(), "1-0")]
    )
    assert resolution.overrides == {"data_uri": version.uri}
    with pytest.raises(DatasetEventError, match=r"has no column\(s\) \['date'\]"):
        publish(store, "portfolio_prices", b"day,AAPL\n2024-01-02,1.0\n", "p.csv")
