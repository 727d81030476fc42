"""IBM Runtime backend: the runtime's local testing mode runs for real on a fake backend; the
cloud service cannot be reached from here, so its client is replaced by a stand-in that
returns the states and errors the real service would."""

from __future__ import annotations

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
    assert "token" not in repr(backend)


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
