"""The control loop's state in S3: every evaluation's record, the job in flight, the open context.

A loop (QAOA, VQC) whose task is retried, resumed after a deferral, or continued by another run
(``resume_from``) picks up from its checkpoint — but only when the settings it was saved under
(the loop's identity: problem, optimiser, seed, input hashes) are the same. ``pending`` is the job
an evaluation submitted and is waiting on (the task deferred); ``context`` the provider context
(an IBM session) the loop keeps open between evaluations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any, Generic, TypeVar

from include.store.artifacts import ArtifactStore

R = TypeVar("R")


class LoopCheckpoint(Generic[R]):
    def __init__(
        self, store: ArtifactStore, uri: str, settings: Mapping[str, Any], record_type: Callable[..., R]
    ) -> None:
        self.store = store
        self.uri = uri
        self.settings = json.loads(json.dumps(dict(settings), default=str))  # as it round-trips
        self.record_type = record_type
        self.history: list[R] = []
        self.pending: dict[str, Any] | None = None
        self.context: dict[str, Any] = {}
        self.writes = 0  # how many times the checkpoint was written (the bench counts them)

    def saved_settings(self) -> dict[str, Any] | None:
        if not self.store.exists(self.uri):
            return None
        return dict(json.loads(self.store.get_bytes(self.uri)).get("settings") or {})

    def load(self) -> list[R]:
        """Records saved under the same settings (empty if none, or saved under other settings)."""
        self.history, self.pending, self.context = [], None, {}
        if self.store.exists(self.uri):
            saved = json.loads(self.store.get_bytes(self.uri))
            if saved.get("settings") == self.settings:
                self.history = [self.record_type(**r) for r in saved["iterations"]]
                self.pending = saved.get("pending")
                self.context = dict(saved.get("context") or {})
        return list(self.history)

    def append(self, record: R, *, save: bool = True) -> None:
        self.history.append(record)
        if save:
            self.save()

    def save(self) -> None:
        state = {
            "settings": self.settings,
            "iterations": [asdict(r) for r in self.history],  # type: ignore[call-overload]
            "pending": self.pending,
            "context": self.context,
        }
        self.store.put_bytes(self.uri, json.dumps(state).encode(), content_type="application/json")
        self.writes += 1
