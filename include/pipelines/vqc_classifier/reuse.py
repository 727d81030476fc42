"""Content-addressed preprocessing reuse: the key (raw table hash, preprocessing params, code
version) and the index under ``cache/preprocess/``, honoured only if every artifact still verifies."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from include.store.artifacts import ArtifactError, ArtifactRef, ArtifactStore, canonical_json, sha256_hex
from include.store.versions import code_version

log = logging.getLogger(__name__)

REUSE_DISABLED = "disabled: code version unknown, so the reuse key cannot see code changes; set QFLOW_GIT_SHA"


def reuse_key(inputs: list[ArtifactRef], params: Mapping[str, Any]) -> str:
    """Content address of a stage: its inputs' SHA-256s, its parameters and the code commit."""
    document = {
        "inputs": sorted(ref.sha256 for ref in inputs),
        "params": dict(params),
        "code": code_version()["git"],
    }
    return sha256_hex(canonical_json(document))


def _verified_ref(store: ArtifactStore, value: Mapping[str, Any]) -> ArtifactRef | None:
    """The ref if its manifest exists and its object still hashes to what both record."""
    try:
        ref = ArtifactRef.from_xcom(value)
        manifest = store.read_manifest(ref.uri)
        if manifest["artifact"]["sha256"] != ref.sha256:
            return None
        if sha256_hex(store.get_bytes(manifest["artifact"]["uri"])) != ref.sha256:
            return None
        for entry in manifest["files"]:
            if sha256_hex(store.get_bytes(entry["uri"])) != entry["sha256"]:
                return None
    except ArtifactError:
        return None
    return ref


def lookup_reuse(store: ArtifactStore, index_uri: str) -> dict[str, ArtifactRef] | None:
    if not store.exists(index_uri):
        return None
    try:
        entry = json.loads(store.get_bytes(index_uri))
        refs = {name: _verified_ref(store, value) for name, value in entry["artifacts"].items()}
    except (ValueError, KeyError, AttributeError, ArtifactError):
        log.warning("reuse index %s is unreadable; recomputing", index_uri)
        return None
    if any(ref is None for ref in refs.values()):
        log.warning("reuse index %s points at a missing or changed artifact; recomputing", index_uri)
        return None
    return {name: ref for name, ref in refs.items() if ref is not None}
