"""The web UI in a real browser against the live stack: every DAG's trigger form submits its
defaults (the run appears in the REST API), and every extra link of a finished run opens the
artifact it names. Screenshots go to .qflow/screenshots/."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.live_stack import REPO, LiveStack, RestClient

DAG_IDS = sorted(p.stem for p in (REPO / "dags").glob("*.py"))

# Small runs (seconds of compute each; process start dominates) whose links the tests follow.
SMALL_RUNS: dict[str, dict[str, Any]] = {
    "qaoa_maxcut": {"n_nodes": 4, "degree": 2, "reps": 1, "shots": 128, "max_iterations": 5, "seed": 3},
    "vqc_classifier": {"n_classes": 2, "features_kept": 2, "max_iterations": 4, "shots": 64, "seed": 5},
    "portfolio_optimisation": {"n_assets": 4, "k": 2, "reps": 1, "shots": 128, "max_iterations": 5, "seed": 3},
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
# (dag, task, link name, what the target is)
LINKS = [
    ("qaoa_maxcut", "graph", "Artifact manifest", "manifest"),
    ("qaoa_maxcut", "aggregate", "Artifact manifest", "manifest"),
    ("vqc_classifier", "validate_raw", "GX Data Docs", "data_docs"),
    ("vqc_classifier", "validate_raw", "Artifact manifest", "manifest"),
    ("vqc_classifier", "train", "Artifact manifest", "manifest"),
    ("nightly_benchmark", "report", "Benchmark report", "report"),
    ("nightly_benchmark", "report", "Artifact manifest", "manifest"),
]


@pytest.fixture(scope="module")
def small_runs(rest: RestClient) -> dict[str, str]:
    """Triggered first, so they run while the form tests click."""
    return {dag_id: rest.trigger(dag_id, conf)["dag_run_id"] for dag_id, conf in SMALL_RUNS.items()}


def _stop_run(rest: RestClient, dag_id: str, run_id: str) -> None:
    """A run the form started with the full defaults: not what this test waits for."""
    response = rest.request("PATCH", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}", json={"state": "failed"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_trigger_form_submits_the_defaults(
    dag_id: str, browser_page: Any, rest: RestClient, small_runs: dict[str, str], screenshots: Path
) -> None:
    page = browser_page
    before = {run["dag_run_id"] for run in rest.runs(dag_id)}
    page.goto(f"/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(f"Trigger Dag - {dag_id}").wait_for()
    page.wait_for_timeout(500)  # the form validates its fields once rendered
    submit = dialog.get_by_role("button", name="Trigger", exact=True)
    submit.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / f"trigger_{dag_id}.png"), full_page=True)
    assert dialog.get_by_text("This field is required").count() == 0, f"{dag_id}: a default is refused as missing"
    assert submit.is_enabled(), f"{dag_id}: the Trigger button is disabled with the default values"
    submit.click()
    deadline = time.monotonic() + 30
    while not (new := [r for r in rest.runs(dag_id) if r["dag_run_id"] not in before]):
        assert time.monotonic() < deadline, f"{dag_id}: no run created by the form"
        time.sleep(1)
    page.screenshot(path=str(screenshots / f"triggered_{dag_id}.png"))
    (run,) = new
    assert run["run_type"] == "manual"
    defaults = {name: value["value"] for name, value in rest.get(f"/dags/{dag_id}/details")["params"].items()}
    assert {k: run["conf"].get(k) for k in defaults} == defaults, "the form sent other values than the defaults"
    _stop_run(rest, dag_id, run["dag_run_id"])


@pytest.fixture(scope="module")
def finished_runs(rest: RestClient, small_runs: dict[str, str], live_stack: LiveStack) -> dict[str, str]:
    # The form tests stopped the drill before or after it injected faults: clear them.
    assert live_stack.jobservice is not None
    httpx.put(f"{live_stack.jobservice.url}/admin/faults", json={}, timeout=10).raise_for_status()
    for dag_id, run_id in small_runs.items():
        run = rest.wait_for_run(dag_id, run_id, timeout=1200)
        states = {t["task_id"]: t["state"] for t in rest.task_instances(dag_id, run_id)}
        assert run["state"] == "success", f"{dag_id} {run_id}: {states}; logs under {live_stack.home / 'logs'}"
    return small_runs


@pytest.mark.parametrize(("dag_id", "task_id", "link", "kind"), LINKS)
def test_extra_link_opens_the_artifact(
    dag_id: str,
    task_id: str,
    link: str,
    kind: str,
    browser_page: Any,
    finished_runs: dict[str, str],
    live_stack: LiveStack,
    screenshots: Path,
) -> None:
    page = browser_page
    run_id = finished_runs[dag_id]
    page.goto(f"/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task_id}")
    page.get_by_text("Details", exact=True).first.click()
    button = page.get_by_role("link", name=link, exact=True)
    button.wait_for()
    page.screenshot(path=str(screenshots / f"links_{dag_id}_{task_id}.png"))
    href = button.get_attribute("href")
    assert href, f"{dag_id}.{task_id}: {link} has no target"
    assert urlsplit(href).netloc == urlsplit(live_stack.base_url).netloc, f"{href} is not served by the stack"
    # Not open to anyone: without the UI's session the target refuses.
    assert httpx.get(href, timeout=30).status_code == 401

    with page.expect_response(lambda r: r.url == href) as answer:
        button.click()
    response = answer.value
    shot = screenshots / f"link_{dag_id}_{task_id}_{kind}.png"
    page.wait_for_load_state("load")
    page.screenshot(path=str(shot))
    assert response.status == 200, f"{href} answered {response.status}"
    key = href.split("/qflow/artifacts/", 1)[1]
    if kind == "manifest":
        assert response.headers["content-type"].startswith("application/json")
        manifest = json.loads(response.body())
        assert manifest["artifact"]["uri"].rsplit("/", 1)[0] == "s3://" + key.rsplit("/", 1)[0]
        assert len(manifest["artifact"]["sha256"]) == 64
    elif kind == "data_docs":
        assert response.headers["content-type"].startswith("text/html")
        assert key.endswith("/data_docs.html")
        assert page.get_by_text("Expectation Validation Result").count() >= 1, "not a GX validation page"
        assert "Expectation Suite: raw_table" in page.inner_text("body")
    else:
        assert response.headers["content-type"].startswith("text/html")
        assert page.get_by_role("heading", name="Nightly benchmark").count() == 1
        images = page.evaluate("[...document.images].map(i => [i.src, i.complete && i.naturalWidth > 0])")
        assert images and all(ok for _, ok in images), f"report images that did not load: {images}"
    page.go_back()
