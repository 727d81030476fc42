"""The run policy: environments, allowed backends, budgets, cost models, quantum-value thresholds.

Loaded from ``include/governance/policy.yaml`` (or ``QFLOW_POLICY_FILE``) and validated with pydantic, so a
bad policy fails on load with the field's path and what is allowed — never halfway through a run.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_POLICY_FILE = Path(__file__).with_name("policy.yaml")


class PolicyError(ValueError):
    """The policy file or a policy decision input is wrong; the message names the field."""


class CostModel(BaseModel):
    """What one job costs: ``per_task`` once per job (Braket's per-task fee: a Braket job is one
    task), ``per_shot`` for each shot, and ``per_quantum_second`` of usage (estimated from
    ``estimated_seconds_per_shot`` until the provider reports it)."""

    model_config = ConfigDict(extra="forbid")
    per_task: float = Field(0.0, ge=0)
    per_shot: float = Field(0.0, ge=0)
    per_quantum_second: float = Field(0.0, ge=0)
    estimated_seconds_per_shot: float = Field(0.0, ge=0)

    def estimate(self, shots: int) -> float:
        return self.per_task + shots * self.per_shot + shots * self.estimated_seconds_per_shot * self.per_quantum_second

    def settle(self, shots: int, usage_seconds: float | None) -> float:
        """The real cost once the provider reports usage (falls back to the estimate)."""
        if self.per_quantum_second and usage_seconds is not None:
            return self.per_task + shots * self.per_shot + usage_seconds * self.per_quantum_second
        return self.estimate(shots)


class Environment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    allowed_backends: list[str] = Field(min_length=1)
    shots_per_job: int = Field(gt=0)
    shots_per_day: int = Field(gt=0)
    spend_per_day: float = Field(ge=0)
    spend_per_month: float = Field(ge=0)
    jobs_per_day: int = Field(gt=0)
    approval_required: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Environment:
        if self.shots_per_job > self.shots_per_day:
            raise ValueError("shots_per_job must not exceed shots_per_day")
        if self.spend_per_day > self.spend_per_month:
            raise ValueError("spend_per_day must not exceed spend_per_month")
        return self

    def allows(self, backend: str) -> bool:
        return any(fnmatch.fnmatchcase(backend, pattern) for pattern in self.allowed_backends)

    def needs_approval(self, backend: str) -> bool:
        return any(fnmatch.fnmatchcase(backend, pattern) for pattern in self.approval_required)


class QuantumValuePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window: int = Field(10, gt=0)
    min_value_added: float = 0.0
    probe_every: int = Field(5, gt=0)


class PendingPolicy(BaseModel):
    """Tier-4 work (``pending_rerun``): how many re-runs one pending item gets before it is
    abandoned (kept, with its history, and never triggered again)."""

    model_config = ConfigDict(extra="forbid")
    max_attempts: int = Field(3, ge=1, le=100)


class LoopPolicy(BaseModel):
    """How variational loops wait: an evaluation whose job is expected to wait longer than
    ``defer_when_wait_exceeds_seconds`` defers (no worker held) on backends another process can wait
    on; shorter waits (in-process simulation, an open session) run held. ``checkpoint_every_seconds``
    batches the checkpoint and ledger writes of a held loop on a free in-process backend."""

    model_config = ConfigDict(extra="forbid")
    defer_when_wait_exceeds_seconds: float = Field(2.0, ge=0)
    checkpoint_every_seconds: float = Field(2.0, ge=0)
    max_depth: int | None = Field(None, gt=0)  # ISA depth limit per circuit (None: no limit)


class PoolSpec(BaseModel):
    """An Airflow pool: how many of a backend's tasks may run at once (backpressure per backend)."""

    model_config = ConfigDict(extra="forbid")
    slots: int = Field(gt=0)
    description: str = ""
    # A deferred task holds its pool slot while its job waits in the triggerer, so "4 jobs in
    # flight on the job service" counts the waiting ones too (Airflow's default counts only running
    # and queued tasks: a pool of 4 would let any number of deferred jobs pile up).
    include_deferred: bool = True


DEFAULT_POOLS = {
    "qflow_aer": PoolSpec(slots=2, description="in-process Aer simulation"),
    "qflow_jobservice": PoolSpec(slots=4, description="jobs in flight on the local job service"),
}


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default_environment: str
    cost_models: dict[str, CostModel]
    environments: dict[str, Environment] = Field(min_length=1)
    alert_fraction: float = Field(0.8, gt=0, le=1)
    quantum_value: QuantumValuePolicy = QuantumValuePolicy()
    pending: PendingPolicy = PendingPolicy()
    loops: LoopPolicy = LoopPolicy()
    pools: dict[str, PoolSpec] = Field(default_factory=lambda: dict(DEFAULT_POOLS))

    @model_validator(mode="after")
    def _default_exists(self) -> Policy:
        if self.default_environment not in self.environments:
            raise ValueError(
                f"default_environment {self.default_environment!r} is not one of {sorted(self.environments)}"
            )
        return self

    def environment(self, name: str | None = None) -> tuple[str, Environment]:
        chosen = name or self.default_environment
        if chosen not in self.environments:
            raise PolicyError(f"environment {chosen!r} is not in the policy; choose one of {sorted(self.environments)}")
        return chosen, self.environments[chosen]

    def cost_model(self, backend: str) -> CostModel:
        for pattern, model in self.cost_models.items():
            if fnmatch.fnmatchcase(backend, pattern):
                return model
        raise PolicyError(f"no cost model matches backend {backend!r}; add a pattern for it under cost_models")


def airflow_pools_json(policy: Policy) -> dict[str, dict[str, Any]]:
    """The policy's pools in the format ``airflow pools import`` reads."""
    return {
        name: {"slots": pool.slots, "description": pool.description, "include_deferred": pool.include_deferred}
        for name, pool in sorted(policy.pools.items())
    }


_POLICY_CACHE: dict[str, tuple[tuple[int, int, int], Policy]] = {}
_POLICY_CACHE_LOCK = threading.Lock()


def policy_cache_enabled() -> bool:
    """``QFLOW_POLICY_CACHE=0`` (or off/false) makes every ``load_policy`` read and validate the file."""
    return os.environ.get("QFLOW_POLICY_CACHE", "1").strip().lower() not in ("0", "off", "false", "no")


def clear_policy_cache() -> None:
    with _POLICY_CACHE_LOCK:
        _POLICY_CACHE.clear()


def load_policy(path: str | Path | None = None, *, cache: bool | None = None) -> Policy:
    """The validated policy. Parsed once per process for each file version: the parsed policy is
    cached by (resolved path, mtime, size, inode), so a task that asks several times pays one
    load, and an edited or replaced file is read again. The returned Policy is shared between
    callers: treat it as read-only. ``cache=False`` (or ``QFLOW_POLICY_CACHE=0``) bypasses it."""
    source = Path(path or os.environ.get("QFLOW_POLICY_FILE") or DEFAULT_POLICY_FILE)
    if not (policy_cache_enabled() if cache is None else cache):
        return _parse_policy(source)
    try:
        stat = source.stat()
    except FileNotFoundError as exc:
        raise PolicyError(f"policy file {source} does not exist; set QFLOW_POLICY_FILE or restore it") from exc
    name = str(source.resolve())
    version = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    with _POLICY_CACHE_LOCK:
        hit = _POLICY_CACHE.get(name)
    if hit is not None and hit[0] == version:
        return hit[1]
    policy = _parse_policy(source)  # raises on a bad file: nothing is cached for it
    with _POLICY_CACHE_LOCK:
        _POLICY_CACHE[name] = (version, policy)
    return policy


def _parse_policy(source: Path) -> Policy:
    try:
        data: Any = yaml.safe_load(source.read_text())
    except FileNotFoundError as exc:
        raise PolicyError(f"policy file {source} does not exist; set QFLOW_POLICY_FILE or restore it") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy file {source} is not valid YAML: {exc}") from exc
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top level)'}: {error['msg']}" for error in exc.errors()
        )
        raise PolicyError(f"policy file {source} is invalid: {problems}") from exc


def current_environment_name(policy: Policy, variable: str | None = None) -> str:
    """Airflow Variable value (passed in by the operator layer), else QFLOW_ENVIRONMENT, else default."""
    return variable or os.environ.get("QFLOW_ENVIRONMENT") or policy.default_environment
