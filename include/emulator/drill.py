"""The chaos drill's checks (dags/fallback_drill.py): inject a fault into the local job service,
then verify the run degraded as designed — the expected tier, one job at most, no overspend, a
complete and labelled result."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx

from include.governance.budget import SpendLedger
from include.governance.policy import load_policy
from include.store.artifacts import ArtifactRef
from include.store.config import s3_client, s3_settings_from_env


def service_url() -> str:
    url = os.environ.get("QFLOW_JOBSERVICE_URL")
    if not url:
        raise RuntimeError("QFLOW_JOBSERVICE_URL is not set: start the job service (make up) and export its URL")
    return url.rstrip("/")


def job_count() -> int:
    return int(httpx.get(f"{service_url()}/admin/stats", timeout=10).json()["jobs"]["total"])


def inject_faults(faults: Mapping[str, Any]) -> int:
    httpx.put(f"{service_url()}/admin/faults", json=dict(faults), timeout=10).raise_for_status()
    return job_count()


def check_scenario(
    scenario: str, result: Mapping[str, Any], jobs_before: int, expected_tier: int, shots: int, environment: str
) -> dict[str, Any]:
    from include.store.artifacts import ArtifactStore

    httpx.put(f"{service_url()}/admin/faults", json={}, timeout=10).raise_for_status()  # lift the fault
    settings = s3_settings_from_env()
    store = ArtifactStore(s3_client(settings), settings.bucket)
    ref = ArtifactRef.from_xcom(result)
    manifest = store.read_manifest(ref.uri)  # complete: it has a manifest, and reading verifies it
    table = store.read_table(ref)
    label = manifest["params"].get("fallback") or {}
    problems = []
    if label.get("tier") != expected_tier:
        problems.append(f"expected tier {expected_tier}, got {label.get('tier')} ({label.get('reason')})")
    if not label.get("reason") or not label.get("attempts"):
        problems.append(f"result is not labelled with its reason and attempts: {label}")
    if int(table["count"].sum()) != shots:
        problems.append(f"counts sum to {int(table['count'].sum())}, not {shots}")
    submitted = job_count() - jobs_before
    if submitted > 1:
        problems.append(f"{submitted} jobs reached the service for one submission")
    policy = load_policy()
    _, budget = policy.environment(environment)
    usage = SpendLedger().usage(environment)
    if usage.spend_today > budget.spend_per_day + 1e-12:
        problems.append(f"spent {usage.spend_today:g} of a {budget.spend_per_day:g} daily budget")
    if problems:
        raise AssertionError(f"drill scenario {scenario!r} failed: " + "; ".join(problems))
    return {"scenario": scenario, "tier": label["tier"], "jobs_submitted": submitted, "reason": label["reason"][:200]}
