from __future__ import annotations

from dataclasses import dataclass

from include.store.artifacts import ArtifactStore
from include.store.checkpoint import LoopCheckpoint


@dataclass
class Step:
    iteration: int
    parameters: list[float]
    loss: float


def test_checkpoint_round_trips_and_ignores_other_settings(store: ArtifactStore, prefix: str) -> None:
    uri = store.uri(f"{prefix}/loop/checkpoint.json")
    settings = {"optimiser": "COBYLA", "shots": 100, "inputs": ("a", "b")}
    first = LoopCheckpoint(store, uri, settings, Step)
    assert first.load() == []
    first.append(Step(0, [0.1, 0.2], 1.5))
    first.append(Step(1, [0.3, 0.1], 1.2))
    again = LoopCheckpoint(store, uri, settings, Step)  # a retried task
    assert again.load() == [Step(0, [0.1, 0.2], 1.5), Step(1, [0.3, 0.1], 1.2)]
    other = LoopCheckpoint(store, uri, {**settings, "shots": 200}, Step)  # different work
    assert other.load() == []
