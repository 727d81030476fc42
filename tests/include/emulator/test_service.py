"""The job service over HTTP, as its own process: API shapes, idempotency, queue positions,
restart survival, and the faults as a client sees them (status codes, Retry-After)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from qiskit import QuantumCircuit, transpile

from include.emulator.process import JobServiceProcess
from include.quantum.backends.fake import fake_backend
from include.quantum.circuits.wire import circuit_to_base64 as encode_circuit

SHOTS = 500


def ghz_qpy(n: int = 3, native: bool = True) -> str:
    circuit = QuantumCircuit(n)
    circuit.h(0)
    for q in range(n - 1):
        circuit.cx(q, q + 1)
    circuit.measure_all()
    if native:
        circuit = transpile(circuit, target=fake_backend("fake_manila").target, seed_transpiler=7)
    return encode_circuit(circuit)


def job_body(key: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"pubs": [{"circuit": ghz_qpy()}], "shots": SHOTS, "idempotency_key": key or uuid.uuid4().hex}
    return {**body, **extra}


def wait_for(client: httpx.Client, job_id: str, states: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        if body["state"] in states:
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {states}; last {body}")


def children(pid: int) -> list[int]:
    """Live child processes of pid (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobServiceProcess]:
    with JobServiceProcess(tmp_path_factory.mktemp("jobservice") / "jobs.sqlite") as process:
        yield process


@pytest.fixture
def client(service: JobServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=30) as http:
        yield http
        assert http.put("/admin/faults", json={}).status_code == 200  # lift whatever the test set


def test_submit_runs_a_noisy_ghz_to_done_with_counts_summing_to_shots(client: httpx.Client) -> None:
    created = client.post("/jobs", json=job_body())
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["state"] in {"QUEUED", "RUNNING"} and job["created_at"]
    done = wait_for(client, job["job_id"], {"DONE", "ERROR"})
    assert done["state"] == "DONE", done
    assert done["created_at"] <= done["running_at"] <= done["finished_at"]
    assert done["usage_seconds"] > 0 and done["queue_position"] is None

    result = client.get(f"/jobs/{job['job_id']}/result").json()
    (counts,) = result["counts"][0]
    assert sum(counts.values()) == SHOTS
    ghz = counts.get("000", 0) + counts.get("111", 0)
    assert 0.7 * SHOTS < ghz < SHOTS, f"noisy GHZ should be mostly 000/111 but not all: {counts}"
    assert {"queue_seconds", "execute_seconds", "usage_seconds"} <= set(result["timings"])
    assert result["backend"] == "fake_manila"


def test_parameter_sets_give_one_count_table_each_and_the_seed_reproduces_them(client: httpx.Client) -> None:
    from qiskit.circuit import Parameter

    theta = Parameter("theta")
    circuit = QuantumCircuit(1)
    circuit.rx(theta, 0)
    circuit.measure_all()
    isa = transpile(circuit, target=fake_backend("fake_manila").target, seed_transpiler=1)
    pub = {"circuit": encode_circuit(isa), "parameter_values": [[0.0], [3.14159]]}
    ids = []
    for _ in range(2):
        body = {"pubs": [pub], "shots": SHOTS, "idempotency_key": uuid.uuid4().hex, "options": {"seed": 11}}
        ids.append(client.post("/jobs", json=body).json()["job_id"])
    results = []
    for job_id in ids:
        assert wait_for(client, job_id, {"DONE", "ERROR"})["state"] == "DONE"
        results.append(client.get(f"/jobs/{job_id}/result").json()["counts"])
    zero, pi = results[0][0]
    assert zero.get("0", 0) > 0.9 * SHOTS and pi.get("1", 0) > 0.9 * SHOTS
    assert results[0] == results[1], "same seed, same circuit: same counts"


def test_idempotent_resubmit_returns_the_same_job_and_creates_no_second(client: httpx.Client) -> None:
    before = client.get("/admin/stats").json()["jobs"]["total"]
    key = f"idem-{uuid.uuid4().hex}"
    first = client.post("/jobs", json=job_body(key))
    again = client.post("/jobs", json=job_body(key))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["job_id"] == again.json()["job_id"]
    assert client.get("/admin/stats").json()["jobs"]["total"] == before + 1
    (found,) = client.get("/jobs", params={"idempotency_key": key}).json()["jobs"]
    assert found["job_id"] == first.json()["job_id"]
    assert client.get("/jobs", params={"idempotency_key": "never-used"}).json()["jobs"] == []


def test_queued_jobs_report_fifo_queue_positions_and_can_be_cancelled(client: httpx.Client) -> None:
    client.put("/admin/faults", json={"queue_delay_seconds": 60}).raise_for_status()
    ids = [client.post("/jobs", json=job_body()).json()["job_id"] for _ in range(3)]
    positions = [client.get(f"/jobs/{job_id}").json()["queue_position"] for job_id in ids]
    assert positions == [1, 2, 3]
    cancelled = client.post(f"/jobs/{ids[0]}/cancel").json()
    assert cancelled["state"] == "CANCELLED" and cancelled["finished_at"]
    assert [client.get(f"/jobs/{i}").json()["queue_position"] for i in ids[1:]] == [1, 2]
    for job_id in ids[1:]:
        client.post(f"/jobs/{job_id}/cancel").raise_for_status()
    refused = client.get(f"/jobs/{ids[0]}/result")
    assert refused.status_code == 409 and refused.json()["state"] == "CANCELLED"


def test_release_ends_the_holds_of_queued_jobs_which_then_run_in_order(client: httpx.Client) -> None:
    client.put("/admin/faults", json={"queue_delay_seconds": 600}).raise_for_status()
    ids = [client.post("/jobs", json=job_body()).json()["job_id"] for _ in range(2)]
    client.put("/admin/faults", json={}).raise_for_status()  # lifting the fault keeps the holds given
    time.sleep(1.0)
    assert [client.get(f"/jobs/{job_id}").json()["state"] for job_id in ids] == ["QUEUED", "QUEUED"]
    assert client.post("/admin/release").json() == {"released": 2}
    done = [wait_for(client, job_id, {"DONE"}, timeout=60) for job_id in ids]
    assert done[0]["running_at"] <= done[1]["running_at"]  # FIFO, as queued
    assert client.post("/admin/release").json() == {"released": 0}  # nothing held any more


def test_outage_answers_503_with_retry_after_but_health_and_admin_stay_up(client: httpx.Client) -> None:
    client.put("/admin/faults", json={"outage_seconds": 30}).raise_for_status()
    for method, path in (("GET", "/jobs/x"), ("POST", "/jobs"), ("GET", "/backend")):
        response = client.request(method, path, json=job_body() if method == "POST" else None)
        assert response.status_code == 503 and response.json()["injected"] is True
        assert 25 <= int(response.headers["Retry-After"]) <= 30
    assert client.get("/health").status_code == 200
    assert client.get("/admin/stats").json()["faults_injected"]["outage_503"] >= 3
    client.put("/admin/faults", json={}).raise_for_status()
    assert client.get("/backend").status_code == 200


def test_rate_limit_answers_429_with_retry_after(client: httpx.Client) -> None:
    client.put("/admin/faults", json={"rate_limit_per_second": 2}).raise_for_status()
    statuses = [client.get("/backend") for _ in range(6)]
    codes = [r.status_code for r in statuses]
    assert codes[:2] == [200, 200] and 429 in codes, codes
    limited = next(r for r in statuses if r.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1 and "per second" in limited.json()["detail"]


def test_submission_that_cannot_run_is_refused_naming_the_field(client: httpx.Client) -> None:
    body = job_body()
    body["pubs"][0]["circuit"] = ghz_qpy(native=False)
    refused = client.post("/jobs", json=body)
    assert refused.status_code == 400 and "pubs[0].circuit" in refused.json()["detail"]
    assert "transpile" in refused.json()["detail"]
    too_big = client.post("/jobs", json=job_body(pubs=[{"circuit": encode_circuit(QuantumCircuit(7, 7))}]))
    assert too_big.status_code == 400 and "7 qubits" in too_big.json()["detail"]
    not_qpy = client.post("/jobs", json=job_body(pubs=[{"circuit": "aGVsbG8="}]))
    assert not_qpy.status_code == 400 and "not QPY" in not_qpy.json()["detail"]
    shots = client.post("/jobs", json=job_body(shots=0))
    assert shots.status_code == 422 and "shots" in shots.json()["detail"]
    faults = client.put("/admin/faults", json={"eror_rate": 0.5})
    assert faults.status_code == 422 and "eror_rate" in faults.json()["detail"]
    assert client.get("/jobs/js-nope").status_code == 404


def test_a_job_queued_when_the_service_dies_completes_after_restart_under_its_id(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite"
    service = JobServiceProcess(db, faults={"queue_delay_seconds": 3})
    with service:
        with httpx.Client(base_url=service.url, timeout=30) as http:
            job = http.post("/jobs", json=job_body("survivor")).json()
            assert http.get(f"/jobs/{job['job_id']}").json()["state"] == "QUEUED"
        assert service.proc is not None
        workers = children(service.proc.pid)
        assert workers, "the service should have started worker processes"
        os.kill(service.proc.pid, signal.SIGKILL)  # a crash: nothing is flushed on the way out
        deadline = time.monotonic() + 30  # a loaded machine reaps slowly
        while (alive := [pid for pid in workers if Path(f"/proc/{pid}").exists()]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive, f"worker processes {alive} outlived the killed service"
        service.kill()
        restarted = JobServiceProcess(db, port=service.port)
        with restarted, httpx.Client(base_url=restarted.url, timeout=30) as http:
            done = wait_for(http, job["job_id"], {"DONE", "ERROR"})
            assert done["state"] == "DONE" and done["created_at"] == job["created_at"]
            again = http.post("/jobs", json=job_body("survivor"))
            assert again.status_code == 200 and again.json()["job_id"] == job["job_id"]
            assert http.get("/admin/stats").json()["jobs"]["total"] == 1
            counts = http.get(f"/jobs/{job['job_id']}/result").json()["counts"][0][0]
            assert sum(counts.values()) == SHOTS


def test_serve_refuses_bad_settings_naming_the_option(tmp_path: Path) -> None:
    for args, named in (
        (["--faults", json.dumps({"queue_delay": 1})], "queue_delay"),
        (["--backend", "fake_nowhere"], "fake_nowhere"),
        (["--workers", "0"], "--workers"),
    ):
        cmd = [sys.executable, "-m", "include.cli", "emulator", "serve", "--db", str(tmp_path / "x.sqlite")]
        done = subprocess.run(cmd + args, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and named in done.stderr, (args, done.stderr)


def test_noise_can_be_switched_off_for_exact_results(tmp_path: Path) -> None:
    from include.emulator.process import JobServiceProcess
    from include.quantum.backends.base import SamplerJob, SamplerPub
    from include.quantum.backends.jobservice import JobServiceBackend

    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    circuit.measure_all()
    with JobServiceProcess(tmp_path / "jobs.sqlite", env={**os.environ, "QFLOW_JOBSERVICE_NOISE": "off"}) as service:
        backend = JobServiceBackend(service.url, backend_name="fake_manila")
        assert backend.backend_info()["noise"] is False
        isa = transpile(circuit, target=backend.target(), seed_transpiler=1)
        counts = backend.run(SamplerJob([SamplerPub(isa)], 500, "ideal-ghz")).counts[0][0]
    assert set(counts) == {"000", "111"} and sum(counts.values()) == 500
