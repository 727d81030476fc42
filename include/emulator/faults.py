"""Injectable faults of the job service: what they are, how they are validated, and the seeded
decisions the service takes from them.

A fault configuration is a JSON object (CLI ``--faults``, env ``QFLOW_JOBSERVICE_FAULTS``, or
``PUT /admin/faults`` at run time, which replaces the whole configuration). Every field is
optional; an absent field means "no such fault":

- ``seed`` (int, default 0): seeds every random decision below, so a run is reproducible.
- ``outage_seconds`` (float): an outage starting now: every API call answers 503 for that long.
- ``outage_windows`` (list of ``{"start_in": s, "duration": s}``): outages relative to the moment
  the configuration is applied.
- ``latency_seconds`` (float): every API call is answered that much later (a slow API).
- ``error_rate`` (0..1): fraction of API calls answered with a transient 5xx (500/502/503).
- ``lost_response_rate`` (0..1): fraction of new-job submissions that are accepted (the job
  exists) but answered 502, as when a response is lost on the way back; a retry with the same
  idempotency key then finds the job instead of creating a second.
- ``rate_limit_per_second`` (float > 0): token bucket (burst = max(1, rate)); an empty bucket
  answers 429 with ``Retry-After``.
- ``queue_delay_seconds`` (float): every new job is held QUEUED at least this long.
- ``fail_code`` (IBM error code, e.g. 1003 structural, 1008 transient) with ``fail_rate`` (0..1)
  and/or ``fail_next`` (the next N jobs): those jobs end in ERROR with that code.
- ``worker_crash_next`` (N): the worker process running each of the next N jobs dies mid-run;
  the job ends in ERROR 1011 (internal, transient) and the service starts fresh workers.
- ``never_finish_rate`` (0..1) / ``never_finish_next`` (N): those jobs go RUNNING and never end
  (until cancelled).

``/health`` and ``/admin/*`` are exempt from the API faults (outage, 5xx, 429), so a test or an
operator can always see the service and lift the faults.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from include.quantum.backends.errors import IBM_CODES


class OutageWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start_in: float = Field(0.0, ge=0)
    duration: float = Field(gt=0)


class FaultConfig(BaseModel):
    """The validated fault configuration (unknown fields are refused, naming the field)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    outage_seconds: float = Field(0.0, ge=0)
    outage_windows: list[OutageWindow] = Field(default_factory=list)
    latency_seconds: float = Field(0.0, ge=0)
    error_rate: float = Field(0.0, ge=0, le=1)
    lost_response_rate: float = Field(0.0, ge=0, le=1)
    rate_limit_per_second: float | None = Field(None, gt=0)
    queue_delay_seconds: float = Field(0.0, ge=0)
    fail_code: int | None = None
    fail_rate: float = Field(0.0, ge=0, le=1)
    fail_next: int = Field(0, ge=0)
    worker_crash_next: int = Field(0, ge=0)
    never_finish_rate: float = Field(0.0, ge=0, le=1)
    never_finish_next: int = Field(0, ge=0)

    def check(self) -> None:
        if (self.fail_rate or self.fail_next) and self.fail_code is None:
            raise ValueError("fail_rate/fail_next need fail_code: set e.g. 1003 (structural) or 1008 (transient)")
        if self.fail_code is not None and self.fail_code not in IBM_CODES:
            known = ", ".join(str(code) for code in sorted(IBM_CODES))
            raise ValueError(
                f"fail_code {self.fail_code} is not an IBM error code this system knows; use one of {known}"
            )


class FaultConfigError(ValueError):
    """A fault configuration that cannot be used; the message names the field and the fix."""


def parse_faults(data: Any) -> FaultConfig:
    """Validate a fault configuration (dict or JSON text) into a FaultConfig."""
    try:
        if isinstance(data, str | bytes):
            config = FaultConfig.model_validate_json(data or "{}")
        else:
            config = FaultConfig.model_validate(data or {})
        config.check()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top level)'}: {error['msg']}" for error in exc.errors()
        )
        fields = ", ".join(FaultConfig.model_fields)
        raise FaultConfigError(f"invalid fault configuration: {problems} (known fields: {fields})") from exc
    except ValueError as exc:
        raise FaultConfigError(f"invalid fault configuration: {exc}") from exc
    return config


@dataclass(frozen=True)
class ApiFault:
    """An injected answer to one API call."""

    status: int
    detail: str
    retry_after: float | None = None


class FaultState:
    """The live faults of one service instance: outage clock, token bucket, seeded randomness and
    the "next N jobs" counters. Thread-safe; every decision is taken under one lock."""

    def __init__(self, config: FaultConfig | None = None, clock: Any = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.injected: dict[str, int] = {}
        self.apply(config or FaultConfig.model_validate({}))

    def apply(self, config: FaultConfig) -> None:
        with self._lock:
            now = self._clock()
            self.config = config
            self._rng = random.Random(config.seed)
            windows = [(now + w.start_in, now + w.start_in + w.duration) for w in config.outage_windows]
            if config.outage_seconds:
                windows.append((now, now + config.outage_seconds))
            self._outages = windows
            rate = config.rate_limit_per_second
            self._capacity = max(1.0, rate) if rate else 0.0
            self._tokens = self._capacity
            self._refilled = now
            self._fail_left = config.fail_next
            self._never_left = config.never_finish_next
            self._crash_left = config.worker_crash_next

    def _count(self, name: str) -> None:
        self.injected[name] = self.injected.get(name, 0) + 1

    def api_fault(self) -> ApiFault | None:
        """Decide whether this API call is answered by a fault (outage, 429, transient 5xx)."""
        with self._lock:
            now = self._clock()
            for start, end in self._outages:
                if start <= now < end:
                    self._count("outage_503")
                    remaining = end - now
                    return ApiFault(503, f"service unavailable: injected outage, {remaining:.1f} s left", remaining)
            rate = self.config.rate_limit_per_second
            if rate:
                self._tokens = min(self._capacity, self._tokens + (now - self._refilled) * rate)
                self._refilled = now
                if self._tokens < 1.0:
                    self._count("rate_limited_429")
                    wait = (1.0 - self._tokens) / rate
                    return ApiFault(
                        429,
                        f"too many requests: limit is {rate:g} per second; retry after {wait:.2f} s",
                        wait,
                    )
                self._tokens -= 1.0
            if self.config.error_rate and self._rng.random() < self.config.error_rate:
                status = self._rng.choice((500, 502, 503))
                self._count(f"transient_{status}")
                return ApiFault(status, f"injected transient server error {status}: retry")
            return None

    def job_fault(self) -> str:
        """The fault a new job carries for its whole life: "", "never_finish", "crash" or "fail:<code>"."""
        with self._lock:
            config = self.config
            if self._crash_left > 0:
                self._crash_left -= 1
                self._count("worker_crash")
                return "crash"
            if self._never_left > 0:
                self._never_left -= 1
                self._count("never_finish")
                return "never_finish"
            if config.never_finish_rate and self._rng.random() < config.never_finish_rate:
                self._count("never_finish")
                return "never_finish"
            if config.fail_code is not None:
                if self._fail_left > 0:
                    self._fail_left -= 1
                    self._count(f"fail_{config.fail_code}")
                    return f"fail:{config.fail_code}"
                if config.fail_rate and self._rng.random() < config.fail_rate:
                    self._count(f"fail_{config.fail_code}")
                    return f"fail:{config.fail_code}"
            return ""

    def lose_response(self) -> bool:
        """Whether the answer to this (successful) new-job submission is "lost" (502)."""
        with self._lock:
            rate = self.config.lost_response_rate
            if rate and self._rng.random() < rate:
                self._count("lost_response_502")
                return True
            return False

    def latency(self) -> float:
        with self._lock:
            return self.config.latency_seconds

    def queue_delay(self) -> float:
        with self._lock:
            return self.config.queue_delay_seconds


def retry_after_header(seconds: float | None) -> dict[str, str]:
    return {} if seconds is None else {"Retry-After": str(max(1, math.ceil(seconds)))}
