"""The operations view as Airflow's real api-server serves it (the qflow plugin loaded from
plugins/): every route refuses a request without a valid token, answers with a JWT from
/auth/token, and its figures are the ledger's (filled here through the ledgers' write APIs);
the UI's navigation lists the page."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from include.governance.budget import Admission, SpendLedger
from include.governance.fallback import FallbackLog, run_tiers
from include.governance.ledger import JobLedger
from include.governance.operations import Operations
from include.governance.pending import PendingQueue
from include.governance.policy import load_policy
from include.governance.quantum_value import QuantumValueRecord
from include.quantum.backends.errors import StructuralQuantumError, from_http_status
from include.store.artifacts import ArtifactStore
from include.store.config import S3Settings
from operators.ops_view import SECTIONS, URL_PREFIX
from tests.api_server import ApiServer

pytestmark = pytest.mark.integration

JOBS = "jobservice:fake_manila"


def _fill(url: str) -> None:
    ledger = JobLedger(url)
    updates: list[tuple[str, dict[str, Any]]] = [
        ("SUBMITTED", {"provider_job_id": "j-1"}),
        ("SUBMITTED", {"provider_job_id": "j-2"}),
        ("DONE", {"provider_job_id": "j-3", "cost": 0.2}),
        ("DONE", {"provider_job_id": "j-4", "cost": 0.4}),
        ("ERROR", {"error": str(from_http_status(503, "outage"))}),
        ("ERROR", {"error": str(StructuralQuantumError("bad circuit"))}),
    ]
    for state, extra in updates:
        key = uuid.uuid4().hex
        ledger.claim(key, JOBS, 100)
        ledger.update(key, state=state, **extra)
    policy = load_policy()
    admission = Admission(policy, "dev", SpendLedger(url))
    key = uuid.uuid4().hex
    admission.admit(key, JOBS, 100_000)
    admission.settle(key, JOBS, 100_000, None)
    outcome = run_tiers(quantum=_raise(from_http_status(503, "outage")), classical=lambda: "x")
    FallbackLog(url).record(outcome, dag_id="qaoa_maxcut", run_id="r1", task_id="sample", backend=JOBS)
    record = QuantumValueRecord(url)
    record.record("qaoa_maxcut:w", "r0", quantum_objective=9.0, classical_objective=10.0)
    record.record("qaoa_maxcut:w", "r1", quantum_objective=11.0, classical_objective=10.0)
    PendingQueue(url).add("qaoa_maxcut", "r2", "sample", {}, "outage", max_attempts=3)


def _raise(exc: Exception) -> Callable[[], str]:
    def quantum() -> str:
        raise exc

    return quantum


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, qflow_env: dict[str, str], s3_settings: S3Settings
) -> Iterator[tuple[ApiServer, str]]:
    root = tmp_path_factory.mktemp("ops_api")
    url = f"sqlite:///{root / 'ledger.sqlite'}"
    _fill(url)
    api = ApiServer(root / "server", extra_env={**qflow_env, "QFLOW_LEDGER_URL": url})
    try:
        yield api.start(), url
    finally:
        api.stop()


ROUTES = [f"{URL_PREFIX}/", *(f"{URL_PREFIX}/api/{s}" for s in SECTIONS)]


@pytest.mark.parametrize("route", ROUTES)
def test_without_a_valid_token_every_route_refuses(server: tuple[ApiServer, str], route: str) -> None:
    api, _ = server
    assert httpx.get(api.base_url + route, timeout=30).status_code == 401
    forged = {"Authorization": "Bearer not.a.jwt"}
    assert httpx.get(api.base_url + route, headers=forged, timeout=30).status_code in (401, 403)
    assert httpx.get(api.base_url + route, cookies={"_token": "not.a.jwt"}, timeout=30).status_code in (401, 403)


def test_with_a_token_the_figures_are_the_ledgers(server: tuple[ApiServer, str]) -> None:
    api, url = server
    client = httpx.Client(base_url=api.base_url + URL_PREFIX, headers={"Authorization": f"Bearer {api.token()}"})
    answers = {}
    for section in SECTIONS:
        response = client.get(f"/api/{section}", timeout=30)
        assert response.status_code == 200, f"{section}: {response.text}"
        answers[section] = response.json()
    ops, policy = Operations(url), load_policy()

    [jobs] = answers["jobs"]
    assert (jobs["backend"], jobs["jobs"], jobs["submitting"]) == (JOBS, 2, 0)
    assert jobs["longest_wait_seconds"] >= jobs["mean_wait_seconds"] > 0
    assert answers["errors"] == ops.errors() and answers["errors"]["error_rate"] == pytest.approx(0.5)
    assert {r["error_class"]: r["jobs"] for r in answers["errors"]["by_class"]}["transient"] == 1
    assert answers["cost"] == ops.cost_per_success() and answers["cost"]["cost_per_job"] == pytest.approx(0.3)
    budgets = {r["environment"]: r for r in answers["budgets"]}
    assert budgets["dev"]["spend_today"] == pytest.approx(1.0) and budgets["dev"]["spend_per_day"] == 5.0
    assert budgets["dev"]["alert_fraction"] == policy.alert_fraction
    assert answers["budgets"] == ops.budgets(policy)
    assert answers["fallbacks"] == ops.fallbacks()
    assert answers["fallbacks"]["latest"][0]["tier"] == 2 and "outage" in answers["fallbacks"]["latest"][0]["reason"]
    assert [p["value_added"] for p in answers["quantum-value"][0]["points"]] == [-1.0, 1.0]
    assert answers["pending"] == ops.pending() and answers["pending"]["to_do"] == 1
    nightly = answers["nightly"]  # the shared bucket may or may not hold a night: either is an answer
    assert nightly is None or (
        nightly["report_url"].startswith(f"{api.base_url}/qflow/artifacts/") and nightly["headline"]
    )

    page = client.get("/", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "qflow operations" in page.text and "<script src" not in page.text  # self-contained


def test_the_ui_navigation_lists_the_page(server: tuple[ApiServer, str]) -> None:
    api, _ = server
    plugins = httpx.get(
        f"{api.base_url}/api/v2/plugins", headers={"Authorization": f"Bearer {api.token()}"}, timeout=30
    ).json()["plugins"]
    [qflow] = [p for p in plugins if p["name"] == "qflow"]
    [view] = qflow["external_views"]
    assert view["href"] == f"{URL_PREFIX}/" and view["url_route"] == "qflow" and view["destination"] == "nav"
    assert {a["url_prefix"] for a in qflow["fastapi_apps"]} == {"/qflow/artifacts", URL_PREFIX}


def test_the_nightly_answer_is_what_the_store_holds(server: tuple[ApiServer, str], store: ArtifactStore) -> None:
    # The shared bucket's nights are read as they are (a report from another test, or none); the
    # core's reading of them is tested in tests/include/governance/test_operations.py.
    from include.governance.operations import nightly

    api, _ = server
    answer = httpx.get(
        f"{api.base_url}{URL_PREFIX}/api/nightly", headers={"Authorization": f"Bearer {api.token()}"}, timeout=30
    ).json()
    expected = nightly(store)
    if expected is None:
        assert answer is None
    else:
        assert {k: answer[k] for k in expected} == dict(expected)
