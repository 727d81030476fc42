"""The parsed policy is cached per file version: one load per task, reloaded when the file changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import include.governance.policy as policy_module
from include.governance.budget import Admission, SpendLedger
from include.governance.policy import PolicyError, clear_policy_cache, current_environment_name, load_policy

POLICY_TEXT = (Path(__file__).resolve().parents[3] / "include" / "governance" / "policy.yaml").read_text()


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_TEXT)
    return path


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every real read + validation of a policy file, in order."""
    clear_policy_cache()
    seen: list[Path] = []
    real = policy_module._parse_policy

    def counting(source: Path) -> policy_module.Policy:
        seen.append(source)
        return real(source)

    monkeypatch.setattr(policy_module, "_parse_policy", counting)
    return seen


def _bump_mtime(path: Path) -> None:
    """Move the file's mtime on by a second: an edit within the clock's granularity still counts."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_repeated_loads_parse_the_file_once(policy_file: Path, parses: list[Path]) -> None:
    first = load_policy(policy_file)
    assert all(load_policy(policy_file) is first for _ in range(5))
    assert parses == [policy_file]


def test_a_task_loading_through_every_caller_parses_once(
    policy_file: Path, parses: list[Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QFLOW_POLICY_FILE", str(policy_file))
    ledger = SpendLedger(f"sqlite:///{tmp_path / 'spend.sqlite'}")
    policy = load_policy()  # as operators.operators.policy.environment_admission builds it
    admission = Admission(policy, current_environment_name(policy, None), ledger)
    admission.admit("key-1", "aer:statevector", 1024)
    Admission(load_policy(), admission.environment_name, ledger).settle("key-1", "aer:statevector", 1024, 0.01)
    assert parses == [policy_file]


def test_a_changed_file_is_reloaded(policy_file: Path, parses: list[Path]) -> None:
    assert load_policy(policy_file).alert_fraction == 0.8
    policy_file.write_text(POLICY_TEXT.replace("alert_fraction: 0.8", "alert_fraction: 0.9", 1))
    _bump_mtime(policy_file)  # same size: only the mtime tells the versions apart
    assert load_policy(policy_file).alert_fraction == 0.9
    policy_file.write_text(POLICY_TEXT.replace("alert_fraction: 0.8", "alert_fraction: 0.75", 1))  # size differs
    assert load_policy(policy_file).alert_fraction == 0.75
    assert len(parses) == 3


def test_a_replaced_file_is_reloaded(policy_file: Path, parses: list[Path], tmp_path: Path) -> None:
    """An atomic replace (write elsewhere, rename over) is a new file even with the same size and mtime."""
    before = load_policy(policy_file)
    replacement = tmp_path / "policy.yaml.new"
    replacement.write_text(POLICY_TEXT.replace("alert_fraction: 0.8", "alert_fraction: 0.9", 1))
    stat = policy_file.stat()
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, policy_file)
    after = load_policy(policy_file)
    assert after is not before and after.alert_fraction == 0.9


def test_a_bad_file_still_errors_naming_the_field_and_is_not_cached(policy_file: Path, parses: list[Path]) -> None:
    good = load_policy(policy_file)
    policy_file.write_text(POLICY_TEXT.replace("shots_per_job: 200000", "shots_per_job: -5", 1))
    _bump_mtime(policy_file)
    for _ in range(2):  # the error is raised every time, never served from the cache
        with pytest.raises(PolicyError, match=r"environments\.dev\.shots_per_job"):
            load_policy(policy_file)
    policy_file.write_text(POLICY_TEXT)
    _bump_mtime(policy_file)
    restored = load_policy(policy_file)
    assert restored is not good and restored.environment("dev")[1].shots_per_job == 200000
    assert len(parses) == 4


def test_a_deleted_file_errors(policy_file: Path, parses: list[Path]) -> None:
    load_policy(policy_file)
    policy_file.unlink()
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(policy_file)


def test_the_cache_can_be_bypassed(policy_file: Path, parses: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    load_policy(policy_file, cache=False)
    load_policy(policy_file, cache=False)
    monkeypatch.setenv("QFLOW_POLICY_CACHE", "0")
    load_policy(policy_file)
    assert len(parses) == 3
    monkeypatch.delenv("QFLOW_POLICY_CACHE")
    load_policy(policy_file)
    load_policy(policy_file)
    assert len(parses) == 4
