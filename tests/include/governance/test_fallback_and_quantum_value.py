from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.governance.budget import BudgetExceeded
from include.governance.fallback import FallbackTier, QueueSLAExceeded, run_tiers
from include.governance.ledger import ledger_engine
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


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty ledger database: SQLite under tmp_path, or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    admin = sa.create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    name = f"qflow_qv_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except Exception as exc:
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432 ({type(exc).__name__}); the CI machine has one")
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    yield url
    ledger_engine(url).dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def rows(url: str, table: str) -> list[tuple[str, str, float]]:
    column = "value_added" if table == "qflow_quantum_value" else "route"
    with ledger_engine(url).connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(f"select workload, run_id, {column} from {table}")).all()]


def test_a_retried_aggregate_replaces_its_runs_record_instead_of_counting_twice(ledger_url: str) -> None:
    record = QuantumValueRecord(ledger_url)
    policy = QuantumValuePolicy(window=2, min_value_added=0.0, probe_every=3)
    record.record("w", "run-1", quantum_objective=12.0, classical_objective=13.0)
    assert record.decide("w", "d-once", policy).route == "quantum"  # one of two runs recorded
    record.record("w", "run-1", quantum_objective=12.0, classical_objective=13.0)  # the retried aggregate
    assert rows(ledger_url, "qflow_quantum_value") == [("w", "run-1", -1.0)]
    assert record.recent("w", 10) == [-1.0]
    # Had the retry counted, the window (2) would be full of "nothing added" and route to classical.
    assert record.decide("w", "d-after-retry", policy).route == "quantum"
    record.record("w", "run-1", quantum_objective=14.0, classical_objective=13.0)  # a re-record replaces
    assert record.recent("w", 10) == [1.0]
    record.record("w", "run-2", quantum_objective=12.0, classical_objective=13.0)
    record.record("other", "run-1", quantum_objective=1.0, classical_objective=1.0)
    assert sorted(rows(ledger_url, "qflow_quantum_value")) == [
        ("other", "run-1", 0.0),
        ("w", "run-1", 1.0),
        ("w", "run-2", -1.0),
    ]


def test_a_retried_sample_gets_its_runs_decision_and_does_not_move_the_probe_cadence(ledger_url: str) -> None:
    record = QuantumValueRecord(ledger_url)
    policy = QuantumValuePolicy(window=2, min_value_added=0.0, probe_every=2)
    for i in range(2):
        record.record("w", f"r{i}", quantum_objective=9.0, classical_objective=10.0)
    first = record.decide("w", "d1", policy)
    assert first.route == "classical"
    assert record.decide("w", "d1", policy) == first  # the retry: same decision, no second row
    assert record.decide("w", "d2", policy).route == "probe"  # the cadence counted d1 once
    assert sorted(rows(ledger_url, "qflow_routing_decision")) == [("w", "d1", "classical"), ("w", "d2", "probe")]


def test_a_ledger_from_before_the_unique_index_is_deduplicated_and_indexed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    with ledger_engine(url).begin() as conn:  # the old schema: no (workload, run_id) index, a double count
        conn.execute(
            sa.text(
                "create table qflow_quantum_value (id integer primary key autoincrement,"
                " workload varchar(200) not null, run_id varchar(250) not null,"
                " quantum_objective float not null, classical_objective float not null,"
                " value_added float not null, quantum_seconds float, classical_seconds float,"
                " recorded_at datetime not null)"
            )
        )
        for value in (-1.0, -1.0, -2.0):
            conn.execute(
                sa.text(
                    "insert into qflow_quantum_value (workload, run_id, quantum_objective, classical_objective,"
                    " value_added, recorded_at) values ('w', 'run-1', 0, 0, :v, '2026-01-01')"
                ),
                {"v": value},
            )
    record = QuantumValueRecord(url)
    assert record.recent("w", 10) == [-2.0]  # the run's latest row kept
    record.record("w", "run-1", quantum_objective=1.0, classical_objective=0.0)
    assert rows(url, "qflow_quantum_value") == [("w", "run-1", 1.0)]


def test_the_classical_tier_takes_the_best_heuristic_by_score_where_a_table_has_one() -> None:
    """MaxCut's baselines rank by cut (higher is better); the portfolio's by score = −objective
    (its objective is minimised): either way the best heuristic's bitstring gets every shot, and
    exact (the reference) or the continuous optimum (not a selection) never does."""
    import pandas as pd

    from include.governance.fallback import classical_counts

    maxcut = pd.DataFrame(
        {"method": ["exact", "greedy", "local_search"], "bitstring": ["11", "01", "10"], "cut": [3, 1, 2]}
    )
    assert classical_counts(maxcut, 64, {})[["bitstring", "count", "backend"]].values.tolist() == [
        ["10", 64, "classical:local_search"]
    ]
    portfolio = pd.DataFrame(
        {
            "method": ["exact", "greedy", "simulated_annealing", "mean_variance"],
            "bitstring": ["0011", "0101", "0110", ""],
            "objective": [-0.3, -0.1, -0.2, -0.9],
            "score": [0.3, 0.1, 0.2, 0.9],
        }
    )
    assert classical_counts(portfolio, 32, {})[["bitstring", "backend"]].values.tolist() == [
        ["0110", "classical:simulated_annealing"]
    ]
