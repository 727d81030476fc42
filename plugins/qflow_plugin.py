"""Registers qflow's UI extras with Airflow: the extra links (they must be known to the api-server),
the artifact browser they open (served by the api-server at /qflow/artifacts) and the operations
view (served at /qflow/ops, listed in the UI's navigation as "qflow")."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from operators import ops_view
from operators.artifact_browser import URL_PREFIX
from operators.artifact_browser import app as artifact_browser_app
from operators.links import ArtifactManifestLink, BenchmarkReportLink, DataDocsLink


class QflowPlugin(AirflowPlugin):
    name = "qflow"
    operator_extra_links = [ArtifactManifestLink(), DataDocsLink(), BenchmarkReportLink()]  # noqa: RUF012 (Airflow's plugin API is a list)
    fastapi_apps = [  # noqa: RUF012 (Airflow's plugin API is a list)
        {"app": artifact_browser_app, "url_prefix": URL_PREFIX, "name": "qflow artifact browser"},
        {"app": ops_view.app, "url_prefix": ops_view.URL_PREFIX, "name": "qflow operations view"},
    ]
    # The UI frames the page at /plugin/qflow and lists it at the top of its navigation.
    external_views = [  # noqa: RUF012 (Airflow's plugin API is a list)
        {
            "name": "qflow",
            "href": ops_view.ui_href(),
            "url_route": ops_view.UI_ROUTE,
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
