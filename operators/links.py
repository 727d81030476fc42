"""Operator extra links: open a stage's lineage manifest (or Data Docs, or report) in a browser.

By default the link goes to the api-server's own artifact browser (``/qflow/artifacts/<bucket>/<key>``,
``operators.artifact_browser``, mounted by the qflow plugin), which answers wherever the Airflow UI
does. Set QFLOW_ARTIFACT_BROWSER_URL to point the links elsewhere: any URL prefix that takes
``<bucket>/<key>``, e.g. the SeaweedFS filer's browser ``http://localhost:8888/buckets``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

FAILED_REPORT_KEY = "failed_validation_report"  # XCom key: the ref of a failed suite's report


def default_browser_url() -> str:
    """The api-server's artifact browser, under ``[api] base_url`` when one is set (else relative
    to the UI's origin, which is where the UI opens it)."""
    from airflow.configuration import conf

    from operators.artifact_browser import URL_PREFIX

    api_base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{api_base}{URL_PREFIX}"


def manifest_browser_url(manifest_uri: str, base: str | None = None) -> str:
    """``s3://bucket/key`` → ``<base>/bucket/key``."""
    base = (base or os.environ.get("QFLOW_ARTIFACT_BROWSER_URL") or default_browser_url()).rstrip("/")
    if not manifest_uri.startswith("s3://"):
        return ""
    return f"{base}/{manifest_uri.removeprefix('s3://')}"


class ArtifactManifestLink(BaseOperatorLink):
    name = "Artifact manifest"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        value = XCom.get_value(ti_key=ti_key, key="return_value")
        if not isinstance(value, dict) or not value.get("manifest_uri"):
            return ""
        return manifest_browser_url(str(value["manifest_uri"]))


class DataDocsLink(BaseOperatorLink):
    """Great Expectations Data Docs of a validation task, stored beside its report."""

    name = "GX Data Docs"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        value = XCom.get_value(ti_key=ti_key, key="return_value")
        if not isinstance(value, dict) or not value.get("manifest_uri"):
            # A failed validation returns nothing, but pushes its stored report's ref first.
            value = XCom.get_value(ti_key=ti_key, key=FAILED_REPORT_KEY)
        if not isinstance(value, dict) or not value.get("manifest_uri"):
            return ""
        return manifest_browser_url(data_docs_uri(str(value["manifest_uri"])))


def data_docs_uri(manifest_uri: str) -> str:
    """The Data Docs attachment beside a validation artifact's manifest."""
    return manifest_uri.rsplit("/", 1)[0] + "/data_docs.html"


class BenchmarkReportLink(BaseOperatorLink):
    """The nightly benchmark's HTML report (with its plots), stored beside the night's results."""

    name = "Benchmark report"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        value = XCom.get_value(ti_key=ti_key, key="return_value")
        if not isinstance(value, dict) or not value.get("manifest_uri"):
            return ""
        # index.html is an attachment beside the report artifact's manifest (its images beside it).
        return manifest_browser_url(str(value["manifest_uri"]).rsplit("/", 1)[0] + "/index.html")
