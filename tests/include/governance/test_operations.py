"""The operations view's figures against a real SQLite ledger filled through the ledgers' own
write APIs (job ledger, Admission/SpendLedger, FallbackLog, QuantumValueRecord, PendingQueue),
and the latest nightly report from the real SeaweedFS."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from include.governance.budget import Admission, BudgetExceeded, SpendLedger
from include.governance.fallback import FallbackLog, QueueSLAExceeded, run_tiers
from include.governance.ledger import JobLedger, ledger_engine
from include.governance.operations import Operations, nightly
from include.governance.pending import PendingQueue
from include.governance.policy import QuantumValuePolicy, load_policy
from include.governance.quantum_value import QuantumValueRecord
from include.quantum.backends.errors import StructuralQuantumError, TransientQuantumError, from_http_status
from include.store.artifacts import ArtifactStore, safe_key_part

AER, JOBS = "aer:statevector", "jobservice:fake_manila"


def _fail(exc: Exception) -> Callable[[], str]:
    def quantum() -> str:
        raise exc

    return quantum


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


def _job(ledger: JobLedger, backend: str, shots: int = 100, **update: object) -> str:
    key = uuid.uuid4().hex
    ledger.claim(key, backend, shots)
    if update:
        ledger.update(key, **update)
    return key


def test_jobs_in_flight_errors_and_cost_per_success(url: str) -> None:
    ledger = JobLedger(url)
    started = datetime.now(UTC)
    # In flight: two on the job service (one claimed only, one the provider holds), one on Aer.
    _job(ledger, JOBS)
    _job(ledger, JOBS, provider_job_id="j-1", state="SUBMITTED")
    _job(ledger, AER, provider_job_id="a-1", state="SUBMITTED")
    # Finished: 3 successes with costs, 1 free amortised success, and failures of each kind.
    _job(ledger, JOBS, provider_job_id="j-2", state="DONE", cost=0.25)
    _job(ledger, JOBS, provider_job_id="j-3", state="DONE", cost=0.5)
    _job(ledger, AER, provider_job_id="a-2", state="DONE", cost=0.0)
    ledger.record_done_many([(uuid.uuid4().hex, AER, "a-3", 100)])
    _job(ledger, JOBS, state="ERROR", error=str(from_http_status(503, "outage")))
    _job(ledger, JOBS, state="ERROR", error=f"job j-4 ended ERROR: {StructuralQuantumError('bad circuit')}")
    _job(ledger, JOBS, state="CANCELLED", error=str(QueueSLAExceeded("waited 900 s")))
    _job(ledger, JOBS, state="ERROR", error="RuntimeError: the worker died")
    ended = datetime.now(UTC)
    ops = Operations(url)

    later = ended + timedelta(seconds=600)
    flight = {row["backend"]: row for row in ops.jobs_in_flight(later)}
    assert set(flight) == {AER, JOBS}
    assert (flight[JOBS]["jobs"], flight[JOBS]["submitting"]) == (2, 1)
    assert (flight[AER]["jobs"], flight[AER]["submitting"]) == (1, 0)
    for row in flight.values():  # claimed between started and ended, seen 600 s after ended
        assert (
            600
            <= row["mean_wait_seconds"]
            <= row["longest_wait_seconds"]
            <= 600 + (ended - started).total_seconds() + 1
        )

    errors = ops.errors(ended)
    assert (errors["finished_jobs"], errors["failed_jobs"]) == (8, 4)
    assert errors["error_rate"] == pytest.approx(4 / 8)
    by_class = {row["error_class"]: row for row in errors["by_class"]}
    assert {k: v["jobs"] for k, v in by_class.items()} == {
        "transient": 2,  # the 503 and the queue SLA's cancellation
        "structural": 1,
        "auth": 0,
        "quota": 0,
        "unclassified": 1,
    }
    assert by_class["transient"]["rate"] == pytest.approx(2 / 8)
    # A day later none of these is in the window.
    assert ops.errors(ended + timedelta(hours=25))["finished_jobs"] == 0

    cost = ops.cost_per_success(ended)
    per = {row["backend"]: row for row in cost["per_backend"]}
    assert per[JOBS]["successful_jobs"] == 2 and per[JOBS]["cost_per_job"] == pytest.approx(0.375)
    assert per[AER]["successful_jobs"] == 2 and per[AER]["cost_per_job"] == 0.0
    assert cost["successful_jobs"] == 4 and cost["cost_per_job"] == pytest.approx(0.75 / 4)
    assert ops.cost_per_success(ended + timedelta(hours=25))["successful_jobs"] == 0


def test_spend_against_each_budget_with_the_alert_threshold(url: str) -> None:
    policy = load_policy()  # dev: 5.0 a day, 50.0 a month; the job service costs 0.00001 a shot
    ledger = SpendLedger(url)
    dev = Admission(policy, "dev", ledger)
    for _ in range(3):  # 3 × 150,000 shots = 4.5 of the day's 5.0: past the 0.8 alert threshold
        key = uuid.uuid4().hex
        dev.admit(key, JOBS, 150_000)
        dev.settle(key, JOBS, 150_000, None)
    held = uuid.uuid4().hex
    dev.admit(held, JOBS, 10_000)  # reserved, not settled: counts at its estimate (0.1)
    released = uuid.uuid4().hex
    dev.admit(released, JOBS, 20_000)
    dev.release(released)  # never submitted: counts nothing
    qa = Admission(policy, "qa", ledger)
    key = uuid.uuid4().hex
    qa.admit(key, JOBS, 50_000)
    ledger.settle(key, 0.3)  # settled at its real usage, not the 0.5 estimate

    rows = {row["environment"]: row for row in Operations(url).budgets(policy)}
    assert set(rows) == set(policy.environments)
    assert rows["dev"]["spend_today"] == pytest.approx(4.6) and rows["dev"]["spend_month"] == pytest.approx(4.6)
    assert (rows["dev"]["spend_per_day"], rows["dev"]["spend_per_month"]) == (5.0, 50.0)
    assert rows["dev"]["day_fraction"] == pytest.approx(4.6 / 5.0)
    assert rows["dev"]["alerts"] == ["day"] and rows["dev"]["alert_fraction"] == policy.alert_fraction
    assert rows["dev"]["jobs_today"] == 4
    assert rows["qa"]["spend_today"] == pytest.approx(0.3) and rows["qa"]["alerts"] == []
    assert rows["prod"]["spend_today"] == 0 and rows["prod"]["day_fraction"] == 0
    # What admission itself counts is what the view shows.
    assert rows["dev"]["spend_today"] == pytest.approx(ledger.usage("dev").spend_today)


def test_spend_in_an_environment_the_policy_no_longer_names_is_listed_without_budgets(url: str) -> None:
    policy = load_policy()
    ledger = SpendLedger(url)
    key = uuid.uuid4().hex
    retired = policy.model_copy(update={"environments": {**policy.environments, "retired": policy.environments["qa"]}})
    Admission(retired, "retired", ledger).admit(key, JOBS, 1000)
    [row] = [r for r in Operations(url).budgets(policy) if r["environment"] == "retired"]
    assert row["in_policy"] is False and row["spend_today"] == pytest.approx(0.01)
    assert row["spend_per_day"] is None and row["day_fraction"] is None and row["alerts"] == []


def test_fallback_tiers_taken_with_their_reasons(url: str) -> None:
    log = FallbackLog(url)
    budget = run_tiers(quantum=_fail(BudgetExceeded("spend today budget 5, already used 5")), classical=lambda: "x")
    outage = run_tiers(quantum=_fail(from_http_status(503, "outage")), classical=lambda: None, cached=lambda: "c")
    pending = run_tiers(quantum=_fail(TransientQuantumError("gave up after 5 attempts")), pending=lambda reason: None)
    log.record(budget, dag_id="qaoa_maxcut", run_id="r1", task_id="sample", backend=AER)
    log.record(outage, dag_id="qaoa_maxcut", run_id="r2", task_id="sample", backend=JOBS)
    log.record(pending, dag_id="vqc_classifier", run_id="r3", task_id="sample", backend=JOBS)
    log.record(budget, dag_id="qaoa_maxcut", run_id="r2", task_id="sample", backend=JOBS)  # r2 retried: replaces

    view = Operations(url).fallbacks()
    assert [(c["tier"], c["tier_name"], c["events"]) for c in view["counts"]] == [
        (2, "classical", 2),
        (4, "pending", 1),
    ]
    latest = {(e["run_id"], e["tier"]): e["reason"] for e in view["latest"]}
    assert latest == {("r1", 2): budget.reason, ("r2", 2): budget.reason, ("r3", 4): pending.reason}
    assert "spend today budget 5" in latest[("r1", 2)] and "gave up after 5 attempts" in latest[("r3", 4)]
    assert Operations(url).fallbacks(datetime.now(UTC) + timedelta(hours=25))["counts"] == []


def test_quantum_value_per_workload_over_time_and_the_latest_decision(url: str) -> None:
    record = QuantumValueRecord(url)
    for i, (q, c) in enumerate([(10.0, 12.0), (12.0, 12.0), (13.0, 12.0)]):
        record.record("qaoa_maxcut:a", f"run-{i}", quantum_objective=q, classical_objective=c)
    record.record("vqc:iris", "v-0", quantum_objective=0.9, classical_objective=1.0)
    record.decide("qaoa_maxcut:a", "run-3", QuantumValuePolicy(window=3))

    view = {w["workload"]: w for w in Operations(url).quantum_value()}
    a = view["qaoa_maxcut:a"]
    assert [p["run_id"] for p in a["points"]] == ["run-0", "run-1", "run-2"]  # in time order
    assert [p["value_added"] for p in a["points"]] == [-2.0, 0.0, 1.0]
    assert a["runs_recorded"] == 3 and a["latest_decision"]["route"] == "quantum"
    assert "best +1" in a["latest_decision"]["reason"]
    assert view["vqc:iris"]["points"][0]["value_added"] == pytest.approx(-0.1)
    assert view["vqc:iris"]["latest_decision"] is None
    stamps = [p["recorded_at"] for p in a["points"]]
    assert stamps == sorted(stamps)
    # Only the latest N per workload are plotted.
    assert [p["run_id"] for p in Operations(url).quantum_value(points=2)[0]["points"]] == ["run-1", "run-2"]


def test_pending_work_by_state(url: str) -> None:
    queue = PendingQueue(url)
    for i in range(3):
        queue.add("qaoa_maxcut", f"run-{i}", "sample", {"n_nodes": 4}, f"outage {i}", max_attempts=3)
    first, second, _ = queue.open()
    queue.mark_rerun(first.id, "pending_rerun__x")
    queue.mark_rerun(second.id, "pending_rerun__y")
    queue.resolve(second.id, "success")

    view = Operations(url).pending()
    assert view["by_state"] == {"OPEN": 1, "RERUN": 1, "DONE": 1}
    assert view["to_do"] == 2
    assert [(i["run_id"], i["state"], i["attempts"]) for i in view["items"]] == [
        ("run-0", "RERUN", 1),
        ("run-2", "OPEN", 0),
    ]
    assert view["items"][1]["reason"] == "outage 2"


def test_an_older_ledger_gets_the_views_indexes(url: str) -> None:
    JobLedger(url)
    engine = ledger_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_qflow_quantum_jobs_state"))
        conn.execute(sa.text("DROP INDEX ix_qflow_quantum_jobs_updated_at"))
    Operations(url)
    names = {i["name"] for i in sa.inspect(engine).get_indexes("qflow_quantum_jobs")}
    assert {"ix_qflow_quantum_jobs_state", "ix_qflow_quantum_jobs_updated_at"} <= names


def _report(store: ArtifactStore, prefix: str, night: str, headline: list[str]) -> None:
    # The shape include.benchmark.collect.store_report writes: statistics + index.html, headline in params.
    store.put_table(
        f"{prefix}/{safe_key_part(night)}",
        "report",
        pd.DataFrame({"n_nodes": [4]}),
        stage="report",
        params={"night": night, "headline": headline},
        attachments={"index.html": b"<h1>Nightly MaxCut benchmark</h1>"},
    )


def test_the_latest_nightly_report_headline_and_link(store: ArtifactStore, prefix: str) -> None:
    nights = f"{prefix}/nightly"
    assert nightly(store, nights) is None
    _report(store, nights, "scheduled__2026-12-05T00:00:00+00:00", ["old night"])
    _report(store, nights, "manual__2026-12-06T09:00:00+00:00", ["quantum added nothing here", "second"])
    # The newest night is still running: no report yet, so the one before it is the latest.
    store.put_bytes(store.uri(f"{nights}/scheduled__2026-12-07T00_00_00_00_00/plan/data.parquet"), b"x")
    latest = nightly(store, nights)
    assert latest is not None
    assert latest["night"] == "manual__2026-12-06T09:00:00+00:00"
    assert latest["headline"] == ["quantum added nothing here", "second"]
    assert latest["report_uri"] == store.uri(f"{nights}/manual__2026-12-06T09_00_00_00_00/report/index.html")
    assert store.get_bytes(latest["report_uri"]).startswith(b"<h1>")
