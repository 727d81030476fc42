from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from include.governance.budget import SpendLedger
from include.governance.policy import load_policy
from include.governance.readiness import ChecklistItem, readiness_checklist
from include.store.artifacts import ArtifactRef, ArtifactStore
from operators.operators.policy import approval_branch


@pytest.mark.parametrize(
    ("environment", "backend", "expected"),
    [("prod", "ibm:fake_manila", "approve"), ("prod", "aer", "sample"), ("dev", "aer:fake_manila", "sample")],
)
def test_approval_gate_follows_the_policy_of_the_environment(
    monkeypatch: pytest.MonkeyPatch, environment: str, backend: str, expected: str
) -> None:
    monkeypatch.setenv("QFLOW_ENVIRONMENT", environment)
    assert approval_branch(backend, "approve", "sample") == expected


def test_readiness_checklist_reports_each_item_with_evidence(store: ArtifactStore, prefix: str, tmp_path: Path) -> None:
    validation = store.put_table(
        prefix, "validation", pd.DataFrame({"ok": [True]}), stage="validate", measurements={"success": True}
    )
    failed_validation = store.put_table(
        prefix, "bad", pd.DataFrame({"ok": [False]}), stage="validate", measurements={"success": False}
    )
    baseline = store.put_table(
        prefix, "baselines", pd.DataFrame({"method": ["greedy"], "cut": [3.0]}), stage="baselines"
    )
    spend = SpendLedger(f"sqlite:///{tmp_path / 'spend.sqlite'}")

    def check(validated: ArtifactRef, tiers: tuple[int, ...], shots: int = 1000) -> list[ChecklistItem]:
        return readiness_checklist(
            store,
            validation=validated,
            baseline=baseline,
            policy=load_policy(),
            environment_name="prod",
            backend="ibm:ibm_brisbane",
            shots=shots,
            fallback_tiers=tiers,
            spend=spend,
        )

    ready = check(validation, (1, 2))
    assert [i.item for i in ready] == [
        "validated inputs",
        "measured classical baseline",
        "approved budget",
        "recorded rollback plan",
    ]
    assert all(i.passed for i in ready), ready
    assert [i.passed for i in check(failed_validation, (1,))] == [False, True, True, False]
    too_big = check(validation, (1, 2), shots=500_000)
    assert not too_big[2].passed and "estimated cost" in too_big[2].evidence
