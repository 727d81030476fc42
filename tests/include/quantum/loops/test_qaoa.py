from __future__ import annotations

import pytest
import qiskit

from include.problems.baselines import exact_brute_force
from include.problems.maxcut import GraphSpec, cut_value, make_graph
from include.quantum.circuits.qaoa import QAOAConfigError, qaoa_ansatz
from include.quantum.loops.qaoa import CountsObjective, optimise_qaoa
from include.quantum.transpile_cache import TranspileCache


def _problem(n: int = 6, seed: int = 3) -> tuple[qiskit.QuantumCircuit, CountsObjective]:
    edges = make_graph(GraphSpec(n, "regular", 3 if n % 2 == 0 else 2, "unit", seed))
    objective = CountsObjective(edges, n)
    return qaoa_ansatz(objective.cost, reps=2), objective


def test_optimiser_transpiles_once_and_binds_every_iteration(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = qiskit.transpile

    def counting_transpile(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(qiskit, "transpile", counting_transpile)
    ansatz, objective = _problem()
    cache = TranspileCache()
    result = optimise_qaoa(ansatz, objective, shots=256, max_iterations=12, seed=1, transpile_cache=cache)
    assert len(result.iterations) >= 5
    assert len(calls) == 1
    assert result.transpile_count == 1
    assert result.circuit is not None and result.circuit.num_parameters == ansatz.num_parameters
    # The count is what really ran: a second loop on the same target reuses the ISA circuit.
    again = optimise_qaoa(ansatz, objective, shots=256, max_iterations=6, seed=1, transpile_cache=cache)
    assert len(calls) == 1
    assert again.transpile_count == 0
    # Another transpiler seed is another circuit: transpiled (and counted) once more.
    other = optimise_qaoa(ansatz, objective, shots=256, max_iterations=6, seed=2, transpile_cache=cache)
    assert len(calls) == 2
    assert other.transpile_count == 1


def test_qaoa_finds_the_optimum_cut_of_a_small_graph_and_records_every_iteration() -> None:
    ansatz, objective = _problem(6, 3)
    result = optimise_qaoa(ansatz, objective, shots=1024, max_iterations=40, seed=7)
    exact = cut_value(exact_brute_force(objective.edges, 6), objective.edges)
    assert result.best_cut == exact
    assert result.expected_cut > objective.edges["weight"].sum() / 2  # beats random guessing
    trace = result.trace_frame()
    assert list(trace["iteration"]) == list(range(len(result.iterations)))
    assert all(len(p) == 4 for p in trace["parameters"])
    assert trace["energy"].min() == pytest.approx(min(r.energy for r in result.iterations))


def test_same_seed_gives_the_same_trace() -> None:
    ansatz, objective = _problem()
    a = optimise_qaoa(ansatz, objective, shots=256, max_iterations=10, seed=4)
    b = optimise_qaoa(ansatz, objective, shots=256, max_iterations=10, seed=4)
    assert a.trace_frame().equals(b.trace_frame())


def test_resume_replays_the_checkpoint_and_spends_only_the_remaining_budget() -> None:
    from include.quantum.loops.engine import MemoryCheckpoint

    ansatz, objective = _problem()
    first = optimise_qaoa(ansatz, objective, shots=256, max_iterations=6, seed=4)
    checkpoint = MemoryCheckpoint()
    checkpoint.history = list(first.evaluations[:4])  # a loop stopped after 4 evaluations
    resumed = optimise_qaoa(ansatz, objective, shots=256, max_iterations=10, seed=4, checkpoint=checkpoint)
    assert resumed.evaluations[:4] == first.evaluations[:4]  # replayed from the record, not re-run
    assert [e.iteration for e in resumed.evaluations] == list(range(len(resumed.evaluations)))
    assert 4 < len(resumed.evaluations) <= 10
    # The same trajectory as a loop that was given 10 evaluations from the start.
    whole = optimise_qaoa(ansatz, objective, shots=256, max_iterations=10, seed=4)
    assert [(e.parameters, e.value) for e in resumed.evaluations] == [
        (e.parameters, e.value) for e in whole.evaluations
    ]
    # A checkpoint that already holds the whole budget runs nothing more.
    done = optimise_qaoa(ansatz, objective, shots=256, max_iterations=4, seed=4, checkpoint=checkpoint)
    assert len(done.evaluations) == len(checkpoint.history) == len(resumed.evaluations)


def test_bad_settings_name_the_field() -> None:
    ansatz, objective = _problem()
    with pytest.raises(QAOAConfigError, match="optimiser='SGD'"):
        optimise_qaoa(ansatz, objective, shots=10, optimiser="SGD")
    with pytest.raises(QAOAConfigError, match="shots=0"):
        optimise_qaoa(ansatz, objective, shots=0)
    with pytest.raises(QAOAConfigError, match="reps=0"):
        qaoa_ansatz(objective.cost, reps=0)


def test_ansatz_builder_is_pure_and_its_qpy_is_reproducible() -> None:
    import io

    from qiskit import qpy

    _, objective = _problem()
    dumps = []
    for _ in range(2):
        buffer = io.BytesIO()
        qpy.dump(qaoa_ansatz(objective.cost, reps=2), buffer)
        dumps.append(buffer.getvalue())
    assert dumps[0] == dumps[1]
    assert qaoa_ansatz(objective.cost, reps=2) == qaoa_ansatz(objective.cost, reps=2)


def test_the_evaluation_budget_holds_even_below_cobylas_minimum() -> None:
    ansatz, objective = _problem()  # 4 parameters: SciPy's COBYLA would insist on 6 evaluations
    result = optimise_qaoa(ansatz, objective, shots=128, max_iterations=3, seed=2)
    assert len(result.iterations) == 3
