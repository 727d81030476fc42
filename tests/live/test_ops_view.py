"""The operations view in a real browser against the live stack: small real runs fill the stack's
ledger (a qaoa_maxcut sampled on the job service, a one-instance night for the report), the
ledgers' own write APIs add what a quiet stack would not have (jobs in flight, failures, spend near
an alert, a fallback, pending work, quantum-value history); then the page, opened from the UI's
"qflow" navigation entry after logging in, must show the ledger's figures. Screenshots go to
.qflow/screenshots/ops_*.png."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from include.governance.budget import Admission, SpendLedger
from include.governance.fallback import FallbackLog, run_tiers
from include.governance.ledger import JobLedger
from include.governance.operations import Operations, nightly
from include.governance.pending import PendingQueue
from include.governance.policy import load_policy
from include.governance.quantum_value import QuantumValueRecord
from include.quantum.backends.errors import StructuralQuantumError, from_http_status
from include.store.artifacts import ArtifactStore
from tests.live_stack import LiveStack, RestClient

JOBS = "jobservice:fake_manila"
RUNS: dict[str, dict[str, Any]] = {
    "qaoa_maxcut": {
        "n_nodes": 4,
        "degree": 2,
        "reps": 1,
        "shots": 128,
        "max_iterations": 4,
        "seed": 11,
        "backend": "jobservice:fake_manila",  # the final sample: a real job with a cost in the ledger
    },
    "nightly_benchmark": {
        "workloads": ["maxcut"],  # as before the classifier joined the grid
        "families": ["maxcut_regular"],
        "sizes": [4],
        "seeds_per_size": 1,
        "reps": [1],
        "shots": [128],
        "noise": ["ideal"],
        "backends": ["aer:statevector"],
        "angle_evaluations": 20,
    },
}


def _ledger_url(stack: LiveStack) -> str:
    return (
        stack.env.get("QFLOW_LEDGER_URL") or f"sqlite:///{Path(stack.env['QFLOW_STATE_DIR']).resolve()}/ledger.sqlite"
    )


def _raise(exc: Exception) -> Any:
    def quantum() -> str:
        raise exc

    return quantum


def _add_entries(url: str) -> None:
    """What a quiet stack would not show, through the ledgers' write APIs."""
    ledger = JobLedger(url)
    for state, extra in [
        ("SUBMITTING", {}),
        ("SUBMITTED", {"provider_job_id": "ops-1"}),
        ("ERROR", {"error": str(from_http_status(503, "outage"))}),
        ("ERROR", {"error": f"job ops-2 ended ERROR: {StructuralQuantumError('bad circuit')}"}),
    ]:
        key = f"ops-view-{uuid.uuid4().hex}"
        ledger.claim(key, JOBS, 256)
        if state != "SUBMITTING":
            ledger.update(key, state=state, **extra)
    policy = load_policy()
    qa = Admission(policy, "qa", SpendLedger(url))  # qa: 2.0 a day; 170,000 shots = 1.7, past 0.8
    for _ in range(2):
        key = f"ops-view-{uuid.uuid4().hex}"
        qa.admit(key, JOBS, 85_000)
        qa.settle(key, JOBS, 85_000, None)
    outcome = run_tiers(quantum=_raise(from_http_status(503, "outage")), classical=lambda: "x")
    FallbackLog(url).record(outcome, dag_id="qaoa_maxcut", run_id="ops-view-r1", task_id="sample", backend=JOBS)
    PendingQueue(url).add("qaoa_maxcut", "ops-view-r2", "sample", {"n_nodes": 4}, "outage", max_attempts=3)
    record = QuantumValueRecord(url)
    for i, (q, c) in enumerate([(3.0, 4.0), (4.0, 4.0), (4.5, 4.0)]):
        record.record("ops_view:demo", f"ops-view-v{i}", quantum_objective=q, classical_objective=c)
        time.sleep(1)  # records are stamped when written: apart in time, as runs are


@pytest.fixture(scope="module")
def filled(rest: RestClient, live_stack: LiveStack) -> str:
    runs = {dag_id: rest.trigger(dag_id, conf)["dag_run_id"] for dag_id, conf in RUNS.items()}
    for dag_id, run_id in runs.items():
        run = rest.wait_for_run(dag_id, run_id, timeout=1200)
        states = {t["task_id"]: t["state"] for t in rest.task_instances(dag_id, run_id)}
        assert run["state"] == "success", f"{dag_id} {run_id}: {states}; logs under {live_stack.home / 'logs'}"
    url = _ledger_url(live_stack)
    assert JobLedger(url).count(JOBS) >= 1, "the run's job-service sample is not in the stack's ledger"
    _add_entries(url)
    return url


def _cells(frame: Any, testid: str, field: str) -> list[str]:
    return [c.strip() for c in frame.locator(f"[data-testid='{testid}'] td[data-field='{field}']").all_inner_texts()]


def _fixed(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def test_the_qflow_page_shows_the_ledgers_figures(
    browser_page: Any, filled: str, live_stack: LiveStack, store: ArtifactStore, screenshots: Path
) -> None:
    page = browser_page
    page.goto("/")
    entry = page.get_by_role("link", name="qflow", exact=True)
    entry.first.wait_for()
    page.screenshot(path=str(screenshots / "ops_nav.png"))
    entry.first.click()
    page.wait_for_url(lambda url: url.rstrip("/").endswith("/plugin/qflow"))
    frame_element = page.locator("iframe").first
    frame_element.wait_for()
    assert frame_element.get_attribute("src").rstrip("/").endswith("/qflow/ops")
    frame = page.frame_locator("iframe").first
    frame.locator("body[data-loaded='true']").wait_for()
    # The ledger as it is now (nothing else runs on the stack meanwhile).
    ops, policy = Operations(filled), load_policy(Path(live_stack.env["QFLOW_POLICY_FILE"]))  # the stack's policy
    page.set_viewport_size({"width": 1400, "height": 1900})  # the frame fills the window: all of the page
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshots / "ops_view.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})
    assert frame.locator("[data-testid$='-error']").count() == 0, frame.locator("body").inner_text()

    flight = ops.jobs_in_flight()
    assert _cells(frame, "jobs", "backend") == [r["backend"] for r in flight]
    assert _cells(frame, "jobs", "jobs") == [str(r["jobs"]) for r in flight]
    assert _cells(frame, "jobs", "submitting") == [str(r["submitting"]) for r in flight]
    assert {r["backend"]: r["jobs"] for r in flight}[JOBS] >= 2  # the two added in flight

    errors = ops.errors()
    assert errors["failed_jobs"] >= 2
    assert frame.locator("[data-testid='error-rate'] [data-field='rate']").inner_text() == _pct(errors["error_rate"])
    assert _cells(frame, "errors", "jobs") == [str(r["jobs"]) for r in errors["by_class"]]

    cost = ops.cost_per_success()
    assert cost["successful_jobs"] >= 1
    per_job = frame.locator("[data-testid='cost-total'] [data-field='per-job']").inner_text()
    assert per_job == _fixed(cost["cost_per_job"], 6)
    assert _cells(frame, "cost", "per-job") == [_fixed(r["cost_per_job"], 6) for r in cost["per_backend"]]

    budgets = ops.budgets(policy)
    assert _cells(frame, "budgets", "spend-today") == [_fixed(r["spend_today"], 4) for r in budgets]
    assert _cells(frame, "budgets", "day-used") == [_pct(r["day_fraction"]) for r in budgets]
    assert _cells(frame, "budgets", "month-used") == [_pct(r["month_fraction"]) for r in budgets]
    [qa] = [r for r in budgets if r["environment"] == "qa"]
    assert qa["alerts"] == ["day"] and qa["spend_today"] == pytest.approx(1.7)
    alerted = frame.locator("[data-testid='budgets'] td.alert[data-field='day-used']").all_inner_texts()
    assert alerted == [_pct(r["day_fraction"]) for r in budgets if "day" in r["alerts"]]

    fallbacks = ops.fallbacks()
    assert _cells(frame, "fallbacks", "reason") == [e["reason"] for e in fallbacks["latest"]]
    assert any("outage" in e["reason"] for e in fallbacks["latest"])

    pending = ops.pending()
    assert frame.locator("[data-testid='pending-total'] [data-field='to-do']").inner_text() == str(pending["to_do"])
    assert pending["to_do"] >= 1

    value = {w["workload"]: w for w in ops.quantum_value()}
    plotted = frame.locator("[data-testid='value-plot'] circle[data-workload='ops_view:demo']")
    assert [float(v) for v in plotted.evaluate_all("cs => cs.map(c => c.dataset.value)")] == [
        p["value_added"] for p in value["ops_view:demo"]["points"]
    ]
    assert frame.locator("[data-testid='value-plot'] polyline").count() == len(
        [w for w in value.values() if w["points"]]
    )

    latest = nightly(store)
    assert latest is not None, "the night's report is not in the store"
    assert frame.locator("[data-testid='nightly-night']").inner_text() == latest["night"]
    shown = [s.strip() for s in frame.locator("[data-testid='nightly-headline'] li").all_inner_texts()]
    assert shown == [s.strip() for s in latest["headline"]]
    link = frame.locator("[data-testid='nightly-link']").get_attribute("href")
    assert link and link.endswith(latest["report_uri"].removeprefix("s3://"))
