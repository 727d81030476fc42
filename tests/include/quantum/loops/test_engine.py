"""The loop engine across interruptions, on real backends (Aer in process, the local job service).

- A deferred loop interrupted at *every* evaluation — each evaluation started by a new loop in a
  "new process" (new backend client, protocol, ledgers and checkpoint object, state only in S3 and
  the ledger database) — ends with the trace of the same loop held in one process, and the job
  service holds exactly one job per evaluation.
- A held loop resumed after every possible number of checkpointed evaluations follows the
  uninterrupted trajectory.
- A backend the problem does not fit fails before any job, naming the limit and the fix.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Gate, Parameter

from include.emulator.process import JobServiceProcess
from include.governance.budget import Admission, SpendLedger
from include.governance.ledger import JobLedger
from include.governance.policy import load_policy
from include.problems.maxcut import GraphSpec, make_graph
from include.quantum.backends.aer import AerBackend
from include.quantum.backends.jobservice import JobServiceBackend
from include.quantum.backends.preflight import PreflightLimits
from include.quantum.circuits.qaoa import qaoa_ansatz
from include.quantum.loops.engine import (
    DEFERRED,
    HELD,
    Evaluation,
    LoopConfigError,
    LoopSettings,
    MemoryCheckpoint,
    VariationalLoop,
    run_held,
)
from include.quantum.loops.qaoa import CountsObjective, QAOAProblem
from include.quantum.submission import SubmissionProtocol, idempotency_key
from include.store.artifacts import ArtifactStore
from include.store.checkpoint import LoopCheckpoint

EVALUATIONS, SHOTS, SEED = 6, 256, 5


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobServiceProcess]:
    with JobServiceProcess(tmp_path_factory.mktemp("jobservice") / "jobs.sqlite") as process:
        yield process


def _jobs(service: JobServiceProcess) -> int:
    return int(httpx.get(f"{service.url}/admin/stats", timeout=10).json()["jobs"]["total"])


def _problem() -> QAOAProblem:
    edges = make_graph(GraphSpec(4, "regular", 2, "unit", 3))
    objective = CountsObjective(edges, 4)
    return QAOAProblem(qaoa_ansatz(objective.cost, reps=1), objective)


def _protocol(backend: Any, ledger_url: str) -> SubmissionProtocol:
    """What a new task process builds: its own ledger connections and admission."""
    admission = Admission(load_policy(), "dev", SpendLedger(ledger_url), False)
    return SubmissionProtocol(backend, ledger=JobLedger(ledger_url), admission=admission)


def _loop(protocol: SubmissionProtocol, checkpoint: Any, run: list[Any], *, threshold: float) -> VariationalLoop:
    settings = LoopSettings("COBYLA", EVALUATIONS, SHOTS, SEED, defer_threshold_seconds=threshold)
    return VariationalLoop(_problem(), protocol, checkpoint, settings, run=run, dataset_version="test")


def _trace(evaluations: list[Evaluation]) -> list[tuple[list[float], float]]:
    return [(list(e.parameters), e.value) for e in evaluations]


def test_a_deferred_loop_interrupted_at_every_evaluation_ends_with_the_held_trace(
    service: JobServiceProcess, store: ArtifactStore, prefix: str, tmp_path: Path
) -> None:
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    # Held, in one process: the reference trace (the service's sampler is seeded per job).
    held_run = ["test_engine", f"held-{uuid.uuid4().hex[:8]}", "optimise", -1]
    held = _loop(_protocol(JobServiceBackend(service.url), ledger_url), MemoryCheckpoint(), held_run, threshold=1e9)
    reference = run_held(held, idempotency_key("loop", None, SHOTS, held.backend.name, [*held_run, "loop"]))
    assert {e.mode for e in reference.evaluations} == {HELD}

    run = ["test_engine", f"deferred-{uuid.uuid4().hex[:8]}", "optimise", -1]
    uri = store.uri(f"{prefix}/optimise/checkpoint.json")
    jobs_before, restarts = _jobs(service), 0
    while True:  # every pass is a new process: nothing survives but S3 and the ledgers
        backend = JobServiceBackend(service.url)
        checkpoint = LoopCheckpoint(store, uri, {"test": "engine"}, Evaluation)
        checkpoint.load()
        loop = _loop(_protocol(backend, ledger_url), checkpoint, run, threshold=0.0)
        loop.prepare()
        loop.reserve(idempotency_key("loop", None, SHOTS, backend.name, [*run, "loop"]))
        assert loop.mode() == DEFERRED
        if checkpoint.pending is not None:  # what the trigger waited for
            loop.protocol.wait(checkpoint.pending["job_id"])
            loop.complete_pending()
        pending = loop.advance()
        if pending is None:
            loop.protocol.close_loop()
            break
        restarts += 1
        assert restarts <= EVALUATIONS, "the loop suspended more often than it has evaluations"

    outcome = loop.outcome()
    assert restarts == len(outcome.evaluations) == len(reference.evaluations)
    assert {e.mode for e in outcome.evaluations} == {DEFERRED}
    assert _trace(outcome.evaluations) == _trace(reference.evaluations)
    assert len({e.job_id for e in outcome.evaluations}) == len(outcome.evaluations)
    # One job per evaluation: no restart resubmitted a job the service already held.
    assert _jobs(service) - jobs_before == len(outcome.evaluations)


def test_a_held_loop_resumed_after_any_number_of_evaluations_follows_the_same_trajectory(tmp_path: Path) -> None:
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    run = ["test_engine", "whole", "optimise", -1]
    whole = run_held(
        _loop(_protocol(AerBackend(seed=SEED), ledger_url), MemoryCheckpoint(), run, threshold=2.0),
        idempotency_key("loop", None, SHOTS, "aer:automatic", [*run, "loop"]),
    )
    assert len(whole.evaluations) == EVALUATIONS
    for stopped_after in range(len(whole.evaluations)):
        checkpoint = MemoryCheckpoint()
        checkpoint.history = list(whole.evaluations[:stopped_after])
        resumed_run = ["test_engine", f"resumed-{stopped_after}", "optimise", -1]
        loop = _loop(_protocol(AerBackend(seed=SEED), ledger_url), checkpoint, resumed_run, threshold=2.0)
        outcome = run_held(loop, idempotency_key("loop", None, SHOTS, "aer:automatic", [*resumed_run, "loop"]))
        assert loop.resumed_from == stopped_after
        assert _trace(outcome.evaluations) == _trace(whole.evaluations), f"resumed after {stopped_after}"


class _CountingAer(AerBackend):
    """Ideal Aer that counts the jobs it is given (a real backend, observed)."""

    submitted = 0

    def submit(self, job: Any) -> str:
        type(self).submitted += 1
        return super().submit(job)


class _ProblemOf(QAOAProblem):
    def __init__(self, circuit: QuantumCircuit) -> None:
        super().__init__(circuit, _problem().objective, [0.1] * circuit.num_parameters)


def _deep_circuit(layers: int) -> QuantumCircuit:
    theta = [Parameter(f"t{i}") for i in range(2)]
    circuit = QuantumCircuit(2)
    for _ in range(layers):
        circuit.rx(theta[0], 0)
        circuit.cx(0, 1)
        circuit.rz(theta[1], 1)
        circuit.cx(1, 0)
    circuit.measure_all()
    return circuit


def _refused(problem: QAOAProblem, tmp_path: Path, limits: PreflightLimits | None = None) -> str:
    _CountingAer.submitted = 0
    protocol = _protocol(_CountingAer(seed=SEED), f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    settings = LoopSettings("COBYLA", EVALUATIONS, SHOTS, SEED)
    loop = VariationalLoop(
        problem, protocol, MemoryCheckpoint(), settings, run=["t", "r", "o", -1], dataset_version="", limits=limits
    )
    with pytest.raises(LoopConfigError) as refused:
        run_held(loop, "refused-loop")
    assert _CountingAer.submitted == 0, "a job was submitted before the loop was refused"
    return str(refused.value)


def test_a_circuit_deeper_than_the_policy_allows_fails_before_any_job(tmp_path: Path) -> None:
    message = _refused(_ProblemOf(_deep_circuit(60)), tmp_path, PreflightLimits(max_depth=40))
    assert "depth" in message and "40" in message, message


def test_a_gate_the_target_cannot_run_fails_before_any_job(tmp_path: Path) -> None:
    circuit = _deep_circuit(1)
    circuit.append(Gate("mystery", 1, []), [0])  # an opaque gate: no definition, not in any target
    circuit.measure_all()
    message = _refused(_ProblemOf(circuit), tmp_path)
    assert "mystery" in message, message
