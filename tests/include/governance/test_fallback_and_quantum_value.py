from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from include.governance.budget import BudgetExceeded
from include.governance.fallback import FallbackTier, QueueSLAExceeded, run_tiers
from include.governance.policy import QuantumValuePolicy
from include.governance.quantum_value import QuantumValueRecord
from include.quantum.backends.errors import (
    AuthQuantumError,
    StructuralQuantumError,
    TransientQuantumError,
    from_http_status,
)


def fail(exc: Exception) -> Callable[[], str]:
    def quantum() -> str:
        raise exc

    return quantum


@pytest.mark.parametrize(
    "trigger",
    [
        from_http_status(503, "outage"),
        TransientQuantumError("gave up after 5 attempts: 429"),
        BudgetExceeded("spend today budget 1, already used 1, this job needs 0.1"),
        QueueSLAExceeded("queued 900 s, SLA 600 s"),
    ],
    ids=["outage", "retries-exhausted", "budget", "queue-sla"],
)
def test_each_trigger_falls_back_to_the_classical_tier_with_its_reason(trigger: Exception) -> None:
    outcome = run_tiers(quantum=fail(trigger), classical=lambda: "heuristic cut 13")
    assert outcome.tier is FallbackTier.CLASSICAL and outcome.value == "heuristic cut 13"
    assert outcome.attempts[0].tier is FallbackTier.QUANTUM and outcome.attempts[0].outcome == "failed"
    assert type(trigger).__name__ in outcome.reason
    assert outcome.label()["tier_name"] == "classical"


@pytest.mark.parametrize("loud", [StructuralQuantumError("invalid circuit"), AuthQuantumError("bad token")])
def test_structural_and_auth_errors_are_never_papered_over(loud: Exception) -> None:
    with pytest.raises(type(loud)):
        run_tiers(quantum=fail(loud), classical=lambda: "never used")


def test_tiers_cascade_to_cached_then_pending_and_honour_the_configuration() -> None:
    queued: list[str] = []
    outage = from_http_status(503)
    cached = run_tiers(quantum=fail(outage), classical=lambda: None, cached=lambda: "stored result")
    assert cached.tier is FallbackTier.CACHED and [a.outcome for a in cached.attempts] == ["failed", "unavailable"]
    pending = run_tiers(quantum=fail(outage), classical=lambda: None, cached=lambda: None, pending=queued.append)
    assert pending.pending and pending.value is None and len(queued) == 1 and "503" in queued[0]
    only_quantum_and_pending = run_tiers(
        quantum=fail(outage),
        classical=lambda: "x",
        pending=queued.append,
        tiers=(FallbackTier.QUANTUM, FallbackTier.PENDING),
    )
    assert only_quantum_and_pending.pending
    with pytest.raises(TransientQuantumError, match="every configured fallback tier was exhausted"):
        run_tiers(quantum=fail(outage), tiers=(FallbackTier.QUANTUM,))
    assert run_tiers(quantum=lambda: "q").tier is FallbackTier.QUANTUM


def test_quantum_value_routes_to_classical_after_n_useless_runs_and_probes_one_in_k(tmp_path: Path) -> None:
    record = QuantumValueRecord(f"sqlite:///{tmp_path / 'qv.sqlite'}")
    policy = QuantumValuePolicy(window=3, min_value_added=0.0, probe_every=3)
    assert record.decide("maxcut-10", "r0", policy).route == "quantum"  # nothing measured yet
    for i in range(3):
        record.record("maxcut-10", f"r{i}", quantum_objective=12.0, classical_objective=13.0)
    routes = [record.decide("maxcut-10", f"d{i}", policy).route for i in range(6)]
    assert routes == ["classical", "classical", "probe", "classical", "classical", "probe"]
    decision = record.decide("maxcut-10", "d7", policy)
    assert "added nothing" in decision.reason and not decision.use_quantum
    record.record("maxcut-10", "r9", quantum_objective=14.0, classical_objective=13.0)  # a better backend appears
    assert record.decide("maxcut-10", "d8", policy).route == "quantum"
    assert record.decide("other-workload", "d9", policy).route == "quantum"
