"""QuantumJobTrigger against the real job service: one terminal event, no side effects."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from qiskit import QuantumCircuit, transpile

from include.emulator.process import JobServiceProcess
from include.quantum.backends.base import SamplerJob, SamplerPub
from include.quantum.backends.jobservice import JobServiceBackend
from operators.sensors.quantum_job import QuantumJobSensor
from operators.triggers.quantum_job import QuantumJobTrigger


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobServiceProcess]:
    with JobServiceProcess(tmp_path_factory.mktemp("trigger") / "jobs.sqlite") as process:
        yield process


@pytest.fixture
def env(service: JobServiceProcess, monkeypatch: pytest.MonkeyPatch) -> JobServiceBackend:
    monkeypatch.setenv("QFLOW_JOBSERVICE_URL", service.url)
    httpx.put(f"{service.url}/admin/faults", json={}).raise_for_status()
    return JobServiceBackend(service.url, backend_name="fake_manila")


def submit(backend: JobServiceBackend, key: str) -> str:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    isa = transpile(circuit, target=backend.target(), seed_transpiler=1)
    return backend.submit(SamplerJob([SamplerPub(isa)], 100, f"{key}-{time.time()}"))


async def collect(trigger: QuantumJobTrigger) -> list[dict[str, object]]:
    return [event.payload async for event in trigger.run()]


def test_serialises_with_its_real_module_path_and_json_safe_kwargs() -> None:
    path, kwargs = QuantumJobTrigger(
        "job-1",
        "jobservice:fake_manila",
        None,
        1.0,
        5.0,
        queue_sla_seconds=60.0,
        submitted_at="2026-01-01T00:00:00+00:00",
    ).serialize()
    module, _, name = path.rpartition(".")
    assert getattr(importlib.import_module(module), name) is QuantumJobTrigger
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert QuantumJobTrigger(**kwargs).serialize() == (path, kwargs)


def test_waits_through_the_queue_and_yields_one_done_event_without_touching_the_job(
    env: JobServiceBackend, service: JobServiceProcess
) -> None:
    httpx.put(f"{service.url}/admin/faults", json={"queue_delay_seconds": 3}).raise_for_status()
    job_id = submit(env, "trigger-done")
    before = httpx.get(f"{service.url}/admin/stats").json()["jobs"]["total"]
    ticks = 0

    async def scenario() -> list[dict[str, object]]:
        nonlocal ticks
        task = asyncio.create_task(collect(QuantumJobTrigger(job_id, "jobservice:fake_manila", poll_interval=0.2)))
        while not task.done():  # the loop stays free while the trigger waits
            ticks += 1
            await asyncio.sleep(0.05)
        return await task

    events = asyncio.run(scenario())
    assert [e["state"] for e in events] == ["DONE"] and events[0]["job_id"] == job_id
    assert ticks > 20
    # Running the same trigger again (a triggerer restart) is harmless: same answer, no new job.
    assert [e["state"] for e in asyncio.run(collect(QuantumJobTrigger(job_id, "jobservice:fake_manila")))] == ["DONE"]
    assert httpx.get(f"{service.url}/admin/stats").json()["jobs"]["total"] == before


def test_transient_polling_errors_are_polled_through(env: JobServiceBackend, service: JobServiceProcess) -> None:
    job_id = submit(env, "trigger-outage")
    httpx.put(f"{service.url}/admin/faults", json={"outage_seconds": 2}).raise_for_status()
    events = asyncio.run(collect(QuantumJobTrigger(job_id, "jobservice:fake_manila", poll_interval=0.3)))
    assert [e["state"] for e in events] == ["DONE"]


def test_queue_sla_reports_sla_exceeded_and_leaves_the_job_alone(
    env: JobServiceBackend, service: JobServiceProcess
) -> None:
    httpx.put(f"{service.url}/admin/faults", json={"queue_delay_seconds": 30}).raise_for_status()
    job_id = submit(env, "trigger-sla")
    trigger = QuantumJobTrigger(job_id, "jobservice:fake_manila", poll_interval=0.2, queue_sla_seconds=1.0)
    events = asyncio.run(collect(trigger))
    assert [e["state"] for e in events] == ["SLA_EXCEEDED"]
    assert float(events[0]["waited_seconds"]) >= 1.0  # type: ignore[arg-type]
    assert env.status(job_id).state.value == "QUEUED"  # the trigger has no side effects
    env.cancel(job_id)


def test_queue_sla_counts_from_the_jobs_own_submission_time_not_the_triggers_start(
    env: JobServiceBackend, service: JobServiceProcess
) -> None:
    """A trigger that starts late (a triggerer restart, a slow deferral) still honours the SLA from
    when the provider took the job; a submission time carried from another clock is overridden."""
    httpx.put(f"{service.url}/admin/faults", json={"queue_delay_seconds": 30}).raise_for_status()
    job_id = submit(env, "trigger-sla-late")
    time.sleep(2.0)
    skewed = "2999-01-01T00:00:00+00:00"  # a worker clock far ahead: would never expire on its own
    trigger = QuantumJobTrigger(
        job_id, "jobservice:fake_manila", poll_interval=10.0, queue_sla_seconds=1.5, submitted_at=skewed
    )
    started = time.monotonic()
    events = asyncio.run(collect(trigger))
    assert [e["state"] for e in events] == ["SLA_EXCEEDED"]
    assert float(events[0]["waited_seconds"]) >= 2.0  # type: ignore[arg-type]
    assert time.monotonic() - started < 5.0  # on the first poll, not after a poll interval of its own
    env.cancel(job_id)


def test_sensor_pokes_until_done_and_fails_on_error(env: JobServiceBackend, service: JobServiceProcess) -> None:
    done_id = submit(env, "sensor-done")
    sensor = QuantumJobSensor(task_id="wait", job_id=done_id, backend="jobservice:fake_manila", deferrable=False)
    deadline = time.monotonic() + 60
    while not sensor.poke({}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert env.status(done_id).state.value == "DONE"
    httpx.put(f"{service.url}/admin/faults", json={"fail_code": 1003, "fail_next": 1}).raise_for_status()
    failed_id = submit(env, "sensor-fail")
    failing = QuantumJobSensor(task_id="wait2", job_id=failed_id, backend="jobservice:fake_manila", deferrable=False)
    with pytest.raises(Exception, match="ended ERROR"):
        while time.monotonic() < deadline + 60:
            failing.poke({})
            time.sleep(0.2)


def test_the_first_poll_waits_out_the_providers_expected_wait_then_polls_promptly(
    env: JobServiceBackend, service: JobServiceProcess
) -> None:
    """Given the expected wait, a queued job is polled once it can be done — few polls, no late one."""
    httpx.put(f"{service.url}/admin/faults", json={"queue_delay_seconds": 3}).raise_for_status()
    expected = float(httpx.get(f"{service.url}/queue").json()["expected_wait_seconds"])
    assert expected >= 3
    job_id = submit(env, "trigger-expected-wait")
    polls_before = httpx.get(f"{service.url}/admin/stats").json()["requests"]
    started = time.monotonic()
    trigger = QuantumJobTrigger(
        job_id, "jobservice:fake_manila", poll_interval=1.0, max_poll_interval=5.0, expected_wait_seconds=expected
    )
    events = asyncio.run(collect(trigger))
    waited = time.monotonic() - started
    polls = httpx.get(f"{service.url}/admin/stats").json()["requests"] - polls_before
    assert [e["state"] for e in events] == ["DONE"]
    assert 3 <= waited <= expected + 2.5  # growing intervals from the start would first poll after 4.75 s, then 8.1 s
    assert polls <= 4, polls  # status polls only after the expected wait (+ this test's own stats call)
