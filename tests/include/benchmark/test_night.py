"""What the nightly tasks hand each other (include/benchmark/night.py): refs to stored documents."""

from __future__ import annotations

import pytest

from include.benchmark.night import DOCUMENT, put_document, read_document
from include.store.artifacts import ArtifactStore, TamperedArtifactError, canonical_json


def test_a_document_round_trips_through_a_small_ref(store: ArtifactStore, prefix: str) -> None:
    document = {"batch": 3, "experiment_ids": list(range(500)), "spec": "aer:statevector"}
    ref = put_document(store, prefix, "batch-00003", document, stage="plan")
    assert set(ref) == {"uri", "sha256", "manifest_uri"}
    assert len(canonical_json(ref)) < 300 < len(canonical_json(document))
    assert read_document(store, ref) == document


def test_a_changed_document_is_refused(store: ArtifactStore, prefix: str) -> None:
    ref = put_document(store, prefix, "plan", {"to_run": 4}, stage="plan")
    attachment = str(ref["uri"]).rsplit("/", 1)[0] + f"/{DOCUMENT}"
    store.put_bytes(attachment, canonical_json({"to_run": 0}))
    with pytest.raises(TamperedArtifactError):
        read_document(store, ref)
