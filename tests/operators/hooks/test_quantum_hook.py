from __future__ import annotations

import json

import pytest

from include.quantum.backends.aer import AerBackend
from include.quantum.backends.errors import StructuralQuantumError
from include.quantum.backends.ibm import IBMRuntimeBackend
from operators.hooks.quantum import QuantumBackendHook


def test_specs_build_the_named_backends() -> None:
    assert isinstance(QuantumBackendHook("aer").get_conn(), AerBackend)
    noisy = QuantumBackendHook("aer:fake_manila").get_conn()
    assert noisy.name == "aer:fake_manila" and noisy.target().num_qubits == 5
    assert isinstance(QuantumBackendHook("ibm:fake_manila").get_conn(), IBMRuntimeBackend)
    with pytest.raises(StructuralQuantumError, match="not a known backend"):
        QuantumBackendHook("dwave:advantage").get_conn()


def test_ibm_token_comes_from_the_connection_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_QFLOW_IBM",
        json.dumps({"conn_type": "generic", "password": "tok-123", "extra": {"instance": "crn:abc", "mode": "batch"}}),
    )
    assert QuantumBackendHook("ibm:ibm_brisbane", "qflow_ibm").ibm_credentials() == {
        "token": "tok-123",
        "instance": "crn:abc",
        "mode": "batch",
    }


def test_jobservice_url_comes_from_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_QFLOW_JOBS", json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 8790}))
    assert QuantumBackendHook("jobservice:fake_manila", "qflow_jobs").service_url() == "http://127.0.0.1:8790"
