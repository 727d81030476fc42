"""The hardware-readiness checklist, answered from artifacts before any premium submission:
validated inputs, a measured classical baseline, an approved budget, a recorded rollback plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from include.governance.budget import SpendLedger
from include.governance.policy import Policy
from include.store.artifacts import ArtifactError, ArtifactRef, ArtifactStore


@dataclass(frozen=True)
class ChecklistItem:
    item: str
    passed: bool
    evidence: str


def readiness_checklist(
    store: ArtifactStore,
    *,
    validation: ArtifactRef,
    baseline: ArtifactRef,
    policy: Policy,
    environment_name: str,
    backend: str,
    shots: int,
    fallback_tiers: Sequence[int],
    spend: SpendLedger,
) -> list[ChecklistItem]:
    items: list[ChecklistItem] = []
    try:
        validated = store.read_manifest(validation.uri)
        ok = validated["stage"] == "validate" and bool(validated["measurements"].get("success"))
        items.append(ChecklistItem("validated inputs", ok, f"{validation.uri} success={ok}"))
    except ArtifactError as exc:
        items.append(ChecklistItem("validated inputs", False, str(exc)))
    try:
        rows = len(store.read_table(baseline))
        items.append(ChecklistItem("measured classical baseline", rows > 0, f"{baseline.uri}: {rows} method(s)"))
    except ArtifactError as exc:
        items.append(ChecklistItem("measured classical baseline", False, str(exc)))
    name, environment = policy.environment(environment_name)
    cost = policy.cost_model(backend).estimate(shots)
    used = spend.usage(name)
    fits = (
        environment.allows(backend)
        and shots <= environment.shots_per_job
        and used.spend_today + cost <= environment.spend_per_day
        and used.spend_month + cost <= environment.spend_per_month
    )
    items.append(
        ChecklistItem(
            "approved budget",
            fits,
            f"{name}: estimated cost {cost:g}; spent today {used.spend_today:g} of {environment.spend_per_day:g}, "
            f"this month {used.spend_month:g} of {environment.spend_per_month:g}; backend allowed: "
            f"{environment.allows(backend)}",
        )
    )
    later = [t for t in fallback_tiers if t > 1]
    items.append(
        ChecklistItem(
            "recorded rollback plan",
            bool(later),
            f"fallback tiers after quantum: {later}" if later else "no fallback tier configured after quantum",
        )
    )
    return items


def checklist_frame(items: Sequence[ChecklistItem]) -> pd.DataFrame:
    return pd.DataFrame(
        {"item": [i.item for i in items], "passed": [i.passed for i in items], "evidence": [i.evidence for i in items]}
    )
