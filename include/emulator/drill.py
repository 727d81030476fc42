"""The chaos drill's checks (dags/fallback_drill.py): inject a fault into the local job service,
then verify the run degraded as designed — the expected tier, the expected number of jobs, no
spend beyond what those jobs could cost, no reservation left held, a complete and labelled result.

``check_scenario`` reads the result through the store the operators wrote it with (the task passes
the one from ``ArtifactStoreHook``) and the scenario's reservation from the spend ledger the
operators reserved in; ``scenario_problems`` is the judgement itself, on what was read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from include.governance.budget import SpendLedger
from include.governance.policy import Policy, load_policy
from include.store.artifacts import ArtifactRef

if TYPE_CHECKING:
    import pandas as pd

    from include.store.artifacts import ArtifactStore

EPSILON = 1e-12


@dataclass(frozen=True)
class Expectation:
    """What a scenario must do: the tier that produces the result, how many jobs may reach the
    service (``min_jobs``..``max_jobs``), and whether admission must refuse the reservation."""

    tier: int
    min_jobs: int = 0
    max_jobs: int = 1
    refused: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.min_jobs <= self.max_jobs:
            raise ValueError(f"min_jobs={self.min_jobs}, max_jobs={self.max_jobs}: need 0 <= min_jobs <= max_jobs")
        if self.refused and self.max_jobs:
            raise ValueError("a refused reservation submits nothing: set max_jobs=0 with refused=True")


def service_url() -> str:
    url = os.environ.get("QFLOW_JOBSERVICE_URL")
    if not url:
        raise RuntimeError("QFLOW_JOBSERVICE_URL is not set: start the job service (make up) and export its URL")
    return url.rstrip("/")


def job_count(url: str | None = None) -> int:
    return int(httpx.get(f"{(url or service_url()).rstrip('/')}/admin/stats", timeout=10).json()["jobs"]["total"])


def inject_faults(faults: Mapping[str, Any], url: str | None = None) -> int:
    httpx.put(f"{(url or service_url()).rstrip('/')}/admin/faults", json=dict(faults), timeout=10).raise_for_status()
    return job_count(url)


def scenario_problems(
    expected: Expectation,
    manifest: Mapping[str, Any],
    table: pd.DataFrame,
    *,
    jobs_submitted: int,
    shots: int,
    environment: str,
    ledger: SpendLedger,
    policy: Policy,
) -> list[str]:
    """Everything wrong with one scenario's outcome (empty: it degraded as designed)."""
    params = manifest.get("params") or {}
    label = params.get("fallback") or {}
    problems = []
    if label.get("tier") != expected.tier:
        problems.append(f"expected tier {expected.tier}, got {label.get('tier')} ({label.get('reason')})")
    if not label.get("reason") or not label.get("attempts"):
        problems.append(f"result is not labelled with its reason and attempts: {label}")
    counted = int(table["count"].sum()) if "count" in table else 0
    if counted != shots:
        problems.append(f"counts sum to {counted}, not {shots}")
    if not expected.min_jobs <= jobs_submitted <= expected.max_jobs:
        allowed = (
            str(expected.max_jobs)
            if expected.min_jobs == expected.max_jobs
            else f"{expected.min_jobs}..{expected.max_jobs}"
        )
        problems.append(f"{jobs_submitted} job(s) reached the service; this scenario allows {allowed}")

    # Spend: what this scenario's reservation holds against what its jobs could have cost.
    key = params.get("idempotency_key")
    backend = params.get("requested_backend") or params.get("backend")
    if not key or not backend:
        problems.append("the result's manifest names no idempotency_key/requested_backend: cannot check its spend")
        return problems
    name, budget = policy.environment(environment)
    job_cost = policy.cost_model(str(backend)).estimate(shots)
    row = ledger.reservation(str(key))
    held = row.held if row is not None else 0.0
    if row is not None and row.state == "RESERVED":
        problems.append(
            f"reservation {row.key[:12]} is still RESERVED after the run ({row.estimated_cost:g} held): "
            "it was neither settled nor released"
        )
    could_have_spent = jobs_submitted * job_cost
    if held > could_have_spent + EPSILON:
        problems.append(
            f"reservation {str(key)[:12]} holds {held:g} ({row.state if row else '-'}) but {jobs_submitted} job(s) "
            f"of {job_cost:g} could cost at most {could_have_spent:g}"
        )
    if expected.refused:
        if row is not None and row.state != "RELEASED":
            problems.append(f"admission should have refused the reservation, but it is {row.state} ({held:g} held)")
        if "budget" not in str(label.get("reason", "")).lower():
            problems.append(f"expected a budget refusal, the result's reason is {label.get('reason')!r}")
    usage = ledger.usage(name)
    if usage.spend_today > budget.spend_per_day + EPSILON:
        problems.append(f"{name} spent {usage.spend_today:g} today of a {budget.spend_per_day:g} daily budget")
    if usage.spend_month > budget.spend_per_month + EPSILON:
        problems.append(f"{name} spent {usage.spend_month:g} this month of a {budget.spend_per_month:g} budget")
    return problems


def check_scenario(
    scenario: str,
    result: Mapping[str, Any],
    jobs_before: int,
    expected: Expectation,
    shots: int,
    environment: str,
    *,
    store: ArtifactStore,
    ledger: SpendLedger | None = None,
    policy: Policy | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """Lift the fault, then judge the scenario; raises AssertionError listing every problem."""
    inject_faults({}, url)  # lift the fault
    ref = ArtifactRef.from_xcom(result)
    manifest = store.read_manifest(ref.uri)  # complete: it has a manifest, and reading verifies it
    table = store.read_table(ref)
    submitted = job_count(url) - jobs_before
    problems = scenario_problems(
        expected,
        manifest,
        table,
        jobs_submitted=submitted,
        shots=shots,
        environment=environment,
        ledger=ledger or SpendLedger(),
        policy=policy or load_policy(),
    )
    if problems:
        raise AssertionError(f"drill scenario {scenario!r} failed: " + "; ".join(problems))
    label = manifest["params"]["fallback"]
    return {"scenario": scenario, "tier": label["tier"], "jobs_submitted": submitted, "reason": label["reason"][:200]}
