"""Backends by spec string, so DAG Params and trigger kwargs stay plain JSON.

aer[:automatic|statevector|matrix_product_state]   ideal Aer in process
aer:fake_<name>                                     Aer with an IBM fake backend's noise
aer:<method>:fake_<name>                            the same noise model with a pinned simulation method
jobservice[:<fake backend>]                         the local job service (URL from the connection); without a
                                                    name, the device the service emulates
ibm:<backend name>                                  IBM Quantum via qiskit-ibm-runtime (token from the
                                                    connection); ibm:fake_<name> runs its local testing mode
braket:local                                        Amazon Braket's LocalSimulator, state vector, in process
braket:local:dm[:<p1>[:<p2>]]                       its density-matrix simulator with depolarising noise
                                                    (one-qubit p1, two-qubit p2 gate error; default 0.001, 0.01)
braket:aws:<device>                                 a Braket device on AWS (amazon_braket.BRAKET_DEVICES)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from include.quantum.backends.aer import METHODS, AerBackend
from include.quantum.backends.amazon_braket import BRAKET_DEVICES, local_canonical, parse_local_spec
from include.quantum.backends.base import QuantumBackend
from include.quantum.backends.errors import StructuralQuantumError

BACKEND_SPECS = (
    "aer",
    "aer:statevector",
    "aer:matrix_product_state",
    "aer:fake_manila",
    "aer:fake_sherbrooke",
    "aer:statevector:fake_kolkata",
    "jobservice:fake_manila",
    "braket:local",
    "braket:local:dm",
)


@dataclass(frozen=True)
class FamilyRules:
    """How a backend family's jobs behave, as data (the submission protocol and the loop read these).

    pool: the Airflow pool its tasks run in (sized in the policy's `pools:`).
    durable_jobs: a submitted job outlives the process that submitted it, so a retry *finds* it
        (never resubmits); otherwise the job died with its process and a retry resubmits the same
        work with the same seed (the same result, at no cost).
    deferrable: another process (the triggerer) can wait on its jobs; in-process jobs cannot be.
    """

    pool: str
    durable_jobs: bool
    deferrable: bool


# Backend families: the rules that differ between them live here as data, not in branches elsewhere.
FAMILY_RULES = {
    "aer": FamilyRules("qflow_aer", durable_jobs=False, deferrable=False),  # in-process: bounded by cores
    # ibm:fake_* — the runtime's local testing mode runs Aer inside the submitting process.
    "ibm_local": FamilyRules("qflow_aer", durable_jobs=False, deferrable=False),
    "jobservice": FamilyRules("qflow_jobservice", durable_jobs=True, deferrable=True),  # jobs in flight
    "ibm": FamilyRules("qflow_ibm", durable_jobs=True, deferrable=True),  # IBM hardware: one at a time
    # Braket's LocalSimulator runs inside the submitting process, like Aer: bounded by cores.
    "braket_local": FamilyRules("qflow_aer", durable_jobs=False, deferrable=False),
    "braket": FamilyRules("qflow_braket", durable_jobs=True, deferrable=True),  # Braket tasks on AWS
}
FAMILY_POOLS = {family: rules.pool for family, rules in FAMILY_RULES.items()}


@dataclass(frozen=True)
class BackendProfile:
    """One backend's identity, from its spec alone (nothing is contacted): the canonical name its
    results, the ledgers and the policy's cost models and approvals use, its family and pool."""

    spec: str
    canonical: str
    family: str
    pool: str

    @property
    def rules(self) -> FamilyRules:
        return FAMILY_RULES[self.family]

    @property
    def cost_model_key(self) -> str:
        return self.canonical  # the policy's cost_models patterns match the canonical name

    def needs_approval(self, policy: Any, environment_name: str) -> bool:
        return bool(policy.environment(environment_name)[1].needs_approval(self.canonical))


def backend_profile(spec: str) -> BackendProfile:
    """The canonical identity of ``spec`` — the same name ``make_backend(spec).name`` reports."""
    kind, _, detail = spec.partition(":")
    if kind == "aer":
        method, _, noise = detail.partition(":")
        if not detail or (method in METHODS and not noise):
            canonical = f"aer:{method or 'automatic'}"
        elif method in METHODS:
            canonical = f"aer:{noise}" if method == "automatic" else f"aer:{method}:{noise}"
        else:
            canonical = f"aer:{detail}"
        family = "aer"
    elif kind == "ibm" and detail:
        canonical, family = spec, ("ibm_local" if detail.lower().startswith("fake") else "ibm")
    elif kind == "jobservice":
        canonical, family = spec, "jobservice"  # bare "jobservice": the device the service emulates
    elif kind == "braket" and detail.startswith("aws:"):
        device = detail.partition(":")[2]
        if device not in BRAKET_DEVICES:
            raise StructuralQuantumError(
                f"backend={spec!r} is not a known Braket device",
                hint="use one of " + ", ".join(f"braket:aws:{name}" for name in BRAKET_DEVICES),
            )
        canonical, family = spec, "braket"
    elif kind == "braket":
        canonical, family = local_canonical(*parse_local_spec(detail)), "braket_local"
    else:
        raise StructuralQuantumError(
            f"backend={spec!r} is not a known backend", hint=f"use one of {', '.join(BACKEND_SPECS)}"
        )
    return BackendProfile(spec, canonical, family, FAMILY_POOLS[family])


def make_backend(spec: str, *, seed: int | None = None, url: str | None = None, **options: Any) -> QuantumBackend:
    kind, _, detail = spec.partition(":")
    if kind == "aer":
        method, _, noise = detail.partition(":")
        if not detail or (method in METHODS and not noise):
            return AerBackend(method=method or "automatic", seed=seed)
        if method in METHODS:
            return AerBackend(method=method, noise_backend=noise, seed=seed)
        return AerBackend(noise_backend=detail, seed=seed)
    if kind == "ibm":
        from include.quantum.backends.ibm import IBMRuntimeBackend

        return IBMRuntimeBackend(detail, seed=seed, **options)
    if kind == "jobservice":
        from include.quantum.backends import jobservice

        if not url:
            raise StructuralQuantumError(
                f"backend {spec!r} needs the job service URL",
                hint="set it in the connection's host or QFLOW_JOBSERVICE_URL",
            )
        # "jobservice" alone: whatever device the service emulates (it says so at /backend).
        backend: QuantumBackend = jobservice.JobServiceBackend(url=url, backend_name=detail or None, **options)
        return backend
    if kind == "braket":
        from include.quantum.backends import amazon_braket

        if detail.startswith("aws:"):
            return amazon_braket.BraketAwsBackend(detail.partition(":")[2], seed=seed, **options)
        return amazon_braket.BraketLocalBackend(spec, seed=seed)
    raise StructuralQuantumError(
        f"backend={spec!r} is not a known backend", hint=f"use one of {', '.join(BACKEND_SPECS)}"
    )
