"""IBM execution contexts: a Session per variational loop, a Batch per sweep batch task, closed at the
end, on failure and on kill. The runtime's local mode (``ibm:fake_*``) runs for real; where the IBM
cloud would be needed (re-attaching by id), only its API client is replaced by a stand-in."""

from __future__ import annotations

from typing import Any

import pytest
from qiskit import QuantumCircuit, transpile

from include.problems.maxcut import GraphSpec, make_graph
from include.quantum.backends.base import QuantumBackend, SamplerJob, SamplerPub
from include.quantum.backends.errors import StructuralQuantumError
from include.quantum.backends.ibm import IBMRuntimeBackend
from include.quantum.circuits.qaoa import qaoa_ansatz
from include.quantum.loops.engine import MemoryCheckpoint
from include.quantum.loops.qaoa import CountsObjective, optimise_qaoa


def _bell_job(backend: QuantumBackend, key: str) -> SamplerJob:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return SamplerJob([SamplerPub(transpile(circuit, target=backend.target(), seed_transpiler=1))], 100, key)


def _qaoa(n: int = 4) -> tuple[QuantumCircuit, CountsObjective]:
    objective = CountsObjective(make_graph(GraphSpec(n, "regular", 3, "unit", 2)), n)
    return qaoa_ansatz(objective.cost, reps=1), objective


def test_a_fake_backend_qaoa_loop_runs_in_one_session_closed_afterwards() -> None:
    backend = IBMRuntimeBackend("fake_manila")
    opened: list[Any] = []
    real_open = backend.open_context

    def spy(kind: str, context_id: str | None = None) -> str | None:
        opened.append(kind)
        result = real_open(kind, context_id)
        opened.append(backend._context)
        return result

    backend.open_context = spy  # type: ignore[method-assign]
    ansatz, objective = _qaoa(4)
    checkpoint = MemoryCheckpoint()
    result = optimise_qaoa(
        ansatz, objective, shots=128, max_iterations=4, seed=3, backend=backend, checkpoint=checkpoint
    )

    assert len(result.evaluations) == 4
    session_id = checkpoint.context["session_id"]
    assert session_id.startswith("local-session-")  # the runtime's local mode: a local Session
    assert opened[0] == "session" and type(opened[1]).__name__ == "Session" and len(opened) == 2  # opened once
    # Every evaluation's job ran in that one session.
    assert {backend._job_contexts[e.job_id] for e in result.evaluations} == {("session", session_id)}
    # Closed afterwards: the runtime's Session no longer accepts jobs, and neither does the backend.
    assert opened[1]._active is False and backend.context_id is None
    with pytest.raises(StructuralQuantumError, match=f"session {session_id} is closed"):
        backend.submit(_bell_job(backend, "after-the-loop"))


def test_a_loop_that_fails_closes_its_session() -> None:
    backend = IBMRuntimeBackend("fake_manila")
    ansatz, objective = _qaoa(4)

    def broken(counts: Any) -> tuple[float, float, str, float]:
        raise RuntimeError("objective failed")

    objective.evaluate = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="objective failed"):
        optimise_qaoa(ansatz, objective, shots=64, max_iterations=3, seed=3, backend=backend)
    assert backend.context_id is None and backend._closed is not None and backend._closed[0] == "session"


def test_a_killed_loop_operator_closes_its_session_and_no_further_job_runs_in_it() -> None:
    """on_kill arrives while the loop runs (Airflow calls it from the task's signal handler): the
    session is closed at once, and the loop's next evaluation is refused instead of running in it."""
    from operators.operators.loop import VariationalLoopOperator

    backend = IBMRuntimeBackend("fake_manila")
    operator = VariationalLoopOperator(task_id="optimise", loop_backend="ibm:fake_manila")
    operator._backend = backend
    ansatz, objective = _qaoa(4)
    real = objective.evaluate
    scored: list[int] = []

    def evaluate_then_kill(counts: dict[str, int]) -> tuple[float, float, str, float]:
        scored.append(1)
        if len(scored) == 2:
            operator.on_kill()  # the task is killed after its second evaluation
        return real(counts)

    objective.evaluate = evaluate_then_kill  # type: ignore[method-assign]
    checkpoint = MemoryCheckpoint()
    with pytest.raises(StructuralQuantumError, match="is closed; a job submitted in it is refused"):
        optimise_qaoa(ansatz, objective, shots=64, max_iterations=6, seed=3, backend=backend, checkpoint=checkpoint)
    assert len(scored) == 2 and len(checkpoint.history) == 2
    assert backend._closed == ("session", checkpoint.context["session_id"])


def test_batch_context_runs_jobs_and_refuses_them_once_closed() -> None:
    backend = IBMRuntimeBackend("fake_manila")
    batch_id = backend.open_context("batch")
    assert batch_id is not None and batch_id.startswith("local-batch-")
    assert type(backend._context).__name__ == "Batch"
    assert backend.open_context("batch", batch_id) == batch_id  # already open here: the same one
    job_id = backend.submit(_bell_job(backend, "in-batch"))
    assert backend._job_contexts[job_id] == ("batch", batch_id)
    assert sum(backend.result(job_id).counts[0][0].values()) == 100
    assert backend.result(job_id).metadata["context"] == batch_id
    backend.close_context()
    backend.close_context()  # idempotent
    with pytest.raises(StructuralQuantumError, match=f"batch {batch_id} is closed"):
        backend.submit(_bell_job(backend, "after-close"))
    # A new context can be opened for later work; a local one cannot be re-attached (it lived in its process).
    assert backend.open_context("batch", batch_id) != batch_id
    backend.close_context()


def test_unknown_context_kind_names_the_choices() -> None:
    with pytest.raises(StructuralQuantumError, match="'session' for a variational loop"):
        IBMRuntimeBackend("fake_manila").open_context("dedicated")


class StandInApiClient:
    """The IBM cloud's REST client (unreachable from here): session details as the cloud returns them."""

    def __init__(self, sessions: dict[str, dict[str, Any]]) -> None:
        self.sessions = sessions

    def session_details(self, session_id: str) -> dict[str, Any]:
        return self.sessions[session_id]


class StandInService:
    """Only the cloud client is replaced; Session.from_id and SamplerV2 are the runtime's own."""

    def __init__(self, sessions: dict[str, dict[str, Any]]) -> None:
        from qiskit_ibm_runtime.fake_provider import FakeManilaV2

        self._client = StandInApiClient(sessions)
        self._backend = FakeManilaV2()

    def _get_api_client(self, instance: str | None = None) -> StandInApiClient:
        return self._client

    def backend(self, name: str, **_: Any) -> Any:
        return self._backend


def test_a_restarted_loop_re_attaches_to_its_open_cloud_session_by_id() -> None:
    sessions = {
        "sess-open": {"backend_name": "fake_manila", "mode": "dedicated", "state": "active"},
        "sess-closed": {"backend_name": "fake_manila", "mode": "dedicated", "state": "closed"},
        "batch-open": {"backend_name": "fake_manila", "mode": "batch", "state": "active"},
    }
    backend = IBMRuntimeBackend("ibm_brisbane", service=StandInService(sessions))
    assert backend.open_context("session", "sess-open") == "sess-open"  # Session.from_id
    assert backend._context.session_id == "sess-open"
    backend.close_context()
    assert backend.open_context("batch", "batch-open") == "batch-open"  # Batch.from_id
    assert type(backend._context).__name__ == "Batch"
    backend.close_context()
    # A session the cloud has closed, or a batch id offered as a session, is not re-attached.
    assert backend.open_context("session", "sess-closed") != "sess-closed"
    backend.close_context()
    assert backend.open_context("session", "batch-open") != "batch-open"
    backend.close_context()


def test_local_mode_is_seeded_so_a_job_re_run_in_process_gives_the_same_counts() -> None:
    from include.quantum.backends.registry import make_backend

    counts = []
    for _ in range(2):  # a retry: a new process, a new backend, the same seed
        backend = make_backend("ibm:fake_manila", seed=11)
        counts.append(backend.run(_bell_job(backend, "seeded")).counts[0][0])
    assert counts[0] == counts[1] and sum(counts[0].values()) == 100
