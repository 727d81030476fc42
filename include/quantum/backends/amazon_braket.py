"""Amazon Braket behind the one backend interface: its local simulator offline, its devices by
configuration.

``braket:local`` runs Braket's ``LocalSimulator("braket_sv")`` (state vector) in this process and
``braket:local:dm[:<p1>[:<p2>]]`` its density-matrix simulator with depolarising noise after every
one-qubit gate (probability p1) and every two-qubit gate (p2), applied by Braket's own
``NoiseModel``. ``braket:aws:<device>`` names a managed simulator or QPU (``BRAKET_DEVICES``); it
needs AWS credentials and the network, which only production has (the policy allows it there).

The circuit goes Qiskit → OpenQASM 3 → Braket: the ISA circuit (transpiled for ``braket_target``,
whose gates are Qiskit's names for Braket's) is rewritten gate for gate into Braket's names
(``BRAKET_GATES``), exported with ``qiskit.qasm3.dumps`` — its parameters as OpenQASM ``input``
angles, so one export serves every parameter set — and run as a ``braket.ir.openqasm.Program``
(the density-matrix path builds a ``braket.circuits.Circuit`` from it, since Braket applies noise
models to circuits only). The conversion is done once per ISA circuit and timed as the job's
``convert_seconds`` (counted into the result's ``compile_seconds``).

Seeds: Braket's local simulators take no seed (each simulation draws its shots from an unseeded
``numpy.random.default_rng()``). With a seed, the simulator is Braket's own class with
``initialize_simulation`` overridden to give each simulation a generator seeded from it and from
which run of the job it is (pub, parameter set), so the same work gives the same counts, as on Aer,
and a job's parameter sets draw independent shot noise.

Jobs run synchronously inside ``submit`` like Aer's; the interface is the same as for queued
providers. Braket's exceptions are classified by ``errors.classify`` (AWS error codes:
``errors.BRAKET_CODES``).
"""

from __future__ import annotations

import hashlib
import time
import warnings
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from include.quantum.backends.base import JobState, JobStatus, QuantumBackend, RawResult, SamplerJob
from include.quantum.backends.errors import StructuralQuantumError, UnknownJobError, classify

# Qiskit's standard gate name -> Braket's name for the same gate (same matrix, same argument order:
# controls first, Braket's angles in Qiskit's convention, e.g. zz(θ) = exp(-iθ Z⊗Z/2) = rzz(θ)).
# The target offers the ones a device supports; tests check each one's unitary against Qiskit's.
BRAKET_GATES: dict[str, str] = {
    "id": "i",
    "h": "h",
    "x": "x",
    "y": "y",
    "z": "z",
    "s": "s",
    "sdg": "si",
    "t": "t",
    "tdg": "ti",
    "sx": "v",
    "sxdg": "vi",
    "rx": "rx",
    "ry": "ry",
    "rz": "rz",
    "p": "phaseshift",
    "cx": "cnot",
    "cy": "cy",
    "cz": "cz",
    "cp": "cphaseshift",
    "swap": "swap",
    "iswap": "iswap",
    "rxx": "xx",
    "ryy": "yy",
    "rzz": "zz",
    "ccx": "ccnot",
    "cswap": "cswap",
}

LOCAL_DEVICES = {"sv": "braket_sv", "dm": "braket_dm"}
DEFAULT_DEPOLARISING = (0.001, 0.01)  # one-qubit, two-qubit gate error probability of braket:local:dm
# Braket's local simulators accept any shot count; the measurements array is shots x qubits of
# int64, so a cap keeps one job's result in memory (26 qubits x 10^6 shots ≈ 200 MiB).
LOCAL_MAX_SHOTS = 1_000_000

# braket:aws:<name> -> the device ARN (managed simulators and the gate-based QPUs Braket prices).
BRAKET_DEVICES: dict[str, str] = {
    "sv1": "arn:aws:braket:::device/quantum-simulator/amazon/sv1",
    "dm1": "arn:aws:braket:::device/quantum-simulator/amazon/dm1",
    "tn1": "arn:aws:braket:::device/quantum-simulator/amazon/tn1",
    "ionq_forte_1": "arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1",
    "iqm_garnet": "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet",
    "rigetti_ankaa_3": "arn:aws:braket:us-west-1::device/qpu/rigetti/Ankaa-3",
}

# Every braket:aws task carries its job's idempotency key as a tag: the ledger records the task ARN
# once Braket accepts it; a task accepted but never recorded (a crash in between) is found by it.
IDEMPOTENCY_TAG = "qflow:idempotency_key"

# Braket quantum-task states -> the five the system speaks.
TASK_STATES: dict[str, JobState] = {
    "CREATED": JobState.QUEUED,
    "QUEUED": JobState.QUEUED,
    "RUNNING": JobState.RUNNING,
    "COMPLETED": JobState.DONE,
    "FAILED": JobState.ERROR,
    "CANCELLING": JobState.RUNNING,
    "CANCELLED": JobState.CANCELLED,
}


def parse_local_spec(detail: str) -> tuple[str, tuple[float, float] | None]:
    """``local``, ``local:sv``, ``local:dm``, ``local:dm:<p1>[:<p2>]`` -> (simulator, noise)."""
    parts = detail.split(":")
    if parts[0] != "local" or len(parts) > 4 or (len(parts) > 1 and parts[1] not in LOCAL_DEVICES):
        raise StructuralQuantumError(
            f"backend='braket:{detail}' is not a Braket backend",
            hint="use braket:local (state vector), braket:local:dm[:<p1>[:<p2>]] (density matrix with "
            "depolarising noise) or braket:aws:<device> with a device of " + ", ".join(BRAKET_DEVICES),
        )
    kind = parts[1] if len(parts) > 1 else "sv"
    if kind == "sv":
        if len(parts) > 2:
            raise StructuralQuantumError(
                f"backend='braket:{detail}': the state-vector simulator takes no noise",
                hint="use braket:local:dm:<p1>:<p2> for depolarising noise",
            )
        return "sv", None
    try:
        values = [float(v) for v in parts[2:]]
    except ValueError as exc:
        raise StructuralQuantumError(
            f"backend='braket:{detail}': the depolarising probabilities must be numbers",
            hint="e.g. braket:local:dm:0.001:0.01 (one-qubit, two-qubit gate error)",
        ) from exc
    p1 = values[0] if values else DEFAULT_DEPOLARISING[0]
    p2 = values[1] if len(values) > 1 else (DEFAULT_DEPOLARISING[1] if not values else p1)
    for name, value, top in (("p1", p1, 0.75), ("p2", p2, 15 / 16)):
        if not 0.0 <= value <= top:
            raise StructuralQuantumError(
                f"backend='braket:{detail}': depolarising {name}={value} is outside [0, {top:g}]",
                hint="choose a gate error probability such as 0.001",
            )
    return "dm", (p1, p2)


def local_canonical(simulator: str, noise: tuple[float, float] | None) -> str:
    if simulator == "sv":
        return "braket:local"
    if noise == DEFAULT_DEPOLARISING:
        return "braket:local:dm"
    assert noise is not None
    return f"braket:local:dm:{noise[0]:g}:{noise[1]:g}"


def braket_target(
    supported_operations: Sequence[str], num_qubits: int, edges: Sequence[Sequence[int]] | None = None
) -> Any:
    """The Qiskit Target for a Braket device: the gates of ``BRAKET_GATES`` it supports (by
    Braket's names), measurement, ``num_qubits`` qubits; all-to-all, or ``edges`` (a QPU's
    connectivity, where three-qubit gates are left to the transpiler to decompose)."""
    from qiskit.circuit.library import get_standard_gate_name_mapping
    from qiskit.transpiler import CouplingMap, Target

    supported = {name.lower() for name in supported_operations}
    basis = [qiskit for qiskit, braket in BRAKET_GATES.items() if braket in supported]
    if edges is None:
        return Target.from_configuration(basis_gates=[*basis, "measure"], num_qubits=num_qubits)
    standard = get_standard_gate_name_mapping()
    basis = [name for name in basis if standard[name].num_qubits <= 2]
    return Target.from_configuration(
        basis_gates=[*basis, "measure"], num_qubits=num_qubits, coupling_map=CouplingMap([list(e) for e in edges])
    )


@dataclass(frozen=True)
class BraketProgram:
    """An ISA circuit as Braket runs it: the OpenQASM 3 source, the ``input`` names of its
    parameters in ``circuit.parameters`` order, and which qubit each classical bit reads."""

    source: str
    inputs: tuple[str, ...]
    clbit_qubits: tuple[int, ...]  # clbit i <- qubit clbit_qubits[i] (-1: never measured)
    num_qubits: int

    def bind(self, values: Sequence[float] | None) -> dict[str, float]:
        if not self.inputs:
            return {}
        if values is None or len(values) != len(self.inputs):
            got = 0 if values is None else len(values)
            raise StructuralQuantumError(
                f"{got} parameter values for a circuit with {len(self.inputs)} parameters",
                hint="pass one value per circuit parameter, in circuit.parameters order",
            )
        return {name: float(value) for name, value in zip(self.inputs, values, strict=True)}


def to_braket_program(isa: Any) -> BraketProgram:
    """Qiskit ISA circuit -> OpenQASM 3 in Braket's gate names (``qiskit.qasm3.dumps``).

    Gates outside ``BRAKET_GATES`` are refused with the gate named (the circuit was not transpiled
    for a Braket target). Parameters become ``input float`` angles ``theta_<i>`` (Qiskit names such
    as ``γ[0]`` are not OpenQASM identifiers)."""
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, qasm3
    from qiskit.circuit import Gate, Parameter

    unknown = sorted(
        {
            i.operation.name
            for i in isa.data
            if i.operation.name not in BRAKET_GATES and i.operation.name not in ("measure", "barrier")
        }
    )
    if unknown:
        raise StructuralQuantumError(
            f"circuit {isa.name!r} uses gate(s) {', '.join(unknown)} that Braket has no name for",
            hint="transpile it for the Braket backend's target first (its gates: "
            + ", ".join(sorted(BRAKET_GATES))
            + ")",
        )
    parameters = list(isa.parameters)
    names = {p: Parameter(f"theta_{i}") for i, p in enumerate(parameters)}
    bound = isa.assign_parameters(names, inplace=False) if parameters else isa
    qubits = QuantumRegister(bound.num_qubits, "q")
    clbits = ClassicalRegister(bound.num_clbits, "c") if bound.num_clbits else None
    out = QuantumCircuit(qubits, clbits) if clbits is not None else QuantumCircuit(qubits)
    clbit_qubits = [-1] * bound.num_clbits
    for instruction in bound.data:
        operation = instruction.operation
        qargs = [qubits[bound.find_bit(q).index] for q in instruction.qubits]
        cargs = [clbits[bound.find_bit(c).index] for c in instruction.clbits] if clbits is not None else []
        if operation.name == "barrier":
            continue
        if operation.name == "measure":
            clbit_qubits[bound.find_bit(instruction.clbits[0]).index] = bound.find_bit(instruction.qubits[0]).index
            out.append(operation, qargs, cargs)
            continue
        out.append(Gate(BRAKET_GATES[operation.name], operation.num_qubits, list(operation.params)), qargs, cargs)
    source = qasm3.dumps(out, basis_gates=sorted(set(BRAKET_GATES.values())), includes=())
    return BraketProgram(source, tuple(names[p].name for p in parameters), tuple(clbit_qubits), int(bound.num_qubits))


def counts_from_measurements(
    measurements: np.ndarray, measured_qubits: Sequence[int], clbit_qubits: Sequence[int]
) -> dict[str, int]:
    """Braket's per-shot measurements (shots x measured qubits) -> Qiskit counts: the bitstring
    has clbit 0 rightmost, each clbit the value of the qubit measured into it."""
    column = {int(q): i for i, q in enumerate(measured_qubits)}
    missing = sorted({q for q in clbit_qubits if q >= 0 and q not in column})
    if missing:
        raise StructuralQuantumError(f"Braket returned no measurement of qubit(s) {missing}")
    rows = np.asarray(measurements, dtype=np.int8)
    bits = np.zeros((rows.shape[0], len(clbit_qubits)), dtype=np.int8)
    for clbit, qubit in enumerate(clbit_qubits):
        if qubit >= 0:
            bits[:, clbit] = rows[:, column[qubit]]
    ordered = bits[:, ::-1]  # Qiskit order: the last clbit leftmost
    unique, frequency = np.unique(ordered, axis=0, return_counts=True)
    return {"".join(map(str, row)): int(n) for row, n in zip(unique, frequency, strict=True)}


def _seeded_simulator(kind: str, seed: int) -> Any:
    """Braket's own simulator class whose simulations draw shots from a generator seeded by ``seed``
    (Braket offers no seed; ``initialize_simulation`` is its hook for building the simulation)."""
    from braket.default_simulator import DensityMatrixSimulator, StateVectorSimulator

    base = StateVectorSimulator if kind == "sv" else DensityMatrixSimulator

    class SeededSimulator(base):  # type: ignore[misc, valid-type]
        # Which run of the job this is (pub, parameter set): each draws its own stream, the same
        # one whenever the same job runs again (Aer likewise seeds a job's experiments apart).
        stream: tuple[int, ...] = ()

        def initialize_simulation(self, **kwargs: Any) -> Any:
            simulation = super().initialize_simulation(**kwargs)
            if not hasattr(simulation, "_rng_generator"):  # the generator's home moved: fail, never run unseeded
                raise StructuralQuantumError(
                    "this amazon-braket-default-simulator keeps no _rng_generator; seeded runs are unsupported",
                    hint="run without a seed, or pin amazon-braket-default-simulator as in requirements.lock",
                )
            simulation._rng_generator = np.random.default_rng([seed, *self.stream])
            return simulation

    return SeededSimulator()


class _ProgramCache:
    """Each ISA circuit converted once per backend (the loop submits the same ISA objects every
    evaluation). Keyed by object identity, checked through a weak reference."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._entries: dict[int, tuple[Any, Any]] = {}

    def get(self, circuit: Any) -> Any | None:
        entry = self._entries.get(id(circuit))
        return entry[1] if entry is not None and entry[0]() is circuit else None

    def put(self, circuit: Any, value: Any) -> None:
        if len(self._entries) >= self.capacity:
            self._entries.pop(next(iter(self._entries)))
        self._entries[id(circuit)] = (weakref.ref(circuit), value)


class BraketLocalBackend(QuantumBackend):
    """Braket's LocalSimulator in this process (``braket:local``, ``braket:local:dm...``)."""

    def __init__(self, spec: str = "braket:local", seed: int | None = None) -> None:
        kind, _, detail = spec.partition(":")
        if kind != "braket":
            raise StructuralQuantumError(f"backend={spec!r} is not a Braket backend", hint="use braket:local")
        self.simulator, self.noise = parse_local_spec(detail or "local")
        self.name = local_canonical(self.simulator, self.noise)
        self.seed = seed
        self._device: Any = None
        self._seeded: Any = None  # the seeded simulator instance inside the LocalSimulator
        self._programs = _ProgramCache()
        self._jobs: dict[str, tuple[JobStatus, RawResult]] = {}

    @property
    def device(self) -> Any:
        if self._device is None:
            from braket.devices import LocalSimulator

            if self.seed is not None:
                self._seeded = _seeded_simulator(self.simulator, self.seed)
            self._device = LocalSimulator(backend=self._seeded or LOCAL_DEVICES[self.simulator])
        return self._device

    def properties(self) -> Any:
        return self.device.properties

    def _action(self) -> Any:
        from braket.device_schema import DeviceActionType

        return self.properties().action[DeviceActionType.OPENQASM]

    def target(self) -> Any:
        return braket_target(self._action().supportedOperations, int(self.properties().paradigm.qubitCount))

    def max_shots(self) -> int:
        return min(int(self.properties().service.shotsRange[1]), LOCAL_MAX_SHOTS)

    def calibration_snapshot(self) -> Mapping[str, Any]:
        from braket import default_simulator

        snapshot: dict[str, Any] = {
            "backend": self.name,
            "simulator": LOCAL_DEVICES[self.simulator],
            "simulator_version": getattr(default_simulator, "__version__", "unknown"),
        }
        if self.noise is not None:
            snapshot["depolarising"] = list(self.noise)
        return snapshot

    def noise_model(self) -> Any:
        """Depolarising noise after each one-qubit gate (p1) and two-qubit gate (p2), Braket's way."""
        from braket.circuits import gates
        from braket.circuits.noise_model import GateCriteria, NoiseModel
        from braket.circuits.noises import Depolarizing, TwoQubitDepolarizing
        from qiskit.circuit.library import get_standard_gate_name_mapping

        assert self.noise is not None
        p1, p2 = self.noise
        standard = get_standard_gate_name_mapping()
        classes = {name.lower(): getattr(gates, name) for name in dir(gates) if isinstance(getattr(gates, name), type)}
        by_arity: dict[int, list[Any]] = {1: [], 2: []}
        for qiskit_name, braket_name in BRAKET_GATES.items():
            arity = standard[qiskit_name].num_qubits
            if arity in by_arity and braket_name in classes:
                by_arity[arity].append(classes[braket_name])
        model = NoiseModel()
        if p1 > 0:
            model.add_noise(Depolarizing(p1), GateCriteria(by_arity[1]))
        if p2 > 0:
            model.add_noise(TwoQubitDepolarizing(p2), GateCriteria(by_arity[2]))
        return model

    def _program(self, circuit: Any) -> tuple[Any, float]:
        """(what the simulator runs, seconds spent converting now: 0 when cached)."""
        cached = self._programs.get(circuit)
        if cached is not None:
            return cached, 0.0
        started = time.perf_counter()
        program = to_braket_program(circuit)
        if self.simulator == "sv":
            from braket.ir.openqasm import Program

            runnable: Any = (program, Program(source=program.source))
        else:
            from braket.circuits import Circuit

            braket_circuit = Circuit.from_ir(program.source)
            if self.noise is not None and any(self.noise):
                braket_circuit = self.noise_model().apply(braket_circuit)
            runnable = (program, braket_circuit)
        self._programs.put(circuit, runnable)
        return runnable, time.perf_counter() - started

    def submit(self, job: SamplerJob) -> str:
        job_id = "braket-local-" + hashlib.sha256(f"{self.name}|{job.idempotency_key}".encode()).hexdigest()[:24]
        if job_id in self._jobs:  # same work submitted again: the same job
            return job_id
        created = datetime.now(UTC)
        convert = execute = 0.0
        counts: list[list[dict[str, int]]] = []
        try:
            device = self.device
            for pub_index, pub in enumerate(job.pubs):
                (program, runnable), seconds = self._program(pub.circuit)
                convert += seconds
                rows = [None] if pub.parameter_values is None else list(np.atleast_2d(pub.parameter_values))
                sets: list[dict[str, int]] = []
                for set_index, values in enumerate(rows):
                    inputs = program.bind(None if values is None else [float(v) for v in values])
                    if self._seeded is not None:
                        self._seeded.stream = (pub_index, set_index)
                    started = time.perf_counter()
                    with warnings.catch_warnings():
                        # braket:local:dm:0:0 is a noiseless density matrix on purpose (a reference).
                        warnings.filterwarnings("ignore", "You are running a noise-free circuit", UserWarning)
                        result = device.run(runnable, shots=job.shots, inputs=inputs).result()
                    execute += time.perf_counter() - started
                    sets.append(
                        counts_from_measurements(result.measurements, result.measured_qubits, program.clbit_qubits)
                    )
                counts.append(sets)
        except Exception as exc:
            raise classify(exc) from exc
        finished = datetime.now(UTC)
        status = JobStatus(job_id, JobState.DONE, 0, created, created, finished, usage_seconds=execute)
        raw = RawResult(
            job_id,
            self.name,
            job.shots,
            counts,
            timings={"queue_seconds": 0.0, "convert_seconds": convert, "execute_seconds": execute},
            metadata={"simulator": LOCAL_DEVICES[self.simulator], "seeded": self.seed is not None},
        )
        self._jobs[job_id] = (status, raw)
        return job_id

    def status(self, job_id: str) -> JobStatus:
        if job_id not in self._jobs:
            raise UnknownJobError(f"no Braket local job {job_id!r} in this process")
        return self._jobs[job_id][0]

    def result(self, job_id: str) -> RawResult:
        self.status(job_id)
        return self._jobs[job_id][1]


class BraketAwsBackend(QuantumBackend):
    """A Braket device on AWS (``braket:aws:<device>``): a managed simulator or a QPU.

    Configuration only in this repository's environments: it needs AWS credentials (boto3's
    default chain: the environment or an instance role) and the network, and the policy allows it
    in production alone. Each job is one Braket quantum task — Braket bills per task and per shot —
    so a job holds one circuit with one parameter set (the QAOA loop's evaluations and the final
    sample are); a job of more is refused before anything is sent. The provider job id is the task
    ARN plus, after ``#``, which qubit each classical bit reads, so any process (the triggerer, a
    retried task) can turn the task's measurements into counts. Each task is tagged with its job's
    idempotency key (``IDEMPOTENCY_TAG``); there is no ``find_job`` yet (Braket's task search filters
    by task, device, job, state and creation time, not by tag), so a task accepted in the instant
    before the ledger recorded its ARN is found by its tag, by hand.

    ``device_factory``/``task_factory`` build the SDK's ``AwsDevice``/``AwsQuantumTask`` (tests pass
    stand-ins for the AWS boundary; nothing else does)."""

    def __init__(
        self,
        device: str,
        seed: int | None = None,
        *,
        device_factory: Any = None,
        task_factory: Any = None,
        expected_wait: float = 60.0,
    ) -> None:
        if device not in BRAKET_DEVICES:
            raise StructuralQuantumError(
                f"backend='braket:aws:{device}' is not a known Braket device",
                hint="use one of " + ", ".join(f"braket:aws:{name}" for name in BRAKET_DEVICES),
            )
        self.device_name = device
        self.arn = BRAKET_DEVICES[device]
        self.name = f"braket:aws:{device}"
        self.seed = seed  # Braket's managed devices take no seed: shot noise is the device's
        self._device_factory = device_factory
        self._task_factory = task_factory
        self._expected_wait = expected_wait
        self._device: Any = None
        self._programs = _ProgramCache()

    def _aws_device(self) -> Any:
        if self._device is None:
            try:
                if self._device_factory is not None:
                    self._device = self._device_factory(self.arn)
                else:
                    from braket.aws import AwsDevice

                    self._device = AwsDevice(self.arn)
            except Exception as exc:
                raise classify(exc) from exc
        return self._device

    def _task(self, arn: str) -> Any:
        if self._task_factory is not None:
            return self._task_factory(arn)
        from braket.aws import AwsQuantumTask

        return AwsQuantumTask(arn)

    def properties(self) -> Any:
        try:
            return self._aws_device().properties
        except Exception as exc:
            raise classify(exc) from exc

    def target(self) -> Any:
        from braket.device_schema import DeviceActionType

        properties = self.properties()
        action = properties.action[DeviceActionType.OPENQASM]
        paradigm = properties.paradigm
        connectivity = getattr(paradigm, "connectivity", None)
        edges = None
        if connectivity is not None and not connectivity.fullyConnected:
            edges = [(int(a), int(b)) for a, targets in connectivity.connectivityGraph.items() for b in targets]
        return braket_target(action.supportedOperations, int(paradigm.qubitCount), edges)

    def max_shots(self) -> int:
        return int(self.properties().service.shotsRange[1])

    def calibration_snapshot(self) -> Mapping[str, Any]:
        service = self.properties().service
        return {"backend": self.name, "arn": self.arn, "updated_at": str(getattr(service, "updatedAt", ""))}

    def expected_wait_seconds(self) -> float:
        """Braket tasks queue (minutes to hours on a QPU): long enough that a loop defers."""
        return self._expected_wait

    def submit(self, job: SamplerJob) -> str:
        from braket.ir.openqasm import Program

        sets = sum(pub.n_sets() for pub in job.pubs)
        if sets != 1:
            raise StructuralQuantumError(
                f"a {self.name} job runs one circuit with one parameter set (this one has {sets})",
                hint="Braket bills every task: submit one job per circuit and parameter set",
            )
        pub = job.pubs[0]
        program = self._programs.get(pub.circuit)
        if program is None:
            program = to_braket_program(pub.circuit)
            self._programs.put(pub.circuit, program)
        values = None if pub.parameter_values is None else [float(v) for v in np.ravel(pub.parameter_values)]
        inputs = program.bind(values)
        try:
            task = self._aws_device().run(
                Program(source=program.source, inputs=inputs),
                shots=job.shots,
                tags={IDEMPOTENCY_TAG: job.idempotency_key},
            )
        except Exception as exc:
            raise classify(exc) from exc
        return f"{task.id}#{','.join(map(str, program.clbit_qubits))}"

    @staticmethod
    def _split(job_id: str) -> tuple[str, tuple[int, ...]]:
        arn, sep, layout = job_id.partition("#")
        if not sep or not arn.startswith("arn:aws:braket"):
            raise UnknownJobError(f"{job_id!r} is not a Braket job id (task ARN#clbit qubits)")
        return arn, tuple(int(q) for q in layout.split(",") if q)

    def status(self, job_id: str) -> JobStatus:
        arn, _ = self._split(job_id)
        task = self._task(arn)
        try:
            raw_state = str(task.state())
            metadata = task.metadata() if raw_state == "FAILED" else {}
        except Exception as exc:
            raise classify(exc) from exc
        if raw_state not in TASK_STATES:
            raise StructuralQuantumError(f"unknown Braket task state {raw_state!r} for {arn}")
        return JobStatus(job_id, TASK_STATES[raw_state], error_message=(metadata or {}).get("failureReason"))

    def result(self, job_id: str) -> RawResult:
        arn, clbit_qubits = self._split(job_id)
        started = time.perf_counter()
        try:
            result = self._task(arn).result()
        except Exception as exc:
            raise classify(exc) from exc
        counts = counts_from_measurements(result.measurements, result.measured_qubits, clbit_qubits)
        shots = int(sum(counts.values()))
        return RawResult(
            job_id,
            self.name,
            shots,
            [[counts]],
            timings={"postprocess_seconds": time.perf_counter() - started},
            metadata={"arn": arn},
        )

    def cancel(self, job_id: str) -> None:
        arn, _ = self._split(job_id)
        try:
            self._task(arn).cancel()
        except Exception as exc:
            raise classify(exc) from exc
