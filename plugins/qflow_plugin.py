"""Registers qflow's UI extras with Airflow (the extra link must be known to the webserver)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from operators.links import ArtifactManifestLink, BenchmarkReportLink, DataDocsLink


class QflowPlugin(AirflowPlugin):
    name = "qflow"
    operator_extra_links = [ArtifactManifestLink(), DataDocsLink(), BenchmarkReportLink()]  # noqa: RUF012 (Airflow's plugin API is a list)
