"""The code version in manifests: from QFLOW_GIT_SHA, else the git checkout, else plainly unknown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from include.store import versions
from include.store.artifacts import ArtifactStore


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    versions._git_commit.cache_clear()
    yield
    versions._git_commit.cache_clear()


def no_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As in an image without a build argument: no QFLOW_GIT_SHA, no git to ask."""
    monkeypatch.delenv("QFLOW_GIT_SHA", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))


def test_the_commit_comes_from_qflow_git_sha_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_git(monkeypatch, tmp_path)
    monkeypatch.setenv("QFLOW_GIT_SHA", "0123abcd" * 5)
    version = versions.code_version()
    assert version["git"] == "0123abcd" * 5 and version["git_source"] == "QFLOW_GIT_SHA"
    assert versions.code_version_known()


def test_the_git_checkout_is_asked_without_qflow_git_sha(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QFLOW_GIT_SHA", raising=False)
    version = versions.code_version()
    assert len(version["git"]) == 40 and version["git_source"] == "git checkout"


@pytest.mark.parametrize("sha", [None, "", "unknown"])
def test_an_unknown_version_says_so_in_the_manifest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store: ArtifactStore, prefix: str, sha: str | None
) -> None:
    no_git(monkeypatch, tmp_path)
    if sha is not None:
        monkeypatch.setenv("QFLOW_GIT_SHA", sha)
    assert not versions.code_version_known()
    ref = store.put_table(prefix, "t", pd.DataFrame({"x": [1]}), stage="test")
    recorded = store.read_manifest(ref.uri)["code_version"]
    assert recorded["git"] == "unknown"
    assert recorded["git_source"].startswith("unknown: QFLOW_GIT_SHA is not set")
    assert "docker compose up --build" in recorded["git_source"]
