"""Operator extra link: open a stage's lineage manifest in the object store's browser.

The SeaweedFS filer serves a browsable view of buckets (``http://<host>:8888/buckets/...``);
set QFLOW_ARTIFACT_BROWSER_URL to point the link elsewhere (any S3 console URL prefix).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

DEFAULT_BROWSER_URL = "http://localhost:8888/buckets"
FAILED_REPORT_KEY = "failed_validation_report"  # XCom key: the ref of a failed suite's report


def manifest_browser_url(manifest_uri: str, base: str | None = None) -> str:
    """``s3://bucket/key`` → ``<base>/bucket/key``."""
    base = (base or os.environ.get("QFLOW_ARTIFACT_BROWSER_URL") or DEFAULT_BROWSER_URL).rstrip("/")
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
