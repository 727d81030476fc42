"""QuantumBackendHook: a backend from a spec string plus an optional Airflow connection.

The connection carries what must not be in code: the job service URL (host/port or extra.url),
or an IBM token (password) and instance (extra.instance). Airflow masks the password in logs;
it never reaches artifacts, manifests or XCom.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from include.quantum.backends.base import QuantumBackend


class QuantumBackendHook(BaseHook):
    conn_name_attr = "quantum_conn_id"
    default_conn_name = "qflow_quantum"
    conn_type = "generic"
    hook_name = "qflow quantum backend"

    def __init__(self, backend: str, quantum_conn_id: str | None = None, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.backend_spec = backend
        self.quantum_conn_id = quantum_conn_id
        self.seed = seed

    def service_url(self) -> str | None:
        if self.quantum_conn_id:
            conn = self.get_connection(self.quantum_conn_id)
            if url := conn.extra_dejson.get("url"):
                return str(url)
            if conn.host:
                scheme = conn.schema or "http"
                return f"{scheme}://{conn.host}{f':{conn.port}' if conn.port else ''}"
        return os.environ.get("QFLOW_JOBSERVICE_URL")

    def ibm_credentials(self) -> dict[str, Any]:
        """Token (the connection's password, masked by Airflow) and instance/channel/mode (extra)."""
        if not self.quantum_conn_id:
            return {}
        conn = self.get_connection(self.quantum_conn_id)
        extra = conn.extra_dejson
        options = {k: extra[k] for k in ("instance", "channel", "mode") if extra.get(k)}
        return {"token": conn.password, **options} if conn.password else options

    def get_conn(self) -> QuantumBackend:
        from include.quantum.backends.registry import make_backend

        if self.backend_spec.startswith("ibm:"):
            return make_backend(self.backend_spec, seed=self.seed, **self.ibm_credentials())
        url = self.service_url() if self.backend_spec.startswith("jobservice") else None
        return make_backend(self.backend_spec, seed=self.seed, url=url)
