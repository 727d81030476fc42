"""IBM Runtime backend: the runtime's local testing mode runs for real on a fake backend; the
cloud service cannot be reached from here, so its client is replaced by a stand-in that
returns the states and errors the real service would."""

from __future__ import annotations

import json
import logging
import pickle
import time
from typing import Any

import pytest
from qiskit import QuantumCircuit, transpile

from include.quantum.backends.base import JobState, SamplerJob, SamplerPub
from include.quantum.backends.errors import AuthQuantumError, StructuralQuantumError, TransientQuantumError
from include.quantum.backends.ibm import IBMRuntimeBackend, job_state
from include.quantum.backends.results import JOB_RESULT_DTYPES, normalise


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2, name="bell")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def test_local_testing_mode_runs_a_sampler_job_and_normalises_like_every_backend() -> None:
    backend = IBMRuntimeBackend("fake_manila")
    isa = transpile(bell(), target=backend.target(), seed_transpiler=1)
    job_id = backend.submit(SamplerJob([SamplerPub(isa)], 400, "bell-1"))
    deadline = time.monotonic() + 60
    while not backend.status(job_id).state.terminal and time.monotonic() < deadline:
        time.sleep(0.1)
    assert backend.status(job_id).state is JobState.DONE
    raw = backend.result(job_id)
    assert sum(raw.counts[0][0].values()) == 400
    frame = normalise(raw, transpiler_settings={}, calibration=backend.calibration_snapshot())
    assert list(frame.columns) == list(JOB_RESULT_DTYPES) and set(frame["backend"]) == {"ibm:fake_manila"}


def test_status_names_map_to_the_five_states() -> None:
    assert job_state("QUEUED") is JobState.QUEUED
    assert job_state("JobStatus.RUNNING") is JobState.RUNNING
    assert job_state("DONE") is JobState.DONE
    assert job_state("ERROR") is JobState.ERROR
    assert job_state("CANCELLED") is JobState.CANCELLED
    with pytest.raises(StructuralQuantumError):
        job_state("EXPLODED")


class RuntimeJobFailureError(Exception):
    """Same name as qiskit-ibm-runtime's, which classify() recognises by name."""


class StandInJob:
    def __init__(self, states: list[str], failure: Exception | None = None) -> None:
        self.states = states
        self.failure = failure

    def job_id(self) -> str:
        return "cloud-job-1"

    def status(self) -> str:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def metrics(self) -> dict[str, Any]:
        return {
            "timestamps": {"created": "2026-11-23T10:00:00Z", "running": None, "finished": None},
            "usage": {"quantum_seconds": 2.5},
            "position_in_queue": 4,
        }

    def error_message(self) -> str:
        return "Error code 1003; circuit invalid"

    def result(self) -> Any:
        if self.failure:
            raise self.failure
        raise AssertionError("not reached in these tests")


class StandInService:
    """Replaces QiskitRuntimeService: the IBM cloud is not reachable from this machine."""

    def __init__(self, job: StandInJob) -> None:
        self._job = job
        from qiskit_ibm_runtime.fake_provider import FakeManilaV2

        self._backend = FakeManilaV2()

    def backend(self, name: str) -> Any:
        return self._backend

    def job(self, job_id: str) -> StandInJob:
        return self._job

    def jobs(self, job_tags: list[str], limit: int) -> list[StandInJob]:
        return [self._job] if job_tags == ["known-key"] else []


def test_cloud_state_transitions_queue_position_and_usage() -> None:
    backend = IBMRuntimeBackend("ibm_brisbane", service=StandInService(StandInJob(["QUEUED", "RUNNING", "DONE"])))
    first = backend.status("cloud-job-1")
    assert first.state is JobState.QUEUED and first.queue_position == 4 and first.usage_seconds == 2.5
    assert first.created_at is not None and first.created_at.year == 2026
    assert backend.status("cloud-job-1").state is JobState.RUNNING
    assert backend.status("cloud-job-1").state is JobState.DONE
    assert backend.find_job("known-key") == "cloud-job-1" and backend.find_job("other") is None


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Job failed. Error code 1003: invalid circuit", StructuralQuantumError),
        ("Job failed. Error code 1008: internal error", TransientQuantumError),
        ("Error code 1202: too many requests", TransientQuantumError),
        ("Error code 1200: bad token", AuthQuantumError),
    ],
)
def test_cloud_job_failures_are_classified(message: str, kind: type[Exception]) -> None:
    job = StandInJob(["ERROR"], failure=RuntimeJobFailureError(message))
    backend = IBMRuntimeBackend("ibm_brisbane", service=StandInService(job))
    status = backend.status("cloud-job-1")
    assert status.state is JobState.ERROR and "1003" in (status.error_message or "")
    with pytest.raises(kind):
        backend.result("cloud-job-1")


def test_missing_token_says_where_to_put_it() -> None:
    with pytest.raises(StructuralQuantumError, match="password field"):
        IBMRuntimeBackend("ibm_brisbane")


FAKE_TOKEN = "qflow-fake-ibm-token-3f9c2a7d41e8"  # never valid anywhere: the IBM cloud is never reached


class StandInRuntimeService:
    """Stands in for QiskitRuntimeService itself (the cloud is not reachable from here): it takes
    the token the way the real client does and keeps it, so a leak through the client shows up."""

    def __init__(self, channel: str, token: str, instance: str | None = None, fail: Exception | None = None) -> None:
        self.channel, self.token, self.instance = channel, token, instance  # as the real client keeps it
        if fail is not None:
            raise fail
        from qiskit_ibm_runtime.fake_provider import FakeManilaV2

        self._backend = FakeManilaV2()
        self._job = StandInJob(["QUEUED", "RUNNING", "DONE"])

    def __repr__(self) -> str:  # the worst case: a client whose repr shows its credentials
        return f"StandInRuntimeService(token={self.token!r})"

    def backend(self, name: str) -> Any:
        return self._backend

    def job(self, job_id: str) -> StandInJob:
        return self._job

    def jobs(self, job_tags: list[str], limit: int) -> list[StandInJob]:
        return []


def test_the_token_appears_nowhere_in_repr_logs_or_serialised_forms(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import qiskit_ibm_runtime

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", StandInRuntimeService)
    monkeypatch.setenv(
        "AIRFLOW_CONN_QFLOW_IBM_TEST",
        json.dumps({"conn_type": "generic", "password": FAKE_TOKEN, "extra": {"instance": "crn:test"}}),
    )
    caplog.set_level(logging.DEBUG)
    from operators.hooks.quantum import QuantumBackendHook

    backend = QuantumBackendHook("ibm:ibm_brisbane", "qflow_ibm_test").get_conn()
    assert isinstance(backend, IBMRuntimeBackend)
    assert getattr(backend._service, "token", None) == FAKE_TOKEN  # it reached the client: the test can fail
    isa = transpile(bell(), target=backend.target(), seed_transpiler=1)
    job_id = backend.submit(SamplerJob([SamplerPub(isa)], 100, "bell-token"))
    status = backend.status("cloud-job-1")
    seen = [
        repr(backend),
        str(backend),
        repr(status),
        json.dumps(dict(backend.calibration_snapshot())),
        str(backend.find_job("bell-token")),
        job_id,
        caplog.text,
    ]
    for text in seen:
        assert FAKE_TOKEN not in text
    with pytest.raises(TypeError, match="credentials") as refused:
        pickle.dumps(backend)
    assert FAKE_TOKEN not in str(refused.value)


def test_a_client_error_that_echoes_the_token_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    import qiskit_ibm_runtime

    class RequestsApiError(Exception):
        """Same name as qiskit-ibm-runtime's; this one echoes the request, token included."""

    def refusing(**kwargs: Any) -> Any:
        return StandInRuntimeService(
            **kwargs, fail=RequestsApiError(f"401 Unauthorized for apikey={kwargs['token']}: Error code 1200")
        )

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", refusing)
    with pytest.raises(AuthQuantumError) as info:
        IBMRuntimeBackend("ibm_brisbane", token=FAKE_TOKEN)
    assert "1200" in str(info.value) and "***" in str(info.value)
    chain: BaseException | None = info.value
    while chain is not None:  # neither the error nor anything printed with its traceback
        assert FAKE_TOKEN not in str(chain) and FAKE_TOKEN not in repr(chain.args)
        chain = chain.__cause__ or (None if chain.__suppress_context__ else chain.__context__)
