"""Event-driven runs under the real scheduler, triggerer and Redis: versions published with
`qflow dataset publish` (or its Python API, for a burst) start qaoa_maxcut / vqc_classifier through
the AssetWatcher; a burst is one or two runs on the newest version; the same content again runs
nothing; the REST path (`POST /api/v2/assets/events` with a JWT); each bad event fails the run with
its reason and nothing quantum runs; an announcement made while no triggerer listens is picked up.

Its own stack (this module only): asset-triggered runs need the scheduler's job scheduling on,
which the shared live stack turns off so no timetable fires; here every DAG starts paused and only
the two workloads are unpaused.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest

from include.data.published import DatasetVersion, DatasetVersionRecord, announce, publish
from include.governance.ledger import JobLedger
from include.store.artifacts import ArtifactStore, parquet_bytes
from include.store.config import S3Settings
from tests.live_stack import LiveStack, RestClient

REPO = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379/0"
WORKLOADS = ("qaoa_maxcut", "vqc_classifier")


@pytest.fixture(scope="module")
def stream_prefix() -> str:
    return f"qflow-test-{secrets.token_hex(4)}"


@pytest.fixture(scope="module")
def event_stack(s3_settings: S3Settings, qflow_env: dict[str, str], stream_prefix: str) -> Iterator[LiveStack]:
    stack = LiveStack(
        root=REPO / ".qflow" / "live-datasets",
        s3_env=qflow_env,
        airflow_overrides={
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "QFLOW_DATASET_STREAM_PREFIX": stream_prefix,
        },
    )
    try:
        stack.start()
        client = stack.rest()
        for dag_id in WORKLOADS:
            response = client.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
            assert response.status_code == 200, response.text
        client.close()
        yield stack
    finally:
        stack.stop()
        import redis

        r = redis.Redis.from_url(REDIS)
        for key in r.scan_iter(f"{stream_prefix}:*"):
            r.delete(key)
        r.close()


@pytest.fixture(scope="module")
def api(event_stack: LiveStack) -> Iterator[RestClient]:
    client = event_stack.rest()
    yield client
    client.close()


def ring(n: int) -> bytes:
    """A weighted ring with chords; a random weight makes every call a new version."""
    w = 0.1 + uuid.uuid4().int % 900 / 1000
    edges = [(i, (i + 1) % n, w) for i in range(n)] + [(0, n // 2, 1.0)]
    return parquet_bytes(pd.DataFrame(edges, columns=["u", "v", "weight"]))


def announce_new(store: ArtifactStore, stream_prefix: str, data: bytes, name: str = "maxcut_graph") -> DatasetVersion:
    version = publish(store, name, data, "graph.parquet" if name == "maxcut_graph" else "table.csv")
    announce(REDIS, version, stream_prefix)
    return version


def runs(api: RestClient, dag_id: str) -> dict[str, dict[str, Any]]:
    return {r["dag_run_id"]: r for r in api.runs(dag_id)}


def settled_new_runs(
    api: RestClient, dag_id: str, before: set[str], quiet: float = 15, timeout: float = 600
) -> list[dict[str, Any]]:
    """Wait for at least one new run, until every new run has ended and none has appeared for
    ``quiet`` seconds; the new runs, oldest first."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    last_change = time.monotonic()
    while time.monotonic() < deadline:
        current = {k: v for k, v in runs(api, dag_id).items() if k not in before}
        if set(current) != seen:
            seen, last_change = set(current), time.monotonic()
        ended = all(r["state"] in ("success", "failed") for r in current.values())
        if current and ended and time.monotonic() - last_change >= quiet:
            return sorted(current.values(), key=lambda r: r["queued_at"] or r["start_date"] or "")
        time.sleep(2)
    raise TimeoutError(f"{dag_id}: new runs {sorted(seen)} did not settle in {timeout} s")


def task_states(api: RestClient, dag_id: str, run_id: str) -> dict[str, str | None]:
    return {t["task_id"]: t["state"] for t in api.task_instances(dag_id, quote(run_id, safe=""))}


def version_xcom(api: RestClient, dag_id: str, run_id: str) -> dict[str, Any]:
    path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/dataset_version/xcomEntries/return_value"
    value = api.get(path, params={"deserialize": True})["value"]
    return value if isinstance(value, dict) else json.loads(value)


def task_log(api: RestClient, dag_id: str, run_id: str, task_id: str) -> str:
    path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/1"
    return json.dumps(api.get(path, params={"full_content": True}))


def ledger_jobs(stack: LiveStack) -> int:
    return JobLedger(url=f"sqlite:///{stack.root / 'state' / 'ledger.sqlite'}").count()


def version_record(stack: LiveStack) -> DatasetVersionRecord:
    return DatasetVersionRecord(url=f"sqlite:///{stack.root / 'state' / 'ledger.sqlite'}")


def post_asset_event(api: RestClient, name: str, extra: Any) -> None:
    (asset,) = [a for a in api.get("/assets", params={"name_pattern": name})["assets"] if a["name"] == name]
    response = api.request("POST", "/assets/events", json={"asset_id": asset["id"], "extra": extra})
    assert response.status_code == 200, response.text


def test_a_burst_of_twenty_versions_is_one_or_two_runs_the_last_on_the_newest(
    api: RestClient, event_stack: LiveStack, store: ArtifactStore, stream_prefix: str
) -> None:
    before = set(runs(api, "qaoa_maxcut"))
    started = time.monotonic()
    versions = [announce_new(store, stream_prefix, ring(6)) for _ in range(20)]
    assert time.monotonic() - started < 5, "the burst must be published within 5 s"
    new = settled_new_runs(api, "qaoa_maxcut", before)
    assert 1 <= len(new) <= 2, [r["dag_run_id"] for r in new]
    assert all(r["run_type"] == "asset_triggered" for r in new)
    last = new[-1]
    assert last["state"] == "success", task_states(api, "qaoa_maxcut", last["dag_run_id"])
    taken = version_xcom(api, "qaoa_maxcut", last["dag_run_id"])
    assert taken["dataset_version"]["sha256"] == versions[-1].sha256
    assert taken["edge_list_uri"] == versions[-1].uri and taken["n_nodes"] == 6
    # The run's graph is the published version: its lineage reaches the publication's manifest.
    graph = store.read_manifest(store.uri(f"runs/qaoa_maxcut/{_key(last['dag_run_id'])}/graph/manifest.json"))
    assert graph["inputs"][0]["manifest_uri"] == versions[-1].manifest_uri
    # Every other version of the burst is recorded as superseded, none as processed.
    records = [
        r for r in version_record(event_stack).history("qaoa_maxcut") if r.run_id in {x["dag_run_id"] for x in new}
    ]
    processed = [r.sha256 for r in records if r.state == "PROCESSED"]
    assert processed[-1] == versions[-1].sha256 and len(processed) == len(new)
    superseded = {r.sha256 for r in records if r.state == "SUPERSEDED"}
    assert superseded | set(processed) == {v.sha256 for v in versions}


def test_the_same_content_again_runs_nothing_and_spends_nothing(
    api: RestClient, event_stack: LiveStack, store: ArtifactStore, stream_prefix: str
) -> None:
    data = ring(5)
    before = set(runs(api, "qaoa_maxcut"))
    first = announce_new(store, stream_prefix, data)
    (run,) = settled_new_runs(api, "qaoa_maxcut", before)
    assert run["state"] == "success"
    jobs = ledger_jobs(event_stack)
    before = set(runs(api, "qaoa_maxcut"))
    again = announce_new(store, stream_prefix, data)  # the same bytes: the same version, announced again
    assert again.sha256 == first.sha256
    (repeat,) = settled_new_runs(api, "qaoa_maxcut", before)
    states = task_states(api, "qaoa_maxcut", repeat["dag_run_id"])
    assert repeat["state"] == "success" and states["dataset_version"] == "skipped"
    assert {s for t, s in states.items() if t != "dataset_version"} == {"skipped"}, states
    assert ledger_jobs(event_stack) == jobs  # no quantum job
    summary = store.uri(f"runs/qaoa_maxcut/{_key(repeat['dag_run_id'])}/summary/data.parquet")
    row = store.read_table(summary).iloc[0]
    assert row["status"] == "duplicate" and row["processed_by_run"] == run["dag_run_id"]
    assert f"already processed by run {run['dag_run_id']}" in task_log(
        api, "qaoa_maxcut", repeat["dag_run_id"], "dataset_version"
    )


def test_the_rest_path_posts_an_asset_event_with_the_version_qflow_printed(
    api: RestClient, event_stack: LiveStack, store: ArtifactStore, tmp_path: Path
) -> None:
    path = tmp_path / "graph.parquet"
    path.write_bytes(ring(7))
    env = {**os.environ, **event_stack.env}
    out = subprocess.run(
        ["qflow", "dataset", "publish", "maxcut_graph", str(path), "--no-announce"],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    payload = json.loads(out.stdout)
    before = set(runs(api, "qaoa_maxcut"))
    post_asset_event(api, "maxcut_graph", payload)
    (run,) = settled_new_runs(api, "qaoa_maxcut", before)
    assert run["state"] == "success", task_states(api, "qaoa_maxcut", run["dag_run_id"])
    assert version_xcom(api, "qaoa_maxcut", run["dag_run_id"])["dataset_version"]["sha256"] == payload["sha256"]


def test_each_bad_event_fails_its_run_with_the_reason_and_nothing_quantum_runs(
    api: RestClient, event_stack: LiveStack, store: ArtifactStore, stream_prefix: str
) -> None:
    tampered = publish(store, "maxcut_graph", ring(6), "t.parquet")
    store.put_bytes(tampered.uri, ring(6))
    unfinished = publish(store, "maxcut_graph", ring(6), "u.parquet")
    store.delete(unfinished.manifest_uri)
    cases = [
        ({"dataset": "no_such_set", "sha256": tampered.sha256}, "is not a data set qflow knows"),
        ({"dataset": "maxcut_graph", "sha256": tampered.sha256}, "the object was changed after it was published"),
        ({"nonsense": True}, "field 'dataset' is missing"),
        ({"dataset": "maxcut_graph", "sha256": unfinished.sha256}, "but no manifest"),
    ]
    jobs = ledger_jobs(event_stack)
    for extra, reason in cases:
        before = set(runs(api, "qaoa_maxcut"))
        post_asset_event(api, "maxcut_graph", extra)
        (run,) = settled_new_runs(api, "qaoa_maxcut", before, quiet=5)
        states = task_states(api, "qaoa_maxcut", run["dag_run_id"])
        assert run["state"] == "failed" and states["dataset_version"] == "failed", states
        assert {s for t, s in states.items() if t != "dataset_version"} <= {"upstream_failed", None}, states
        assert reason in task_log(api, "qaoa_maxcut", run["dag_run_id"], "dataset_version")
    # A malformed announcement on the stream (the watcher's path) fails the same way.
    import redis

    client = redis.Redis.from_url(REDIS)
    before = set(runs(api, "qaoa_maxcut"))
    client.xadd(f"{stream_prefix}:maxcut_graph", {"dataset": "maxcut_graph", "sha256": "not-a-hash"})
    client.close()
    (run,) = settled_new_runs(api, "qaoa_maxcut", before, quiet=5)
    assert run["state"] == "failed"
    assert "is not a SHA-256 hex digest" in task_log(api, "qaoa_maxcut", run["dag_run_id"], "dataset_version")
    assert ledger_jobs(event_stack) == jobs


def test_an_announcement_made_while_no_triggerer_listens_is_picked_up_when_one_is_back(
    api: RestClient, event_stack: LiveStack, store: ArtifactStore, stream_prefix: str
) -> None:
    event_stack.signal("triggerer", signal.SIGTERM)
    event_stack.procs["triggerer"].wait(timeout=60)
    before = set(runs(api, "qaoa_maxcut"))
    version = announce_new(store, stream_prefix, ring(6))
    time.sleep(5)
    assert set(runs(api, "qaoa_maxcut")) == before  # nobody listening: no run yet
    event_stack._spawn("triggerer")
    (run,) = settled_new_runs(api, "qaoa_maxcut", before)
    assert run["state"] == "success"
    assert version_xcom(api, "qaoa_maxcut", run["dag_run_id"])["dataset_version"]["sha256"] == version.sha256
    # The restarted watcher read on from where the last run left off (the asset's announced_through),
    # not from the stream's start: its event carries the one new announcement.
    (asset,) = [a for a in api.get("/assets", params={"name_pattern": "maxcut_graph"})["assets"]]
    events = api.get("/assets/events", params={"asset_id": asset["id"], "order_by": "-timestamp", "limit": 1})
    payload = events["asset_events"][0]["extra"]["payload"]
    assert payload["announced"] == 1 and payload["announcements"][0]["fields"]["sha256"] == version.sha256


def test_vqc_classifier_retrains_when_its_table_changes(
    api: RestClient, event_stack: LiveStack, store: ArtifactStore, stream_prefix: str
) -> None:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame.iloc[:100]  # two classes
    rng = uuid.uuid4().int % 1000
    table = iris.rename(columns={"target": "label"}).sample(frac=1.0, random_state=rng).reset_index(drop=True)
    table.insert(0, "sample_id", range(len(table)))
    before = set(runs(api, "vqc_classifier"))
    version = announce_new(store, stream_prefix, table.to_csv(index=False).encode(), "classifier_table")
    (run,) = settled_new_runs(api, "vqc_classifier", before, timeout=900)
    assert run["state"] == "success", task_states(api, "vqc_classifier", run["dag_run_id"])
    taken = version_xcom(api, "vqc_classifier", run["dag_run_id"])
    assert taken["dataset"] == "s3" and taken["data_uri"] == version.uri
    raw = store.read_manifest(store.uri(f"runs/vqc_classifier/{_key(run['dag_run_id'])}/raw/manifest.json"))
    assert raw["inputs"][0]["manifest_uri"] == version.manifest_uri


def _key(run_id: str) -> str:
    from include.store.artifacts import safe_key_part

    return safe_key_part(run_id)
