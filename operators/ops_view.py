"""The operations view: one page in the Airflow UI ("qflow" in the navigation) for the person on call.

Mounted by the qflow plugin at ``/qflow/ops`` on Airflow's api-server and listed in the UI's
navigation as an external view (the UI shows ``/qflow/ops/`` in a frame at ``/plugin/qflow``).
Every route requires Airflow authentication — plugin FastAPI apps get none by default — through
the api-server's own ``get_user``: the UI's session cookie (``_token``, which the frame's requests
carry because they are same-origin) or ``Authorization: Bearer <JWT from /auth/token>``; without
one the answer is 401 (403 for a token that is no longer valid).

The figures come from ``include.governance.operations`` (the ledgers at ``QFLOW_LEDGER_URL``, the
policy's budgets) and the artifact store (the latest nightly report); this module only serves them:
``/api/<section>`` answers one section as JSON, ``/`` is a self-contained page (no external
scripts: inline JS fetches the sections and draws the quantum-value plot as inline SVG).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.api_fastapi.core_api.security import get_user
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse

if TYPE_CHECKING:
    from include.governance.operations import Operations
    from include.store.artifacts import ArtifactStore

URL_PREFIX = "/qflow/ops"
UI_ROUTE = "qflow"  # the UI's page: /plugin/qflow
SECTIONS = ("jobs", "errors", "cost", "budgets", "fallbacks", "quantum-value", "pending", "nightly")
STORE_TTL_SECONDS = 300.0  # a new S3 client (the connection re-read) at most this often

app = FastAPI(title="qflow operations view", docs_url=None, redoc_url=None, openapi_url=None)
api = APIRouter(prefix="/api", dependencies=[Depends(get_user)])


def ui_href() -> str:
    """The page's address as the UI frames it: ``[api] base_url``'s path (a deployment under a
    sub-path) + the prefix, relative to the UI's origin."""
    from airflow.configuration import conf

    base = urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")
    return f"{base}{URL_PREFIX}/"


@functools.cache
def _operations(url: str) -> Operations:
    from include.governance.operations import Operations

    return Operations(url)


def operations() -> Operations:
    """One reader per ledger URL in this process (opening one checks the tables and indexes)."""
    from include.governance.ledger import default_ledger_url

    return _operations(default_ledger_url())


_store: tuple[float, ArtifactStore] | None = None


def artifact_store() -> ArtifactStore:
    global _store
    if _store is None or time.monotonic() - _store[0] > STORE_TTL_SECONDS:
        from operators.hooks.artifact_store import ArtifactStoreHook

        _store = (time.monotonic(), ArtifactStoreHook().get_store())
    return _store[1]


@api.get("/jobs")
def jobs_in_flight() -> list[dict[str, Any]]:
    return operations().jobs_in_flight()


@api.get("/errors")
def errors() -> dict[str, Any]:
    return operations().errors()


@api.get("/cost")
def cost() -> dict[str, Any]:
    return operations().cost_per_success()


@api.get("/budgets")
def budgets() -> list[dict[str, Any]]:
    from include.governance.policy import load_policy

    return operations().budgets(load_policy())


@api.get("/fallbacks")
def fallbacks() -> dict[str, Any]:
    return operations().fallbacks()


@api.get("/quantum-value")
def quantum_value() -> list[dict[str, Any]]:
    return operations().quantum_value()


@api.get("/pending")
def pending() -> dict[str, Any]:
    return operations().pending()


@api.get("/nightly")
def nightly() -> dict[str, Any] | None:
    from include.governance.operations import nightly
    from include.store.artifacts import ArtifactError
    from operators.links import manifest_browser_url

    try:
        latest = nightly(artifact_store())
    except (ArtifactError, OSError, ValueError) as exc:
        raise HTTPException(status_code=503, detail=f"the artifact store (connection qflow_s3) failed: {exc}") from exc
    if latest is None:
        return None
    return {**latest, "report_url": manifest_browser_url(str(latest["report_uri"]))}


app.include_router(api)


@app.get("/", response_class=HTMLResponse, dependencies=[Depends(get_user)])
def page() -> HTMLResponse:
    return HTMLResponse(_page(), headers={"Cache-Control": "no-store"})


@functools.cache
def _page() -> str:
    # The page beside this module (shipped in the wheel as package data).
    return (Path(__file__).with_name("ops_view.html")).read_text(encoding="utf-8")
