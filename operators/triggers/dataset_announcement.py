"""DatasetAnnouncementTrigger: the AssetWatcher's event trigger — new versions of a data set, read
from its Redis stream in the triggerer.

Delivery is at least once (docs/datasets.md). The trigger only reads: ``XREAD`` from a position, no
consumer group, nothing acknowledged or deleted, so two triggerers running it (or one running it
again after a restart) cannot lose an announcement. Its starting position is the asset's
``announced_through`` state, which the consuming run sets after it has recorded the versions it
received (operators/operators/datasets.py); on start it therefore re-reads everything no run has
taken yet — a version announced while no triggerer listened, or one whose run never started.

Debounce: after the first new announcement it keeps reading until the stream has been quiet for
``quiet_seconds`` (at most ``max_burst_seconds``), then fires one event carrying the burst (at most
the newest ``MAX_ANNOUNCEMENTS_PER_EVENT``), so a burst of versions becomes one run on the newest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from include.data.announcements import CURSOR_KEY

MAX_ANNOUNCEMENTS_PER_EVENT = 100
EVENT_FIELDS = ("dataset", "sha256", "published_at")


def redis_url(conn: Any) -> str:
    """A redis:// URL from an Airflow connection (host, port, password, schema = database number)."""
    auth = f":{conn.password}@" if conn.password else ""
    return f"redis://{auth}{conn.host or '127.0.0.1'}:{conn.port or 6379}/{conn.schema or 0}"


class DatasetAnnouncementTrigger(BaseEventTrigger):
    def __init__(
        self,
        dataset: str,
        stream: str,
        redis_conn_id: str = "qflow_redis",
        quiet_seconds: float = 2.0,
        max_burst_seconds: float = 30.0,
        block_seconds: float = 5.0,
    ) -> None:
        super().__init__()
        self.dataset = dataset
        self.stream = stream
        self.redis_conn_id = redis_conn_id
        self.quiet_seconds = quiet_seconds
        self.max_burst_seconds = max_burst_seconds
        self.block_seconds = block_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "operators.triggers.dataset_announcement.DatasetAnnouncementTrigger",
            {
                "dataset": self.dataset,
                "stream": self.stream,
                "redis_conn_id": self.redis_conn_id,
                "quiet_seconds": self.quiet_seconds,
                "max_burst_seconds": self.max_burst_seconds,
                "block_seconds": self.block_seconds,
            },
        )

    async def _start_position(self) -> str:
        """Where the last run left off (the asset's state), or the stream's beginning."""
        store = self.asset_state_store
        if store is None:
            return "0-0"
        try:
            value = await store.aget(CURSOR_KEY)
        except Exception as exc:  # the state is an optimisation of where to start; never fatal
            self.log.warning(
                "could not read %s's %s (%s); reading the stream from its start", self.dataset, CURSOR_KEY, exc
            )
            return "0-0"
        return str(value) if value else "0-0"

    async def _read(self, client: Any, position: str, block_seconds: float) -> list[tuple[str, dict[str, str]]]:
        reply = await client.xread({self.stream: position}, count=1000, block=max(1, int(block_seconds * 1000)))
        entries: list[tuple[str, dict[str, str]]] = []
        for _stream, items in reply or []:
            for entry_id, fields in items:
                entries.append((_text(entry_id), {_text(k): _text(v) for k, v in fields.items()}))
        return entries

    async def _burst(self, client: Any, position: str) -> list[tuple[str, dict[str, str]]]:
        """Block for the next announcement, then keep reading until the stream is quiet."""
        burst = await self._read(client, position, self.block_seconds)
        if not burst:
            return []
        started = time.monotonic()
        while time.monotonic() - started < self.max_burst_seconds:
            more = await self._read(client, burst[-1][0], self.quiet_seconds)
            if not more:
                break
            burst.extend(more)
        return burst

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import redis.asyncio as aioredis
        from airflow.sdk import BaseHook
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        conn = await BaseHook.aget_connection(self.redis_conn_id)
        # A blocking XREAD waits up to block_seconds for data: the socket must wait longer than that.
        timeout = max(self.block_seconds, self.quiet_seconds) + 10
        client = aioredis.Redis.from_url(redis_url(conn), socket_connect_timeout=5, socket_timeout=timeout)
        position = await self._start_position()
        self.log.info("watching %s from %s for data set %s", self.stream, position, self.dataset)
        backoff = 1.0
        try:
            while True:
                try:
                    burst = await self._burst(client, position)
                except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                    # Redis away: announcements wait in the stream (or, if it lost them, the next
                    # one brings the newest version); keep trying, never fail the watcher.
                    self.log.warning("Redis unreachable for %s (%s); retrying in %.0f s", self.stream, exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                backoff = 1.0
                if not burst:
                    continue
                position = burst[-1][0]
                kept = burst[-MAX_ANNOUNCEMENTS_PER_EVENT:]
                yield TriggerEvent(
                    {
                        "dataset": self.dataset,
                        "stream": self.stream,
                        "announced": len(burst),
                        # What a run needs to find each version (the rest is derived from it),
                        # kept short: the triggerer logs every event it fires.
                        "announcements": [
                            {"stream_id": sid, "fields": {k: fields[k] for k in EVENT_FIELDS if k in fields}}
                            for sid, fields in kept
                        ],
                    }
                )
        finally:
            await client.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
