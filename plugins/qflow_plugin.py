"""Registers qflow's UI extras with Airflow: the extra links (they must be known to the api-server)
and the artifact browser they open (served by the api-server at /qflow/artifacts)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from operators.artifact_browser import URL_PREFIX
from operators.artifact_browser import app as artifact_browser_app
from operators.links import ArtifactManifestLink, BenchmarkReportLink, DataDocsLink


class QflowPlugin(AirflowPlugin):
    name = "qflow"
    operator_extra_links = [ArtifactManifestLink(), DataDocsLink(), BenchmarkReportLink()]  # noqa: RUF012 (Airflow's plugin API is a list)
    fastapi_apps = [  # noqa: RUF012 (Airflow's plugin API is a list)
        {"app": artifact_browser_app, "url_prefix": URL_PREFIX, "name": "qflow artifact browser"}
    ]
