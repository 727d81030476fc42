"""The nightly sweep's grid (the DAG's Params, validated) and where a sweep keeps its state.

``SweepGrid.from_params`` names the Param and the fix for every bad value. ``sweep_root`` is
where instances, experiment results and the history live; ``night_prefix_for`` is one night's
folder under ``nightly/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

# Bump when what an experiment computes changes (angle finding, result fields): older stored
# results then stop matching and are recomputed instead of silently reused.
SWEEP_VERSION = "1"
FAMILIES: dict[str, str] = {"maxcut_regular": "regular", "maxcut_erdos_renyi": "erdos_renyi"}
# The workloads a night can sweep (their functions: include.benchmark.workloads.WORKLOADS).
SWEEP_WORKLOADS = ("maxcut", "vqc_classifier", "portfolio_optimisation")
SWEEP_BACKENDS = ("aer:statevector", "aer:matrix_product_state", "aer", "jobservice", "braket:local")
# Backends whose noise axis is only "ideal": the IBM fake-device noise models are Aer noise models
# of IBM devices, which these simulators do not take (listed as skipped, with this reason).
IDEAL_ONLY_BACKENDS: dict[str, str] = {
    "braket:local": "Braket's local state-vector simulator is noise-free; the IBM fake-device noise models "
    "apply to Aer only (braket:local runs noise=ideal)",
}
IDEAL = "ideal"
MAX_SWEEP_NODES = 22  # the noise-free angle search holds 2^n amplitudes
MAX_PORTFOLIO_ASSETS = 20  # skfolio's sp500_dataset holds 20 tickers
NIGHTS_PREFIX = "nightly"


def sweep_root() -> str:
    """Where instances, experiment results and the history live (QFLOW_SWEEP_ROOT, default
    ``sweep``): everything sharing a root shares its results, across nights."""
    return os.environ.get("QFLOW_SWEEP_ROOT", "sweep").strip("/") or "sweep"


class SweepConfigError(ValueError):
    """A sweep grid setting is wrong; the message names the Param and the fix."""


def _as_list(name: str, value: Any) -> list[Any]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise SweepConfigError(f"{name}={value!r}: give a non-empty list (or a comma-separated string)")
    return list(value)


def _ints(name: str, value: Any, low: int, high: int) -> tuple[int, ...]:
    out = []
    for item in _as_list(name, value):
        try:
            number = int(item)
        except (TypeError, ValueError) as exc:
            raise SweepConfigError(f"{name}: {item!r} is not a whole number") from exc
        if number != float(item) or not low <= number <= high:
            raise SweepConfigError(f"{name}: {item!r} is out of range; use whole numbers from {low} to {high}")
        out.append(number)
    return tuple(out)


def _floats(name: str, value: Any, low: float, high: float) -> tuple[float, ...]:
    out = []
    for item in _as_list(name, value):
        try:
            number = float(item)
        except (TypeError, ValueError) as exc:
            raise SweepConfigError(f"{name}: {item!r} is not a number") from exc
        if not low <= number <= high:  # NaN fails this too
            raise SweepConfigError(f"{name}: {item!r} is out of range; use numbers from {low:g} to {high:g}")
        out.append(number)
    return tuple(out)


def _choices(name: str, value: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    out = tuple(str(v) for v in _as_list(name, value))
    for item in out:
        if item not in allowed:
            raise SweepConfigError(f"{name}: {item!r} is not one of {tuple(allowed)}")
    return out


@dataclass(frozen=True)
class SweepGrid:
    """The night's grid (the DAG's Params). Lists may repeat values: repeats are duplicates."""

    families: tuple[str, ...] = ("maxcut_regular", "maxcut_erdos_renyi")
    sizes: tuple[int, ...] = (6, 8, 10, 12, 14, 16, 18, 20)
    seeds_per_size: int = 5
    reps: tuple[int, ...] = (1, 2)
    shots: tuple[int, ...] = (1024,)
    noise: tuple[str, ...] = (IDEAL, "fake_kolkata")
    backends: tuple[str, ...] = ("aer:statevector", "aer:matrix_product_state", "jobservice", "braket:local")
    degree: int = 3  # regular graphs: the degree; Erdős–Rényi: the expected degree
    weights: str = "unit"
    noise_max_nodes: int = 10  # noisy simulation of larger circuits is skipped (and says so)
    max_pubs_per_job: int = 50  # circuits batched into one job; 1 submits one circuit at a time
    deduplicate: bool = True
    angle_evaluations: int = 300  # noise-free expectation evaluations per reps level
    workloads: tuple[str, ...] = SWEEP_WORKLOADS
    # The classifier's cells: data sets x encodings x ansatz reps, each trained on the backends x
    # noise of the grid. Small by default (few iterations, few shots): every cell is a training loop.
    vqc_datasets: tuple[str, ...] = ("iris",)
    vqc_encodings: tuple[str, ...] = ("angle",)
    vqc_reps: tuple[int, ...] = (1,)
    vqc_shots: int = 128
    vqc_max_iterations: int = 12
    vqc_features: int = 4  # features kept (PCA) = qubits of the angle encoding
    vqc_seeds: int = 1  # train/test splits per data set
    # The portfolio's cells: N assets (skfolio's S&P 500 prices, the first N tickers) x K chosen
    # (0 = N/2) x risk aversion q x market windows, each a QAOA loop (mixers x reps) on the
    # backends x noise of the grid. Small by default: every cell is an optimisation loop.
    portfolio_sizes: tuple[int, ...] = (6, 8)
    portfolio_ks: tuple[int, ...] = (0,)
    portfolio_risk_aversions: tuple[float, ...] = (5.0,)
    portfolio_windows: int = 1  # market windows per (N, K, q): 0 = the most recent, each 63 days earlier
    portfolio_reps: tuple[int, ...] = (1,)
    portfolio_mixers: tuple[str, ...] = ("x",)
    portfolio_shots: int = 256
    portfolio_max_iterations: int = 20

    @classmethod
    def from_params(cls, values: Mapping[str, Any]) -> SweepGrid:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SweepConfigError(f"unknown sweep Param(s) {unknown}; valid ones are {sorted(known)}")
        merged = {**{f.name: getattr(cls(), f.name) for f in fields(cls)}, **values}
        families = tuple(str(f) for f in _as_list("families", merged["families"]))
        for family in families:
            if family not in FAMILIES:
                raise SweepConfigError(f"families: {family!r} is not one of {sorted(FAMILIES)}")
        backends = tuple(str(b) for b in _as_list("backends", merged["backends"]))
        for backend in backends:
            if backend not in SWEEP_BACKENDS:
                raise SweepConfigError(
                    f"backends: {backend!r} is not one of {SWEEP_BACKENDS}; the nightly sweep runs on simulators "
                    "and the local job service (hardware runs go through qaoa_maxcut, with approval)"
                )
        noise = tuple(str(n) for n in _as_list("noise", merged["noise"]))
        for model in noise:
            if model != IDEAL:
                from include.quantum.backends.fake import fake_backend_names

                if model not in fake_backend_names():
                    raise SweepConfigError(
                        f"noise: {model!r} is neither 'ideal' nor an IBM fake backend "
                        "(e.g. fake_kolkata, fake_manila; see qiskit_ibm_runtime.fake_provider)"
                    )
        from include.data.datasets import BUILTIN_DATASETS
        from include.quantum.circuits.encodings import ENCODINGS

        workloads = _choices("workloads", merged["workloads"], SWEEP_WORKLOADS)
        datasets = _choices("vqc_datasets", merged["vqc_datasets"], BUILTIN_DATASETS)
        encodings = _choices("vqc_encodings", merged["vqc_encodings"], ENCODINGS)
        weights = str(merged["weights"])
        if weights not in ("unit", "uniform"):
            raise SweepConfigError(f"weights={weights!r}: use 'unit' or 'uniform'")
        flags = str(merged["deduplicate"]).lower()
        if flags not in ("true", "false", "1", "0"):
            raise SweepConfigError(f"deduplicate={merged['deduplicate']!r}: use true or false")
        return cls(
            families=families,
            sizes=_ints("sizes", merged["sizes"], 3, MAX_SWEEP_NODES),
            seeds_per_size=_ints("seeds_per_size", [merged["seeds_per_size"]], 1, 100)[0],
            reps=_ints("reps", merged["reps"], 1, 6),
            shots=_ints("shots", merged["shots"], 1, 100_000),
            noise=noise,
            backends=backends,
            degree=_ints("degree", [merged["degree"]], 1, MAX_SWEEP_NODES - 1)[0],
            weights=weights,
            noise_max_nodes=_ints("noise_max_nodes", [merged["noise_max_nodes"]], 0, MAX_SWEEP_NODES)[0],
            max_pubs_per_job=_ints("max_pubs_per_job", [merged["max_pubs_per_job"]], 1, 1000)[0],
            deduplicate=flags in ("true", "1"),
            angle_evaluations=_ints("angle_evaluations", [merged["angle_evaluations"]], 20, 10_000)[0],
            workloads=workloads,
            vqc_datasets=datasets,
            vqc_encodings=encodings,
            vqc_reps=_ints("vqc_reps", merged["vqc_reps"], 1, 6),
            vqc_shots=_ints("vqc_shots", [merged["vqc_shots"]], 1, 100_000)[0],
            vqc_max_iterations=_ints("vqc_max_iterations", [merged["vqc_max_iterations"]], 1, 1000)[0],
            vqc_features=_ints("vqc_features", [merged["vqc_features"]], 1, MAX_SWEEP_NODES)[0],
            vqc_seeds=_ints("vqc_seeds", [merged["vqc_seeds"]], 1, 100)[0],
            portfolio_sizes=_ints("portfolio_sizes", merged["portfolio_sizes"], 2, MAX_PORTFOLIO_ASSETS),
            portfolio_ks=_ints("portfolio_ks", merged["portfolio_ks"], 0, MAX_PORTFOLIO_ASSETS),
            portfolio_risk_aversions=_floats(
                "portfolio_risk_aversions", merged["portfolio_risk_aversions"], 0.0, 1000.0
            ),
            portfolio_windows=_ints("portfolio_windows", [merged["portfolio_windows"]], 1, 200)[0],
            portfolio_reps=_ints("portfolio_reps", merged["portfolio_reps"], 1, 6),
            portfolio_mixers=_choices("portfolio_mixers", merged["portfolio_mixers"], ("x", "xy")),
            portfolio_shots=_ints("portfolio_shots", [merged["portfolio_shots"]], 1, 100_000)[0],
            portfolio_max_iterations=_ints("portfolio_max_iterations", [merged["portfolio_max_iterations"]], 1, 1000)[
                0
            ],
        )

    def to_params(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def night_prefix_for(night: str) -> str:
    from include.store.artifacts import safe_key_part

    return f"{NIGHTS_PREFIX}/{safe_key_part(night)}"
