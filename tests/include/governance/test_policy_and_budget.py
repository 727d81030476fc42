from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.governance.budget import BudgetExceeded, Reservation, SpendLedger
from include.governance.policy import CostModel, Environment, PolicyError, load_policy

POLICY_TEXT = (Path(__file__).resolve().parents[3] / "include" / "governance" / "policy.yaml").read_text()


def test_the_shipped_policy_loads_and_answers() -> None:
    policy = load_policy()
    name, prod = policy.environment("prod")
    assert name == "prod" and prod.allows("ibm:ibm_brisbane") and prod.needs_approval("ibm:ibm_brisbane")
    assert not policy.environment("dev")[1].allows("ibm:ibm_brisbane")
    assert policy.environment()[0] == "dev"
    assert policy.cost_model("aer:statevector").estimate(10_000) == 0
    assert policy.cost_model("ibm:ibm_brisbane").estimate(1000) == pytest.approx(1000 * 0.0003 * 1.6)
    with pytest.raises(PolicyError, match="environment 'staging' is not in the policy"):
        policy.environment("staging")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("shots_per_job: 200000", "shots_per_job: -5"), "environments.dev.shots_per_job"),
        (("default_environment: dev", "default_environment: test"), "default_environment 'test'"),
        (("alert_fraction: 0.8", "alert_fraction: 3"), "alert_fraction"),
        (("  probe_every: 5", "  probe_every: 5\n  colour: red"), "quantum_value.colour"),
        (("    spend_per_day: 5.0", "    spend_per_day: 500.0"), "spend_per_day must not exceed spend_per_month"),
    ],
)
def test_a_bad_policy_fails_on_load_naming_the_field(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    assert change[0] in POLICY_TEXT
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_TEXT.replace(change[0], change[1], 1))
    with pytest.raises(PolicyError, match=message):
        load_policy(path)


ENV = Environment(
    allowed_backends=["jobservice:*"],
    shots_per_job=1000,
    shots_per_day=100_000,
    spend_per_day=1.0,
    spend_per_month=2.0,
    jobs_per_day=100,
)
RATE = CostModel(per_shot=0.0001)  # 1000 shots = 0.1


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> SpendLedger:
    if request.param == "sqlite":
        return SpendLedger(f"sqlite:///{tmp_path / 'spend.sqlite'}")
    engine = sa.create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    try:
        with engine.connect():
            pass
    except Exception as exc:
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432 ({type(exc).__name__}); the CI machine has one")
    return SpendLedger(engine=engine)


def reserve(ledger: SpendLedger, env: str, key: str, shots: int = 1000, now: datetime | None = None) -> Reservation:
    return ledger.reserve(
        key,
        environment_name=env,
        environment=ENV,
        backend="jobservice:fake_manila",
        shots=shots,
        cost_model=RATE,
        now=now,
    )


def test_refusal_gives_budget_spent_and_cost_and_release_gives_it_back(ledger: SpendLedger) -> None:
    env = f"t-{uuid.uuid4().hex[:8]}"
    for i in range(10):
        reserve(ledger, env, f"{env}-{i}")
    with pytest.raises(BudgetExceeded, match=r"spend today budget 1, already used 1, this job needs 0\.1"):
        reserve(ledger, env, f"{env}-x")
    ledger.release(f"{env}-9")
    assert reserve(ledger, env, f"{env}-y").estimated_cost == pytest.approx(0.1)
    ledger.settle(f"{env}-0", 0.05)
    assert ledger.usage(env).spend_today == pytest.approx(0.95)
    with pytest.raises(BudgetExceeded, match="per-job budget of 1000"):
        reserve(ledger, env, f"{env}-big", shots=5000)
    with pytest.raises(PolicyError, match="not allowed"):
        ledger.reserve("k", environment_name=env, environment=ENV, backend="ibm:ibm_brisbane", shots=1, cost_model=RATE)


def test_a_retried_reservation_is_reused_not_doubled_and_alerts_near_the_limit(ledger: SpendLedger) -> None:
    env = f"t-{uuid.uuid4().hex[:8]}"
    first = reserve(ledger, env, f"{env}-a", shots=1000)
    again = reserve(ledger, env, f"{env}-a", shots=1000)
    assert again.reused and ledger.usage(env).jobs_today == 1 and not first.alerts
    for i in range(7):
        reserve(ledger, env, f"{env}-{i}")
    alerted = reserve(ledger, env, f"{env}-8")
    assert any(a.startswith("QFLOW_BUDGET_ALERT") and "spend today" in a for a in alerted.alerts)


def test_month_budget_spans_days(ledger: SpendLedger) -> None:
    env = f"t-{uuid.uuid4().hex[:8]}"
    for day in range(1, 3):
        for i in range(10):
            reserve(ledger, env, f"{env}-{day}-{i}", now=datetime(2026, 5, day, tzinfo=UTC))
    with pytest.raises(BudgetExceeded, match="spend this month budget 2"):
        reserve(ledger, env, f"{env}-3-0", now=datetime(2026, 5, 3, tzinfo=UTC))


def test_concurrent_workers_cannot_both_take_the_last_of_a_budget(ledger: SpendLedger) -> None:
    env = f"t-{uuid.uuid4().hex[:8]}"
    for i in range(9):
        reserve(ledger, env, f"{env}-{i}")  # 0.9 of the 1.0 daily budget spent
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def worker(n: int) -> None:
        barrier.wait()
        try:
            reserve(ledger, env, f"{env}-race-{n}")
            outcomes.append("won")
        except BudgetExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1 and outcomes.count("refused") == 5
    assert ledger.usage(env).spend_today == pytest.approx(1.0)
