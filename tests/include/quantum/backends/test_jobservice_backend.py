"""JobServiceBackend against the real job service process: the QuantumBackend contract, and
every fault arriving as the right class of the error taxonomy."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Parameter

from include.emulator.process import JobServiceProcess, free_port
from include.quantum.backends.base import JobState, JobStatus, SamplerJob, SamplerPub
from include.quantum.backends.errors import (
    StructuralQuantumError,
    TransientQuantumError,
    call_with_retries,
)
from include.quantum.backends.jobservice import JobServiceBackend

SHOTS = 400


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobServiceProcess]:
    with JobServiceProcess(tmp_path_factory.mktemp("jobservice") / "jobs.sqlite") as process:
        yield process


@pytest.fixture
def backend(service: JobServiceProcess) -> Iterator[JobServiceBackend]:
    with JobServiceBackend(service.url, timeout=10) as client:
        yield client
        httpx.put(f"{service.url}/admin/faults", json={}).raise_for_status()


def set_faults(service: JobServiceProcess, **faults: object) -> None:
    httpx.put(f"{service.url}/admin/faults", json=faults).raise_for_status()


def ghz_job(backend: JobServiceBackend, key: str | None = None) -> SamplerJob:
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    circuit.measure_all()
    isa = transpile(circuit, target=backend.target(), seed_transpiler=3)
    return SamplerJob(pubs=[SamplerPub(isa)], shots=SHOTS, idempotency_key=key or uuid.uuid4().hex)


def wait(backend: JobServiceBackend, job_id: str, timeout: float = 60) -> JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = backend.status(job_id)
        if status.state.terminal:
            return status
        time.sleep(0.1)
    raise AssertionError(f"{job_id} did not finish: {status}")


def test_describes_the_fake_backend_it_emulates(backend: JobServiceBackend) -> None:
    assert backend.name == "jobservice:fake_manila"
    target = backend.target()
    assert target.num_qubits == 5 and "cx" in target.operation_names
    assert backend.max_shots() == 100_000
    assert backend.calibration_snapshot()["backend"] == backend.name


def test_submit_poll_result_round_trip(backend: JobServiceBackend) -> None:
    job = ghz_job(backend)
    job_id = backend.submit(job)
    status = wait(backend, job_id)
    assert status.state is JobState.DONE and status.job_id == job_id
    assert status.created_at and status.finished_at and status.created_at <= status.finished_at
    assert JobStatus.from_dict(status.to_dict()) == status, "statuses must survive a trigger event"
    result = backend.result(job_id)
    assert result.backend_name == "jobservice:fake_manila" and result.shots == SHOTS
    assert sum(result.counts[0][0].values()) == SHOTS
    assert result.timings["execute_seconds"] > 0
    assert backend.submit(job) == job_id, "same idempotency key, same job"
    found = backend.find_job(job.idempotency_key)
    assert found is not None and found.job_id == job_id
    assert backend.find_job("no-such-key") is None


def test_parameter_values_are_sent_per_pub(backend: JobServiceBackend) -> None:
    theta = Parameter("theta")
    circuit = QuantumCircuit(1)
    circuit.rx(theta, 0)
    circuit.measure_all()
    isa = transpile(circuit, target=backend.target(), seed_transpiler=3)
    values = np.array([[0.0], [np.pi], [np.pi / 2]])
    job_id = backend.submit(SamplerJob([SamplerPub(isa, values)], SHOTS, uuid.uuid4().hex))
    assert wait(backend, job_id).state is JobState.DONE
    zero, pi, half = backend.result(job_id).counts[0]
    assert zero.get("0", 0) > 0.9 * SHOTS and pi.get("1", 0) > 0.9 * SHOTS
    assert 0.3 * SHOTS < half.get("1", 0) < 0.7 * SHOTS


def test_outage_is_a_transient_error_and_retries_get_through_when_it_ends(
    backend: JobServiceBackend, service: JobServiceProcess
) -> None:
    job = ghz_job(backend)
    set_faults(service, outage_seconds=1.5)
    with pytest.raises(TransientQuantumError, match="503") as caught:
        backend.status("js-anything")
    assert caught.value.code == "503" and caught.value.retryable
    waits: list[float] = []

    def pause(_: float) -> None:  # fixed short pauses: the outage, not the jitter, decides
        waits.append(0.25)
        time.sleep(0.25)

    job_id = call_with_retries(lambda: backend.submit(job), max_attempts=30, sleep=pause)
    assert 2 <= len(waits) <= 12, f"the outage should have cost a few retries, cost {len(waits)}"
    assert backend.status(job_id).state in {JobState.QUEUED, JobState.RUNNING, JobState.DONE}


def test_rate_limit_is_transient_with_retry_after(backend: JobServiceBackend, service: JobServiceProcess) -> None:
    set_faults(service, rate_limit_per_second=1)
    backend.max_shots()
    with pytest.raises(TransientQuantumError, match="429") as caught:
        backend.max_shots()
    assert getattr(caught.value, "retry_after", None) == 1.0


def test_random_5xx_are_transient_and_call_with_retries_absorbs_them(
    backend: JobServiceBackend, service: JobServiceProcess
) -> None:
    set_faults(service, error_rate=0.5, seed=3)
    outcomes = []
    for _ in range(20):
        try:
            backend.max_shots()
            outcomes.append("ok")
        except TransientQuantumError as exc:
            assert exc.code in {"500", "502", "503"}
            outcomes.append(exc.code or "")
    assert "ok" in outcomes and len(set(outcomes)) > 1, outcomes
    for _ in range(5):
        assert call_with_retries(backend.max_shots, max_attempts=10, sleep=lambda _: None) == 100_000


@pytest.mark.parametrize(
    ("code", "error"), [(1003, StructuralQuantumError), (1008, TransientQuantumError)], ids=["1003", "1008"]
)
def test_failed_jobs_raise_their_class_on_result(
    backend: JobServiceBackend, service: JobServiceProcess, code: int, error: type[Exception]
) -> None:
    set_faults(service, fail_code=code, fail_next=1)
    job_id = backend.submit(ghz_job(backend))
    status = wait(backend, job_id)
    assert status.state is JobState.ERROR and status.error_code == str(code)
    with pytest.raises(error, match=str(code)):
        backend.result(job_id)


def test_never_finishing_job_stays_running_until_cancelled(
    backend: JobServiceBackend, service: JobServiceProcess
) -> None:
    set_faults(service, never_finish_next=1)
    job_id = backend.submit(ghz_job(backend))
    deadline = time.monotonic() + 10
    while backend.status(job_id).state is not JobState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)
    assert backend.status(job_id).state is JobState.RUNNING
    with pytest.raises(TransientQuantumError, match="not finished"):
        backend.result(job_id)
    backend.cancel(job_id)
    assert backend.status(job_id).state is JobState.CANCELLED
    with pytest.raises(StructuralQuantumError, match="cancelled"):
        backend.result(job_id)


def test_bad_submission_and_unknown_job_are_structural(backend: JobServiceBackend) -> None:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.measure_all()
    with pytest.raises(StructuralQuantumError, match=r"pubs\[0\]\.circuit.*transpile"):
        backend.submit(SamplerJob([SamplerPub(circuit)], SHOTS, uuid.uuid4().hex))
    with pytest.raises(StructuralQuantumError, match="404"):
        backend.status("js-unknown")


def test_a_client_for_another_fake_backend_is_refused_with_the_fix(
    backend: JobServiceBackend, service: JobServiceProcess
) -> None:
    job = ghz_job(backend)
    with JobServiceBackend(service.url, backend_name="fake_lima") as other:
        assert other.name == "jobservice:fake_lima"
        with pytest.raises(StructuralQuantumError, match="--backend fake_lima"):
            other.submit(job)


def test_unreachable_service_is_transient_and_says_how_to_start_it() -> None:
    with pytest.raises(TransientQuantumError, match="make up"):
        JobServiceBackend(f"http://127.0.0.1:{free_port()}", timeout=2)


def test_status_async_does_not_block_the_event_loop(backend: JobServiceBackend, service: JobServiceProcess) -> None:
    job_id = backend.submit(ghz_job(backend))
    set_faults(service, latency_seconds=0.5)  # every API answer takes 0.5 s

    async def main() -> tuple[list[JobStatus], int, float]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.create_task(ticker())
        started = time.perf_counter()
        statuses = await asyncio.gather(*(backend.status_async(job_id) for _ in range(5)))
        elapsed = time.perf_counter() - started
        stop.set()
        await tick_task
        return list(statuses), ticks, elapsed

    statuses, ticks, elapsed = asyncio.run(main())
    assert {s.job_id for s in statuses} == {job_id}
    assert elapsed < 2.0, f"5 concurrent polls of 0.5 s each took {elapsed:.2f} s: they ran one by one"
    assert ticks >= 20, f"the loop ticked only {ticks} times in {elapsed:.2f} s: something blocked it"


def test_a_lost_submit_response_retried_with_the_same_key_gives_one_job(
    backend: JobServiceBackend, service: JobServiceProcess
) -> None:
    job = ghz_job(backend)
    before = httpx.get(f"{service.url}/admin/stats").json()["jobs"]["total"]
    set_faults(service, lost_response_rate=1.0)
    with pytest.raises(TransientQuantumError, match="502"):
        backend.submit(job)
    set_faults(service)
    job_id = call_with_retries(lambda: backend.submit(job), max_attempts=3, sleep=lambda _: None)
    found = backend.find_job(job.idempotency_key)
    assert found is not None and found.job_id == job_id
    assert httpx.get(f"{service.url}/admin/stats").json()["jobs"]["total"] == before + 1


def test_registry_spec_and_a_held_run_normalise_a_job_service_result(service: JobServiceProcess) -> None:
    from include.quantum.backends.registry import make_backend
    from include.quantum.backends.results import normalise

    backend = make_backend("jobservice:fake_manila", url=service.url)
    assert isinstance(backend, JobServiceBackend) and backend.name == "jobservice:fake_manila"
    raw = backend.run(ghz_job(backend))
    frame = normalise(raw, transpiler_settings={"optimization_level": 1}, calibration=backend.calibration_snapshot())
    assert int(frame["count"].sum()) == SHOTS
    assert set(frame["backend"]) == {"jobservice:fake_manila"} and set(frame["provider_job_id"]) == {raw.job_id}
    assert (frame["execute_seconds"] > 0).all()


def test_a_worker_crash_fails_its_job_transiently_and_the_next_job_runs(
    backend: JobServiceBackend, service: JobServiceProcess
) -> None:
    set_faults(service, worker_crash_next=1)
    crashed = backend.submit(ghz_job(backend))
    status = wait(backend, crashed)
    assert status.state is JobState.ERROR and status.error_code == "1011"
    with pytest.raises(TransientQuantumError, match="1011"):
        backend.result(crashed)
    after = backend.submit(ghz_job(backend))
    assert wait(backend, after).state is JobState.DONE, "the service must replace its dead workers"
