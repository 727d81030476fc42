"""The chaos drill's checks must be able to fail: fake scenario outcomes (a leaked reservation, a
refused reservation that still holds budget, a job where none may go, spend beyond what the jobs
could cost) against the real spend ledger (SQLite under tmp_path) and the real policy; and once
end to end through the real store (SeaweedFS) and a real job service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from include.emulator.drill import Expectation, check_scenario, scenario_problems
from include.emulator.process import JobServiceProcess
from include.governance.budget import BudgetExceeded, SpendLedger
from include.governance.policy import Policy, load_policy
from include.store.artifacts import ArtifactStore

SHOTS = 256
BACKEND = "jobservice:fake_manila"


@pytest.fixture
def policy() -> Policy:
    return load_policy()


@pytest.fixture
def ledger(tmp_path: Path) -> SpendLedger:
    return SpendLedger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


def manifest(key: str, tier: int = 2, reason: str = "classical heuristic after: 503 outage") -> dict[str, Any]:
    return {
        "params": {
            "backend": "classical",
            "requested_backend": BACKEND,
            "idempotency_key": key,
            "fallback": {"tier": tier, "reason": reason, "attempts": [{"tier": 1, "outcome": "failed"}]},
        }
    }


DEFAULT = Expectation(tier=2)
TABLE = pd.DataFrame({"bitstring": ["0101"], "count": [SHOTS]})


def reserve(ledger: SpendLedger, policy: Policy, key: str, environment: str = "dev") -> float:
    name, env = policy.environment(environment)
    return ledger.reserve(
        key, environment_name=name, environment=env, backend=BACKEND, shots=SHOTS, cost_model=policy.cost_model(BACKEND)
    ).estimated_cost


def problems(
    ledger: SpendLedger,
    policy: Policy,
    key: str,
    *,
    expected: Expectation = DEFAULT,
    jobs: int = 0,
    environment: str = "dev",
    **manifest_kwargs: Any,
) -> list[str]:
    return scenario_problems(
        expected,
        manifest(key, **manifest_kwargs),
        TABLE,
        jobs_submitted=jobs,
        shots=SHOTS,
        environment=environment,
        ledger=ledger,
        policy=policy,
    )


def test_a_scenario_that_degraded_as_designed_passes(ledger: SpendLedger, policy: Policy) -> None:
    assert problems(ledger, policy, "never-reserved") == []  # fell back before admission
    reserve(ledger, policy, "released")
    ledger.release("released")
    assert problems(ledger, policy, "released") == []  # submit failed: reservation given back
    cost = reserve(ledger, policy, "settled")
    ledger.settle("settled", cost)
    assert problems(ledger, policy, "settled", jobs=1) == []  # one job ran, paid for once


def test_a_reservation_left_held_fails_the_check(ledger: SpendLedger, policy: Policy) -> None:
    reserve(ledger, policy, "leaked")  # neither settled nor released
    found = problems(ledger, policy, "leaked")
    assert any("still RESERVED" in p for p in found), found
    assert any("could cost at most 0" in p for p in found), found
    # Even with its one job: RESERVED after the run is a leak.
    assert any("still RESERVED" in p for p in problems(ledger, policy, "leaked", jobs=1))


def test_spend_beyond_what_the_jobs_could_cost_fails(ledger: SpendLedger, policy: Policy) -> None:
    cost = reserve(ledger, policy, "overcharged")
    ledger.settle("overcharged", cost * 3)
    found = problems(ledger, policy, "overcharged", jobs=1)
    assert any("could cost at most" in p for p in found), found
    # Settled although no job reached the service.
    cost = reserve(ledger, policy, "phantom")
    ledger.settle("phantom", cost)
    assert any("0 job(s)" in p for p in problems(ledger, policy, "phantom", jobs=0))


def test_the_budget_scenario_requires_zero_jobs_and_a_refusal(ledger: SpendLedger, policy: Policy) -> None:
    expected = Expectation(tier=2, max_jobs=0, refused=True)
    name, environment = policy.environment("drill_exhausted")
    with pytest.raises(BudgetExceeded):  # the real refusal leaves no row
        reserve(ledger, policy, "refused", "drill_exhausted")
    assert ledger.reservation("refused") is None
    reason = "classical heuristic after: BudgetExceeded: [quota] drill_exhausted: spend today budget 0.001"
    ok = problems(ledger, policy, "refused", expected=expected, environment="drill_exhausted", reason=reason)
    assert ok == []
    # One job accepted where the right number is zero.
    found = problems(ledger, policy, "refused", expected=expected, jobs=1, environment="drill_exhausted", reason=reason)
    assert any("1 job(s) reached the service; this scenario allows 0" in p for p in found), found
    # A "refusal" that still holds an amount (reserved in dev to get a row at all).
    reserve(ledger, policy, "held")
    found = problems(ledger, policy, "held", expected=expected, environment="drill_exhausted", reason=reason)
    assert any("should have refused the reservation, but it is RESERVED" in p for p in found), found
    # Degraded to tier 2, but not because of the budget.
    found = problems(ledger, policy, "refused", expected=expected, environment="drill_exhausted")
    assert any("expected a budget refusal" in p for p in found), found
    assert environment.spend_per_day < policy.cost_model(BACKEND).estimate(SHOTS), name  # nothing fits


def test_wrong_tier_missing_label_short_counts_and_too_few_jobs_fail(ledger: SpendLedger, policy: Policy) -> None:
    found = scenario_problems(
        Expectation(tier=2, min_jobs=1),
        {"params": {"fallback": {"tier": 1}, "idempotency_key": "k", "requested_backend": BACKEND}},
        TABLE.assign(count=[SHOTS - 1]),
        jobs_submitted=0,
        shots=SHOTS,
        environment="dev",
        ledger=ledger,
        policy=policy,
    )
    text = "; ".join(found)
    for expected in ("expected tier 2, got 1", "not labelled", f"counts sum to {SHOTS - 1}", "this scenario allows 1"):
        assert expected in text, text
    with pytest.raises(ValueError, match="max_jobs=0"):
        Expectation(tier=2, max_jobs=1, refused=True)


def test_check_scenario_reads_the_given_store_and_fails_on_a_leak(
    store: ArtifactStore, prefix: str, ledger: SpendLedger, policy: Policy, tmp_path: Path
) -> None:
    leaked = store.put_table(prefix, "leaked_submit", TABLE, stage="quantum_submit", params=manifest("leak")["params"])
    clean = store.put_table(prefix, "clean_submit", TABLE, stage="quantum_submit", params=manifest("clean")["params"])
    reserve(ledger, policy, "leak")
    with JobServiceProcess(tmp_path / "jobs.sqlite") as service:
        args: dict[str, Any] = dict(store=store, ledger=ledger, policy=policy, url=service.url)
        verdict = check_scenario("outage", clean.to_xcom(), 0, Expectation(tier=2, max_jobs=0), SHOTS, "dev", **args)
        assert verdict == {
            "scenario": "outage",
            "tier": 2,
            "jobs_submitted": 0,
            "reason": manifest("x")["params"]["fallback"]["reason"],
        }
        with pytest.raises(AssertionError, match="still RESERVED"):
            check_scenario("outage", leaked.to_xcom(), 0, Expectation(tier=2, max_jobs=0), SHOTS, "dev", **args)
