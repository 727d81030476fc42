"""Amazon Braket's LocalSimulator behind the one backend interface — real simulator runs throughout;
only ``braket:aws:*`` (which needs AWS) is exercised through stand-ins at the AWS boundary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Gate
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.quantum_info import Statevector
from scipy import stats

from include.problems.maxcut import GraphSpec, cut_statistics, make_graph, maxcut_ising
from include.quantum.backends.aer import AerBackend
from include.quantum.backends.amazon_braket import (
    BRAKET_GATES,
    BraketAwsBackend,
    BraketLocalBackend,
    to_braket_program,
)
from include.quantum.backends.base import JobState, SamplerJob, SamplerPub
from include.quantum.backends.errors import (
    AuthQuantumError,
    QuotaQuantumError,
    StructuralQuantumError,
    TransientQuantumError,
    UnknownJobError,
    call_with_retries,
    classify,
)
from include.quantum.backends.preflight import check_fits, preflight
from include.quantum.backends.registry import backend_profile, make_backend
from include.quantum.backends.results import JOB_RESULT_DTYPES, normalise
from include.quantum.circuits.qaoa import linear_ramp_point, qaoa_ansatz
from include.quantum.loops.qaoa_angles import in_circuit_order


def qaoa_instance(n: int = 8, reps: int = 2, seed: int = 11) -> tuple[Any, QuantumCircuit]:
    edges = make_graph(GraphSpec(n, "regular", 3, "unit", seed))
    return edges, qaoa_ansatz(maxcut_ising(edges, n)[0], reps=reps)


def ghz(n: int = 3) -> QuantumCircuit:
    circuit = QuantumCircuit(n, name="ghz")
    circuit.h(0)
    for i in range(n - 1):
        circuit.cx(i, i + 1)
    circuit.measure_all()
    return circuit


def sample(backend: Any, circuit: QuantumCircuit, theta: Any, shots: int, key: str) -> dict[str, int]:
    isa = transpile(circuit, target=backend.target(), optimization_level=1, seed_transpiler=7)
    values = None if theta is None else np.asarray([theta], dtype=float)
    return dict(backend.run(SamplerJob([SamplerPub(isa, values)], shots, key)).counts[0][0])


def exact_probabilities(circuit: QuantumCircuit, theta: Any) -> dict[str, float]:
    bound = circuit.remove_final_measurements(inplace=False)
    if theta is not None:
        bound = bound.assign_parameters(theta)
    return dict(Statevector(bound).probabilities_dict())


# -- the conversion: every mapped gate is the same unitary on Braket as in Qiskit ----------------


@pytest.mark.parametrize("qiskit_name", sorted(BRAKET_GATES))
def test_each_mapped_gate_gives_braket_the_same_state_as_qiskit(qiskit_name: str) -> None:
    """Exact probabilities (Braket's probability result, shots=0) after a random product state and
    the gate on qubits in a scrambled order: a wrong name, angle convention or argument order fails."""
    from braket.circuits import Circuit
    from braket.devices import LocalSimulator

    gate = get_standard_gate_name_mapping()[qiskit_name]
    rng = np.random.default_rng(len(qiskit_name))
    circuit = QuantumCircuit(3)
    for q in range(3):
        circuit.ry(float(rng.uniform(0.3, 2.8)), q)
        circuit.rz(float(rng.uniform(0.3, 2.8)), q)
    params = [float(a) for a in rng.uniform(0.4, 2.6, size=len(gate.params))]
    qubits = [2, 0, 1][: gate.num_qubits]
    circuit.append(type(gate)(*params) if params else gate, qubits)
    program = to_braket_program(circuit)
    braket = Circuit.from_ir(program.source).probability()
    probabilities = LocalSimulator("braket_sv").run(braket, shots=0).result().values[0]
    expected = Statevector(circuit.reverse_bits()).probabilities()  # Braket: qubit 0 is the leftmost bit
    np.testing.assert_allclose(probabilities, expected, atol=1e-9)


def test_a_gate_braket_has_no_name_for_is_refused_naming_it() -> None:
    circuit = QuantumCircuit(2)
    circuit.ecr(0, 1)
    with pytest.raises(StructuralQuantumError, match=r"uses gate\(s\) ecr that Braket has no name for"):
        to_braket_program(circuit)


# -- runs, seeds, timings, the schema ------------------------------------------------------------


def test_local_runs_every_parameter_set_and_normalises_to_the_shared_schema_with_stage_timings() -> None:
    backend = BraketLocalBackend("braket:local", seed=3)
    _, circuit = qaoa_instance(6, reps=1)
    isa = transpile(circuit, target=backend.target(), seed_transpiler=1)
    values = np.array([[0.1, 0.2], [0.5, 0.4], [0.9, 0.1]])
    job = SamplerJob([SamplerPub(isa, values)], 500, "key-1")
    job_id = backend.submit(job)
    assert backend.submit(job) == job_id  # idempotent: the same work is the same job
    assert backend.status(job_id).state is JobState.DONE
    raw = backend.result(job_id)
    assert len(raw.counts[0]) == 3 and all(sum(c.values()) == 500 for c in raw.counts[0])
    assert raw.counts[0][0] != raw.counts[0][1]  # each set ran with its own angles
    assert raw.timings["execute_seconds"] > 0 and raw.timings["convert_seconds"] > 0
    frame = normalise(raw, transpiler_settings={"optimization_level": 1}, calibration=backend.calibration_snapshot())
    assert list(frame.columns) == list(JOB_RESULT_DTYPES)
    assert (frame.groupby("parameter_set")["count"].sum() == 500).all()
    assert set(frame["backend"]) == {"braket:local"}
    assert (frame["compile_seconds"] == raw.timings["convert_seconds"]).all()  # conversion counts as compile
    # The loop sends the same ISA circuit every evaluation: it is converted once.
    again = backend.result(backend.submit(SamplerJob([SamplerPub(isa, values[:1])], 100, "key-2")))
    assert again.timings["convert_seconds"] == 0.0
    with pytest.raises(UnknownJobError):
        backend.status("braket-local-nope")


def test_a_seed_makes_braket_counts_reproducible_and_different_seeds_differ() -> None:
    _, circuit = qaoa_instance(6, reps=1)
    theta = [0.4, 0.7]

    def counts(seed: int | None, spec: str = "braket:local") -> dict[str, int]:
        return sample(BraketLocalBackend(spec, seed=seed), circuit, theta, 2000, "seeded")

    assert counts(5) == counts(5)
    assert counts(5) != counts(6)
    assert counts(5, "braket:local:dm:0:0") == counts(5, "braket:local:dm:0:0")
    unseeded = counts(None)  # Braket's own unseeded sampler still answers
    assert sum(unseeded.values()) == 2000
    # Within one job, each parameter set draws its own shot noise (the same angles three times).
    backend = BraketLocalBackend("braket:local", seed=5)
    isa = transpile(circuit, target=backend.target(), seed_transpiler=7)
    same = backend.run(SamplerJob([SamplerPub(isa, np.asarray([theta] * 3))], 2000, "three")).counts[0]
    assert same[0] != same[1] != same[2] != same[0]
    again = BraketLocalBackend("braket:local", seed=5).run(
        SamplerJob([SamplerPub(isa, np.asarray([theta] * 3))], 2000, "x")
    )
    assert [dict(c) for c in again.counts[0]] == [dict(c) for c in same]


def test_same_qaoa_instance_on_aer_and_braket_local_gives_the_same_distribution_within_shot_noise() -> None:
    """8-node 3-regular MaxCut, p=2, the linear-ramp angles, 20,000 shots on each backend (seeded).

    Bound: a two-sample chi-square homogeneity test of Aer's counts against Braket's (outcomes with
    fewer than 10 expected counts pooled) and a goodness-of-fit test of each against the exact
    statevector probabilities must not reject at significance 0.001; the total-variation distance
    between the two samples must stay under 3x its expected value under shot noise alone
    (E[TV] ≈ Σ_i sqrt(p_i(1-p_i)/(π N)) for two N-shot samples). Power check: the same test
    rejects Braket's counts at other angles (p < 1e-6)."""
    edges, circuit = qaoa_instance(8, reps=2)
    theta = in_circuit_order(linear_ramp_point(2), [p.name for p in circuit.parameters])
    shots = 20_000
    aer = sample(AerBackend(method="statevector", seed=17), circuit, theta, shots, "agree")
    braket = sample(BraketLocalBackend("braket:local", seed=17), circuit, theta, shots, "agree")
    exact = exact_probabilities(circuit, theta)
    outcomes = sorted(exact, key=lambda b: -exact[b])
    big = [b for b in outcomes if exact[b] * shots >= 10]

    def binned(counts: dict[str, int]) -> np.ndarray:
        return np.array([counts.get(b, 0) for b in big] + [shots - sum(counts.get(b, 0) for b in big)])

    expected = np.array([exact[b] for b in big] + [1.0 - sum(exact[b] for b in big)]) * shots
    _, p_homogeneous, _, _ = stats.chi2_contingency(np.vstack([binned(aer), binned(braket)]))
    assert p_homogeneous > 1e-3, p_homogeneous
    for counts in (aer, braket):
        assert stats.chisquare(binned(counts), expected).pvalue > 1e-3
    tv = 0.5 * sum(abs(aer.get(b, 0) - braket.get(b, 0)) for b in set(aer) | set(braket)) / shots
    expected_tv = sum(np.sqrt(p * (1 - p) / (np.pi * shots)) for p in exact.values())
    assert tv < 3 * expected_tv, (tv, expected_tv)
    aer_cut = cut_statistics(aer, edges).expected_cut
    braket_cut = cut_statistics(braket, edges).expected_cut
    assert abs(aer_cut - braket_cut) < 0.05 * aer_cut
    other = sample(BraketLocalBackend("braket:local", seed=17), circuit, [t + 0.3 for t in theta], shots, "other")
    _, p_other, _, _ = stats.chi2_contingency(np.vstack([binned(aer), binned(other)]))
    assert p_other < 1e-6


def test_density_matrix_noise_is_braket_noise_model_and_configurable() -> None:
    ideal = sample(BraketLocalBackend("braket:local:dm:0:0", seed=1), ghz(), None, 2000, "ghz")
    noisy_backend = BraketLocalBackend("braket:local:dm:0.02:0.05", seed=1)
    noisy = sample(noisy_backend, ghz(), None, 2000, "ghz")
    assert set(ideal) <= {"000", "111"} and sum(ideal.values()) == 2000
    wrong = sum(n for b, n in noisy.items() if b not in ("000", "111"))
    assert 0.02 * 2000 < wrong < 0.4 * 2000  # depolarising errors show, the state is still GHZ-like
    assert noisy_backend.calibration_snapshot()["depolarising"] == [0.02, 0.05]
    assert BraketLocalBackend("braket:local:dm").noise == (0.001, 0.01)


# -- preflight against Braket's gate set and qubit count -----------------------------------------


def test_preflight_refuses_what_the_local_simulators_cannot_run_with_a_clear_message() -> None:
    sv, dm = BraketLocalBackend("braket:local"), BraketLocalBackend("braket:local:dm")
    assert sv.target().num_qubits == 26 and dm.target().num_qubits == 13  # LocalSimulator's properties
    with pytest.raises(StructuralQuantumError, match="needs 27 qubits but braket:local has 26"):
        check_fits(ghz(27), sv.target(), sv.name)
    with pytest.raises(StructuralQuantumError, match="needs 14 qubits but braket:local:dm has 13"):
        check_fits(ghz(14), dm.target(), dm.name)
    opaque = QuantumCircuit(2, name="opaque")
    opaque.append(Gate("mystery", 2, []), [0, 1])
    with pytest.raises(StructuralQuantumError, match=r"mystery.*its gates: ccx, cp"):
        check_fits(opaque, sv.target(), sv.name)
    not_isa = QuantumCircuit(2)
    not_isa.ecr(0, 1)
    not_isa.measure_all()
    report = preflight([SamplerPub(not_isa)], 100, sv.target(), sv.max_shots())
    assert any("not ISA" in p and "ecr" in p for p in report.problems)
    isa = transpile(not_isa, target=sv.target(), seed_transpiler=1)
    assert preflight([SamplerPub(isa)], 100, sv.target(), sv.max_shots()).ok
    too_many = preflight([SamplerPub(isa)], 10**7, sv.target(), sv.max_shots()).problems
    assert any("exceeds the backend maximum" in p for p in too_many)


def test_wrong_parameter_count_is_refused_before_braket_runs() -> None:
    backend = BraketLocalBackend("braket:local", seed=1)
    _, circuit = qaoa_instance(4, reps=1)
    isa = transpile(circuit, target=backend.target())
    with pytest.raises(StructuralQuantumError, match="1 parameter values for a circuit with 2 parameters"):
        backend.submit(SamplerJob([SamplerPub(isa, np.array([[0.1]]))], 10, "bad"))


# -- the registry, the transpile cache, the policy -----------------------------------------------


@pytest.mark.parametrize(
    ("spec", "canonical"),
    [
        ("braket:local", "braket:local"),
        ("braket:local:sv", "braket:local"),
        ("braket:local:dm", "braket:local:dm"),
        ("braket:local:dm:0.001:0.01", "braket:local:dm"),
        ("braket:local:dm:0.003", "braket:local:dm:0.003:0.003"),
    ],
)
def test_the_profile_names_a_braket_backend_exactly_as_the_backend_does(spec: str, canonical: str) -> None:
    profile = backend_profile(spec)
    assert profile.canonical == canonical == make_backend(spec).name
    assert profile.family == "braket_local" and profile.pool == "qflow_aer"
    assert not profile.rules.durable_jobs and not profile.rules.deferrable  # in process, like Aer
    assert backend_profile(canonical).canonical == canonical  # a result's backend name is a spec again


def test_bad_braket_specs_fail_naming_the_choices() -> None:
    with pytest.raises(StructuralQuantumError, match=r"not a Braket backend.*braket:local:dm"):
        backend_profile("braket:local:gpu")
    with pytest.raises(StructuralQuantumError, match=r"not a known Braket device.*braket:aws:sv1"):
        backend_profile("braket:aws:nowhere")
    with pytest.raises(StructuralQuantumError, match=r"p2=2.0 is outside"):
        make_backend("braket:local:dm:0.01:2")
    aws = backend_profile("braket:aws:ionq_forte_1")
    assert aws.family == "braket" and aws.pool == "qflow_braket" and aws.rules.durable_jobs and aws.rules.deferrable


def test_the_transpile_cache_keys_on_the_braket_target(tmp_path: Path) -> None:
    from include.quantum.transpile_cache import TranspileCache, TranspileSettings, cache_key

    _, circuit = qaoa_instance(6, reps=1)
    settings = TranspileSettings()
    sv, dm, aer = BraketLocalBackend("braket:local"), BraketLocalBackend("braket:local:dm"), AerBackend()
    keys = {
        b.name: cache_key(circuit, b.target(), b.calibration_snapshot(), settings)
        for b in (sv, dm, BraketLocalBackend("braket:local:dm:0.01:0.02"), aer)
    }
    assert len(set(keys.values())) == 4  # another target, or other noise: another entry
    cache = TranspileCache()
    isa, source, _ = cache.get_or_transpile(circuit, sv.target(), sv.calibration_snapshot(), settings)
    assert source == "miss" and set(isa.count_ops()) - {"barrier"} <= set(sv.target().operation_names)
    assert cache.get_or_transpile(circuit, sv.target(), sv.calibration_snapshot(), settings)[1] == "memory"
    assert cache.get_or_transpile(circuit, dm.target(), dm.calibration_snapshot(), settings)[1] == "miss"


def test_policy_prices_braket_per_task_and_per_shot_and_allows_it_per_environment(tmp_path: Path) -> None:
    import yaml

    from include.governance.policy import DEFAULT_POLICY_FILE, PolicyError, load_policy

    policy = load_policy(cache=False)
    assert policy.cost_model("braket:local").estimate(10_000) == 0.0
    assert policy.cost_model("braket:local:dm:0.01:0.02").estimate(10_000) == 0.0
    assert policy.cost_model("braket:aws:ionq_forte_1").estimate(1000) == pytest.approx(0.30 + 1000 * 0.08)
    assert policy.cost_model("braket:aws:iqm_garnet").estimate(1000) == pytest.approx(0.30 + 1000 * 0.00145)
    assert policy.cost_model("braket:aws:rigetti_ankaa_3").settle(1000, None) == pytest.approx(0.30 + 0.9)
    sv1 = policy.cost_model("braket:aws:sv1")
    assert sv1.settle(1000, 60.0) == pytest.approx(0.075)  # $0.075 per simulated minute
    for name in ("dev", "qa"):
        environment = policy.environment(name)[1]
        assert environment.allows("braket:local") and environment.allows("braket:local:dm")
        assert not environment.allows("braket:aws:ionq_forte_1")
    prod = policy.environment("prod")[1]
    assert prod.allows("braket:aws:iqm_garnet") and prod.needs_approval("braket:aws:iqm_garnet")
    assert not prod.needs_approval("braket:local")
    assert "qflow_braket" in policy.pools
    # The prices are the policy's: another file, another price; a negative one names its field.
    data = yaml.safe_load(DEFAULT_POLICY_FILE.read_text())
    data["cost_models"]["braket:aws:ionq_*"]["per_task"] = 0.5
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    assert load_policy(tmp_path / "p.yaml", cache=False).cost_model("braket:aws:ionq_x").estimate(0) == 0.5
    data["cost_models"]["braket:aws:ionq_*"]["per_task"] = -1
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(PolicyError, match=r"cost_models.braket:aws:ionq_\*.per_task"):
        load_policy(tmp_path / "p.yaml", cache=False)


def test_admission_refuses_braket_aws_in_dev_before_anything_is_submitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from include.governance.budget import Admission, SpendLedger
    from include.governance.policy import PolicyError, load_policy

    admission = Admission(load_policy(), "dev", SpendLedger(f"sqlite:///{tmp_path / 'spend.db'}"))
    with pytest.raises(PolicyError, match="braket:aws:ionq_forte_1"):
        admission.admit("k", "braket:aws:ionq_forte_1", 100)
    assert admission.admit("k2", "braket:local", 100) is not None


# -- error mapping -------------------------------------------------------------------------------


def client_error(code: str, message: str = "x") -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}}, "CreateQuantumTask")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (lambda: client_error("ThrottlingException"), TransientQuantumError),
        (lambda: client_error("InternalServiceException"), TransientQuantumError),
        (lambda: client_error("DeviceOfflineException"), TransientQuantumError),
        (lambda: client_error("ValidationException", "qubit count"), StructuralQuantumError),
        (lambda: client_error("DeviceRetiredException"), StructuralQuantumError),
        (lambda: client_error("AccessDeniedException"), AuthQuantumError),
        (lambda: client_error("ServiceQuotaExceededException"), QuotaQuantumError),
        (lambda: client_error("ResourceNotFoundException", "quantum task arn not found"), UnknownJobError),
        (lambda: __import__("botocore.exceptions").exceptions.NoCredentialsError(), AuthQuantumError),
        (
            lambda: __import__("botocore.exceptions").exceptions.EndpointConnectionError(endpoint_url="https://x"),
            TransientQuantumError,
        ),
    ],
    ids=[
        "throttled",
        "internal",
        "offline",
        "validation",
        "retired",
        "denied",
        "quota",
        "no-such-task",
        "no-credentials",
        "no-network",
    ],
)
def test_braket_and_aws_errors_map_into_the_taxonomy(exc: Any, expected: type) -> None:
    error = classify(exc())
    assert type(error) is expected, error


def test_a_real_local_simulator_refusal_is_structural_and_not_retried() -> None:
    """A program Braket's simulator itself refuses (a missing input) is classified, not retried."""
    from braket.devices import LocalSimulator
    from braket.ir.openqasm import Program

    calls = []

    def run() -> Any:
        calls.append(1)
        source = "OPENQASM 3.0;\ninput float theta;\nqubit[1] q;\nbit[1] c;\nrx(theta) q[0];\nc[0] = measure q[0];"
        return LocalSimulator("braket_sv").run(Program(source=source), shots=10).result()

    with pytest.raises(StructuralQuantumError, match="theta"):
        call_with_retries(run, sleep=lambda s: None)
    assert len(calls) == 1


# -- braket:aws: the interface, with stand-ins only at the AWS boundary ---------------------------


class StandInTask:
    """An AwsQuantumTask as far as the backend uses it, its result computed by the LocalSimulator."""

    def __init__(self, arn: str, result: Any, state: str = "COMPLETED") -> None:
        self.id, self._result, self._state, self.cancelled = arn, result, state, False

    def state(self) -> str:
        return self._state

    def metadata(self) -> dict[str, Any]:
        return {"failureReason": "device calibration failed"} if self._state == "FAILED" else {}

    def result(self) -> Any:
        return self._result

    def cancel(self) -> None:
        self.cancelled = True


class StandInDevice:
    """An AwsDevice: the local simulator's properties, its run recorded and answered locally."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        from braket.devices import LocalSimulator

        self.local = LocalSimulator("braket_sv")
        self.properties = self.local.properties
        self.tasks: dict[str, StandInTask] = {}
        self.tags: list[dict[str, str]] = []
        self.failures = list(failures or [])

    def run(self, program: Any, shots: int, tags: dict[str, str] | None = None) -> StandInTask:
        if self.failures:
            raise self.failures.pop(0)
        self.tags.append(dict(tags or {}))
        arn = f"arn:aws:braket:us-east-1:123456789012:quantum-task/{len(self.tasks)}"
        self.tasks[arn] = StandInTask(arn, self.local.run(program, shots=shots).result())
        return self.tasks[arn]


def test_braket_aws_submits_one_task_per_job_and_reads_its_counts_back_in_any_process() -> None:
    device = StandInDevice(failures=[client_error("ThrottlingException")])
    backend = BraketAwsBackend("iqm_garnet", device_factory=lambda arn: device, task_factory=lambda a: device.tasks[a])
    assert backend.name == "braket:aws:iqm_garnet" and backend.expected_wait_seconds() > 2.0  # a loop defers
    circuit = ghz(3)
    isa = transpile(circuit, target=backend.target(), seed_transpiler=1)
    job = SamplerJob([SamplerPub(isa)], 400, "aws-1")
    job_id = call_with_retries(lambda: backend.submit(job), sleep=lambda s: None)  # throttled once, retried
    assert job_id.startswith("arn:aws:braket:") and "#" in job_id
    assert device.tags == [{"qflow:idempotency_key": "aws-1"}]  # the task names the work it does
    # Another process (the triggerer) knows only the id: a fresh backend reads status and counts.
    other = BraketAwsBackend("iqm_garnet", device_factory=lambda arn: device, task_factory=lambda a: device.tasks[a])
    assert other.status(job_id).state is JobState.DONE
    counts = other.result(job_id).counts[0][0]
    assert set(counts) <= {"000", "111"} and sum(counts.values()) == 400
    with pytest.raises(StructuralQuantumError, match="one circuit with one parameter set"):
        backend.submit(SamplerJob([SamplerPub(isa), SamplerPub(isa)], 10, "aws-2"))
    with pytest.raises(UnknownJobError):
        other.status("braket-local-abc")
    arn = job_id.partition("#")[0]
    device.tasks[arn]._state = "FAILED"
    failed = other.status(job_id)
    assert failed.state is JobState.ERROR and failed.error_message == "device calibration failed"
    other.cancel(job_id)
    assert device.tasks[arn].cancelled


# -- the loop engine and the QAOA loop on braket:local -------------------------------------------


def test_the_qaoa_loop_runs_on_braket_local_through_the_protocol_and_is_reproducible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QFLOW_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("QFLOW_LEDGER_URL", raising=False)
    from include.problems.maxcut import GraphSpec as Spec
    from include.quantum.loops.qaoa import CountsObjective, optimise_qaoa

    edges = make_graph(Spec(6, "regular", 3, "unit", 3))
    objective = CountsObjective(edges, 6)
    ansatz = qaoa_ansatz(objective.cost, reps=1)

    def loop(run: str) -> Any:
        return optimise_qaoa(
            ansatz,
            objective,
            shots=256,
            max_iterations=8,
            seed=3,
            backend=make_backend("braket:local", seed=3),
            run=("test_braket", run, "optimise", -1),
        )

    first, second = loop("a"), loop("b")
    assert len(first.iterations) == 8
    assert [r.energy for r in first.iterations] == [r.energy for r in second.iterations]  # seeded
    assert 0 < first.expected_cut <= 9 and {e.backend for e in first.evaluations} == {"braket:local"}


def test_a_braket_exception_is_structural_and_names_braket() -> None:
    """Braket's own exception types (here its OpenQASM parser's, on a broken program) map to structural."""
    from braket.devices import LocalSimulator
    from braket.ir.openqasm import Program

    with pytest.raises(Exception) as raised:
        LocalSimulator("braket_sv").run(Program(source="OPENQASM 3.0;\nqubit[1] q;\nh q[0"), shots=10).result()
    assert type(raised.value).__module__.startswith("braket.")
    error = classify(raised.value)
    assert type(error) is StructuralQuantumError and str(error).startswith("[structural] Braket ")
