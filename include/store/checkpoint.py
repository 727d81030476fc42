"""The control loop's state in S3: every iteration's record, rewritten after each iteration.

A loop (QAOA, VQC) whose task is retried resumes from its checkpoint — but only when the
settings it was saved under (optimiser, budget, shots, seed, input hashes) are the same.
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

    def load(self) -> list[R]:
        """Records saved under the same settings (empty if none, or saved under other settings)."""
        self.history = []
        if self.store.exists(self.uri):
            saved = json.loads(self.store.get_bytes(self.uri))
            if saved.get("settings") == self.settings:
                self.history = [self.record_type(**r) for r in saved["iterations"]]
        return list(self.history)

    def append(self, record: R) -> None:
        self.history.append(record)
        state = {"settings": self.settings, "iterations": [asdict(r) for r in self.history]}  # type: ignore[call-overload]
        self.store.put_bytes(self.uri, json.dumps(state).encode(), content_type="application/json")
