"""DatasetAnnouncementTrigger against the real Redis: a burst becomes one event, it starts after the
position the last run recorded, it only reads (the stream is unchanged), and Redis being away is
waited out, not a failure. (The triggerer running it for real: tests/live/test_datasets.py.)"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from operators.triggers.dataset_announcement import DatasetAnnouncementTrigger, redis_url

REDIS = "redis://127.0.0.1:6379/0"


class RecordedPosition:
    """Stands in for Airflow's asset state store (the one thing the trigger reads from Airflow)."""

    def __init__(self, value: str | None) -> None:
        self.value = value
        self.keys: list[str] = []

    async def aget(self, key: str, default: Any = None) -> Any:
        self.keys.append(key)
        return self.value if self.value is not None else default


@pytest.fixture
def stream() -> Iterator[str]:
    name = f"qflow-test:{uuid.uuid4().hex[:8]}:maxcut_graph"
    yield name
    client = redis.Redis.from_url(REDIS)
    client.delete(name)
    client.close()


def add(stream: str, n: int, spacing: float = 0.0) -> list[str]:
    client = redis.Redis.from_url(REDIS, decode_responses=True)
    ids = []
    for i in range(n):
        ids.append(str(client.xadd(stream, {"dataset": "maxcut_graph", "sha256": f"{i:064x}"})))
        time.sleep(spacing)
    client.close()
    return ids


async def first_event(trigger: DatasetAnnouncementTrigger, timeout: float) -> Any:
    run: Any = trigger.run()
    try:
        return await asyncio.wait_for(run.__anext__(), timeout)
    finally:
        await run.aclose()


def trigger_for(stream: str, **kwargs: Any) -> DatasetAnnouncementTrigger:
    defaults: dict[str, Any] = {"quiet_seconds": 0.6, "block_seconds": 0.5}
    return DatasetAnnouncementTrigger(dataset="maxcut_graph", stream=stream, **(defaults | kwargs))


def test_serialises_with_its_module_path_and_json_safe_kwargs(stream: str) -> None:
    import json

    classpath, kwargs = trigger_for(stream).serialize()
    assert classpath == "operators.triggers.dataset_announcement.DatasetAnnouncementTrigger"
    assert DatasetAnnouncementTrigger(**json.loads(json.dumps(kwargs))).serialize() == (classpath, kwargs)


def test_a_burst_becomes_one_event_with_every_announcement_in_order(stream: str) -> None:
    async def scenario() -> Any:
        trigger = trigger_for(stream)
        pending = asyncio.ensure_future(first_event(trigger, 20))
        await asyncio.sleep(0.3)
        ids = await asyncio.to_thread(add, stream, 8, 0.1)  # 8 versions within ~1 s
        return ids, await pending

    ids, event = asyncio.run(scenario())
    payload = event.payload
    assert payload["announced"] == 8
    assert [a["stream_id"] for a in payload["announcements"]] == ids
    assert payload["announcements"][-1]["fields"]["sha256"] == f"{7:064x}"
    client = redis.Redis.from_url(REDIS)
    assert client.xlen(stream) == 8  # read, never consumed: another reader (or a restart) sees them too
    client.close()


def test_it_starts_after_the_position_the_last_run_recorded(stream: str) -> None:
    ids = add(stream, 5)
    trigger = trigger_for(stream)
    trigger.asset_state_store = RecordedPosition(ids[2])  # type: ignore[assignment]
    event = asyncio.run(first_event(trigger, 10))
    assert [a["stream_id"] for a in event.payload["announcements"]] == ids[3:]
    assert trigger.asset_state_store.keys == ["announced_through"]  # type: ignore[union-attr]
    # No recorded position (a watcher's first start): everything in the stream, one event.
    fresh = trigger_for(stream)
    fresh.asset_state_store = RecordedPosition(None)  # type: ignore[assignment]
    assert [a["stream_id"] for a in asyncio.run(first_event(fresh, 10)).payload["announcements"]] == ids


def test_redis_away_is_waited_out_not_a_failure(stream: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_QFLOW_REDIS_DOWN", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    trigger = trigger_for(stream, redis_conn_id="qflow_redis_down")

    async def scenario() -> bool:
        task = asyncio.ensure_future(first_event(trigger, 30))
        await asyncio.sleep(2.5)
        alive = not task.done()
        task.cancel()
        return alive

    assert asyncio.run(scenario())  # still retrying after 2.5 s: no event, no exception


def test_redis_url_from_a_connection() -> None:
    from airflow.sdk import Connection

    assert redis_url(Connection(conn_id="r", conn_type="redis", host="h", port=7000, schema="3")) == "redis://h:7000/3"
    with_password = Connection(conn_id="r", conn_type="redis", host="h", password="s3cret")
    assert redis_url(with_password) == "redis://:s3cret@h:6379/0"
