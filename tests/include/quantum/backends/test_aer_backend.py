from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from qiskit import QuantumCircuit, transpile

from include.problems.maxcut import GraphSpec, canonical_edges, make_graph, maxcut_ising
from include.quantum.backends.aer import AerBackend, choose_method, max_cut_crossings
from include.quantum.backends.base import JobState, SamplerJob, SamplerPub
from include.quantum.backends.errors import StructuralQuantumError
from include.quantum.backends.preflight import PreflightLimits, check_fits, preflight
from include.quantum.backends.results import JOB_RESULT_DTYPES, counts_by_pub, normalise
from include.quantum.circuits.qaoa import qaoa_ansatz


def ring_qaoa(n: int) -> QuantumCircuit:
    edges = canonical_edges(pd.DataFrame({"u": range(n), "v": [(i + 1) % n for i in range(n)], "weight": 1.0}))
    return qaoa_ansatz(maxcut_ising(edges, n)[0], reps=1)


def ghz(n: int = 3) -> QuantumCircuit:
    circuit = QuantumCircuit(n, name="ghz")
    circuit.h(0)
    for i in range(n - 1):
        circuit.cx(i, i + 1)
    circuit.measure_all()
    return circuit


def test_cost_model_picks_mps_for_a_ring_and_statevector_for_dense_entanglement() -> None:
    ring = ring_qaoa(20)
    assert max_cut_crossings(ring) == 2
    assert choose_method(ring).method == "matrix_product_state"
    dense = qaoa_ansatz(maxcut_ising(make_graph(GraphSpec(12, "complete", 11, "unit", 0)), 12)[0], reps=2)
    assert choose_method(dense).method == "statevector"
    assert choose_method(ring, noisy=True).method == "automatic"


def test_aer_runs_every_parameter_set_in_one_job_and_normalises_to_the_shared_schema() -> None:
    backend = AerBackend(seed=3)
    circuit = transpile(ring_qaoa(6), target=backend.target(), seed_transpiler=1)
    values = np.array([[0.1, 0.2], [0.5, 0.4], [0.9, 0.1]])
    job_id = backend.submit(SamplerJob([SamplerPub(circuit, values)], 500, "key-1"))
    assert backend.submit(SamplerJob([SamplerPub(circuit, values)], 500, "key-1")) == job_id  # idempotent
    assert backend.status(job_id).state is JobState.DONE
    raw = backend.result(job_id)
    assert len(raw.counts[0]) == 3 and all(sum(c.values()) == 500 for c in raw.counts[0])
    frame = normalise(raw, transpiler_settings={"optimization_level": 1}, calibration=backend.calibration_snapshot())
    assert list(frame.columns) == list(JOB_RESULT_DTYPES)
    assert (frame.groupby("parameter_set")["count"].sum() == 500).all()
    assert set(frame["backend"]) == {"aer:automatic"} and set(frame["provider_job_id"]) == {job_id}
    assert counts_by_pub(frame) == [list(map(dict, raw.counts[0]))]


def test_noisy_fake_backend_gives_imperfect_ghz_and_ideal_gives_perfect() -> None:
    for backend, perfect in ((AerBackend(seed=1), True), (AerBackend(noise_backend="fake_manila", seed=1), False)):
        isa = transpile(ghz(), target=backend.target(), seed_transpiler=1)
        counts = backend.result(backend.submit(SamplerJob([SamplerPub(isa)], 2000, f"ghz-{backend.name}"))).counts[0][0]
        assert sum(counts.values()) == 2000
        assert (set(counts) <= {"000", "111"}) == perfect


def test_unknown_fake_backend_and_bad_method_are_clear() -> None:
    with pytest.raises(StructuralQuantumError, match="unknown fake backend 'fake_nowhere'"):
        AerBackend(noise_backend="fake_nowhere")
    with pytest.raises(StructuralQuantumError, match="method='gpu'"):
        AerBackend(method="gpu")


def test_preflight_catches_each_problem_before_submission() -> None:
    backend = AerBackend(noise_backend="fake_manila")
    target = backend.target()
    with pytest.raises(StructuralQuantumError, match="needs 8 qubits but aer:fake_manila has 5"):
        check_fits(ring_qaoa(8), target, backend.name)
    not_isa = ghz()  # H/CX, not the device's ECR/RZ/SX basis
    report = preflight([SamplerPub(not_isa)], 100, target, backend.max_shots())
    assert any("not ISA" in p for p in report.problems)
    unmeasured = transpile(ghz().remove_final_measurements(inplace=False), target=target)
    assert any("no measurements" in p for p in preflight([SamplerPub(unmeasured)], 100, target, 10**6).problems)
    isa = transpile(ghz(), target=target, seed_transpiler=1)
    assert preflight([SamplerPub(isa)], 100, target, backend.max_shots()).ok
    over = preflight(
        [SamplerPub(isa)], 10**9, target, backend.max_shots(), PreflightLimits(max_depth=2, shot_budget=50)
    )
    text = " ".join(over.problems)
    assert "exceeds the backend maximum" in text and "depth" in text and "shot budget" in text
    slow = preflight([SamplerPub(isa)], 100_000, target, 10**6, PreflightLimits(max_runtime_seconds=1.0))
    assert any("estimated runtime" in p for p in slow.problems)
    with pytest.raises(StructuralQuantumError, match="nothing was submitted"):
        over.raise_for_problems(backend.name)


@pytest.mark.parametrize(
    "spec",
    ["aer", "aer:statevector", "aer:matrix_product_state", "aer:fake_manila", "aer:statevector:fake_manila"],
)
def test_the_profile_names_a_backend_exactly_as_the_backend_does(spec: str) -> None:
    from include.quantum.backends.registry import backend_profile, make_backend

    profile = backend_profile(spec)
    assert profile.canonical == make_backend(spec).name
    assert profile.pool == "qflow_aer" and profile.cost_model_key == profile.canonical


def test_profiles_route_families_to_their_pools_and_unknown_specs_fail_naming_the_choices() -> None:
    from include.quantum.backends.errors import StructuralQuantumError
    from include.quantum.backends.registry import backend_profile

    assert backend_profile("jobservice:fake_manila").pool == "qflow_jobservice"
    assert backend_profile("ibm:ibm_brisbane").pool == "qflow_ibm"
    assert backend_profile("ibm:fake_manila").pool == "qflow_aer"  # local testing mode: in process
    with pytest.raises(StructuralQuantumError, match=r"not a known backend.*aer:statevector"):
        backend_profile("quantinuum:h1")
