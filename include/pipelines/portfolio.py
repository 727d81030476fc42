"""The portfolio optimisation workflow as stage functions over the artifact store.

prices (skfolio's offline S&P 500 extract, or a Parquet/CSV in S3) → GX price validation →
returns, expected returns and a Ledoit–Wolf covariance on an estimation window, with a held-out
window after it → a cardinality-constrained selection (K of N, risk aversion q) as a QUBO /
Ising Hamiltonian with a checked penalty → QAOA through the one loop engine → the optimum
sampled (QuantumSubmitOperator, the same fallback tiers) → classical baselines on the same
problem → objective, feasibility, approximation gap, out-of-sample return and volatility,
quantum value added. The sibling of ``include.pipelines.qaoa_maxcut``: the same store, lineage,
loop and summary; ``run_pipeline`` chains the stages in one process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from include.params import params_from_mapping
from include.pipelines.qaoa_maxcut import _require_passed
from include.problems.baselines import HEURISTICS
from include.problems.maxcut import ProblemSpecError
from include.problems.portfolio import (
    DATE_COLUMN,
    PENALTY_MARGIN,
    SP500_SOURCE,
    PortfolioProblem,
    Qubo,
    parse_tickers,
    portfolio_qubo,
    price_window,
    select_assets,
)
from include.quantum.backends.errors import QuantumError
from include.quantum.backends.registry import backend_profile
from include.quantum.circuits.qaoa import MIXERS
from include.quantum.loops.optimiser import OPTIMISERS
from include.store.artifacts import ArtifactRef, ArtifactStore

MAX_ASSETS = 20  # one qubit per asset (statevector sampling stays interactive) and C(20, 10) brute force
MIN_LOOKBACK_DAYS = 30


@dataclass(frozen=True)
class PortfolioParams:
    """The run's parameters (the DAG's Params form). ``from_mapping`` names any bad field."""

    tickers: str = ""  # comma-separated; empty: the price table's first n_assets tickers
    n_assets: int = 8
    k: int = 4
    risk_aversion: float = 5.0
    lookback_days: int = 252
    holdout_days: int = 63
    max_gap_days: int = 7
    reps: int = 2
    mixer: str = "x"  # "x" (transverse field, penalty keeps K) or "xy" (constraint-preserving, from a K-hot state)
    shots: int = 1024
    optimiser: str = "COBYLA"
    max_iterations: int = 40
    loop_backend: str = "aer"
    backend: str = "aer"
    seed: int = 7
    data_uri: str = ""  # empty: skfolio's sp500_dataset; else s3://bucket/key.parquet or .csv

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PortfolioParams:
        return params_from_mapping(cls, values, ProblemSpecError)

    def check(self) -> None:
        if not 2 <= self.n_assets <= MAX_ASSETS:
            raise ProblemSpecError(f"n_assets={self.n_assets}: set 2 <= n_assets <= {MAX_ASSETS} (one qubit per asset)")
        listed = parse_tickers(self.tickers)
        if listed and len(listed) != self.n_assets:
            raise ProblemSpecError(
                f"tickers={self.tickers!r} lists {len(listed)} ticker(s) but n_assets={self.n_assets}; "
                f"set n_assets={len(listed)} or list {self.n_assets} tickers"
            )
        if not 1 <= self.k <= self.n_assets:
            raise ProblemSpecError(f"k={self.k}: choose between 1 and n_assets={self.n_assets} assets (1 <= k <= n)")
        if not (math.isfinite(self.risk_aversion) and self.risk_aversion >= 0):
            raise ProblemSpecError(f"risk_aversion={self.risk_aversion}: set a finite risk_aversion >= 0")
        if self.lookback_days < MIN_LOOKBACK_DAYS:
            raise ProblemSpecError(
                f"lookback_days={self.lookback_days}: estimate from at least {MIN_LOOKBACK_DAYS} daily returns"
            )
        if self.holdout_days < 2:
            raise ProblemSpecError(f"holdout_days={self.holdout_days}: hold out at least 2 days (a volatility)")
        if self.max_gap_days < 1:
            raise ProblemSpecError(f"max_gap_days={self.max_gap_days}: set max_gap_days >= 1")
        if self.reps < 1:
            raise ProblemSpecError(f"reps={self.reps}: QAOA needs at least one layer; set reps >= 1")
        if self.mixer not in MIXERS:
            raise ProblemSpecError(f"mixer={self.mixer!r} is not one of {MIXERS}")
        if self.mixer == "xy" and self.k == self.n_assets:
            raise ProblemSpecError(
                f"mixer='xy' with k = n_assets = {self.k} has one selection only; lower k or use 'x'"
            )
        if self.shots < 1:
            raise ProblemSpecError(f"shots={self.shots}: set shots >= 1")
        if self.optimiser not in OPTIMISERS:
            raise ProblemSpecError(f"optimiser={self.optimiser!r} is not one of {OPTIMISERS}")
        if self.max_iterations < 1:
            raise ProblemSpecError(f"max_iterations={self.max_iterations}: set max_iterations >= 1")
        for name in ("backend", "loop_backend"):
            try:
                backend_profile(getattr(self, name))
            except QuantumError as exc:
                raise ProblemSpecError(f"{name}={getattr(self, name)!r}: {exc}") from exc
        if self.data_uri:
            from include.data.datasets import table_format

            if not self.data_uri.startswith("s3://"):
                raise ProblemSpecError(f"data_uri={self.data_uri!r} must be an s3://bucket/key URI (.parquet or .csv)")
            table_format(self.data_uri)

    @property
    def rows_needed(self) -> int:
        return self.lookback_days + self.holdout_days + 1


def stage_prices(store: ArtifactStore, prefix: str, params: PortfolioParams) -> ArtifactRef:
    """The price table: skfolio's bundled S&P 500 extract, or the user's Parquet/CSV in S3 (pinned
    by its SHA-256 as a raw input)."""
    from include.problems.portfolio import load_sp500, price_table

    started = time.perf_counter()
    if params.data_uri:
        from include.data.datasets import parse_table

        source = store.source_ref(params.data_uri)
        table, inputs, origin = price_table(parse_table(store.get_bytes(source.uri), params.data_uri)), [source], "s3"
    else:
        table, inputs, origin = load_sp500(), [], SP500_SOURCE
    return store.put_table(
        prefix,
        "prices",
        table,
        stage="prices",
        inputs=inputs,
        params={
            "source": origin,
            "tickers": [c for c in table.columns if c != DATE_COLUMN],
            "first_date": str(table[DATE_COLUMN].iloc[0].date()) if len(table) else None,
            "last_date": str(table[DATE_COLUMN].iloc[-1].date()) if len(table) else None,
        },
        measurements={"seconds": time.perf_counter() - started},
    )


def run_assets(store: ArtifactStore, prices: ArtifactRef, params: PortfolioParams) -> list[str]:
    """The run's assets: the tickers Param, else the table's first n_assets tickers."""
    columns = store.read_manifest(prices.uri)["params"]["tickers"]
    return select_assets(columns, parse_tickers(params.tickers), params.n_assets)


def stage_validate(store: ArtifactStore, prefix: str, prices: ArtifactRef, params: PortfolioParams) -> ArtifactRef:
    """Run the GX price suite on the run's window; store its report, then stop the run if anything
    failed (before any model, circuit or job)."""
    from include.data.validation import raise_with_stored_report, validate_prices

    started = time.perf_counter()
    table = store.read_table(prices)
    assets = run_assets(store, prices, params)
    window = price_window(
        table, [c for c in table.columns if c != DATE_COLUMN], params.lookback_days, params.holdout_days
    )
    report = validate_prices(
        window, assets, n_assets=params.n_assets, rows_needed=params.rows_needed, max_gap_days=params.max_gap_days
    )
    ref = store.put_table(
        prefix,
        "validation",
        report.frame(),
        stage="validate",
        inputs=[prices],
        params={"suite": report.suite, "assets": assets, "rows_needed": params.rows_needed},
        attachments={"data_docs.html": report.data_docs_html.encode()},
        measurements={"seconds": time.perf_counter() - started, "success": report.success},
    )
    raise_with_stored_report(report, ref)  # the failed task still links the stored report's Data Docs
    return ref


def stage_model(
    store: ArtifactStore, prefix: str, prices: ArtifactRef, validation: ArtifactRef, params: PortfolioParams
) -> ArtifactRef:
    """Daily returns (``returns/``: each row's split, estimation or holdout) and the market model
    (``model/``: per asset μ and its row of Σ, annualised; skfolio's EmpiricalMu and LedoitWolf on
    the estimation window only)."""
    from include.problems.portfolio import estimate_model

    _require_passed(store, validation)
    started = time.perf_counter()
    assets = run_assets(store, prices, params)
    window = price_window(store.read_table(prices), assets, params.lookback_days, params.holdout_days)
    model = estimate_model(window, params.lookback_days, params.holdout_days)
    returns = pd.concat(
        [model.estimation.assign(split="estimation"), model.holdout.assign(split="holdout")], ignore_index=True
    )[[DATE_COLUMN, "split", *model.tickers]]
    returns_ref = store.put_table(
        prefix,
        "returns",
        returns,
        stage="model",
        inputs=[prices, validation],
        params={"returns": "simple daily (skfolio prices_to_returns)", "tickers": list(model.tickers)},
    )
    table = pd.DataFrame({"ticker": list(model.tickers), "mu": model.mu})
    for j, ticker in enumerate(model.tickers):
        table[f"cov_{ticker}"] = model.cov[:, j]
    estimation_dates = model.estimation[DATE_COLUMN]
    holdout_dates = model.holdout[DATE_COLUMN]
    return store.put_table(
        prefix,
        "model",
        table,
        stage="model",
        inputs=[returns_ref],
        params={
            "tickers": list(model.tickers),
            "mu_estimator": "skfolio.moments.EmpiricalMu",
            "covariance_estimator": "skfolio.moments.LedoitWolf",
            "annualisation_days": 252,
            "shrinkage": model.shrinkage,
            "estimation": [str(estimation_dates.iloc[0].date()), str(estimation_dates.iloc[-1].date())],
            "holdout": [str(holdout_dates.iloc[0].date()), str(holdout_dates.iloc[-1].date())],
            "lookback_days": params.lookback_days,
            "holdout_days": params.holdout_days,
        },
        measurements={"seconds": time.perf_counter() - started},
    )


def read_problem(
    store: ArtifactStore, model: ArtifactRef, params: PortfolioParams
) -> tuple[PortfolioProblem, list[str]]:
    table = store.read_table(model)
    tickers = [str(t) for t in table["ticker"]]
    cov = table[[f"cov_{t}" for t in tickers]].to_numpy(dtype=np.float64)
    problem = PortfolioProblem(table["mu"].to_numpy(dtype=np.float64), cov, params.k, params.risk_aversion)
    problem.check()
    return problem, tickers


def read_returns(store: ArtifactStore, model: ArtifactRef) -> pd.DataFrame:
    return store.read_table(ArtifactRef.from_xcom(store.read_manifest(model.uri)["inputs"][0]))


def encoded_qubo(store: ArtifactStore, encoding: ArtifactRef, problem: PortfolioProblem) -> Qubo:
    """The penalised QUBO the encoding was built with (its penalty weight from the manifest)."""
    return portfolio_qubo(problem, float(store.read_manifest(encoding.uri)["params"]["penalty"]))


def stage_encode(
    store: ArtifactStore, prefix: str, model: ArtifactRef, validation: ArtifactRef, params: PortfolioParams
) -> ArtifactRef:
    """The selection as a QUBO with the cardinality penalty (its weight by ``penalty_weight``'s
    rule) → Ising SparsePauliOp (stored as its terms) → QAOA ansatz (stored as QPY). The ansatz takes
    the Hamiltonian divided by its largest coefficient, so the standard start angles are in range
    (the same states, in the same order). ``mixer="xy"`` builds it with the XY ring mixer from the
    K-hot state, so every sample holds K assets (the penalty is then never paid, but kept: the
    objective is the same QUBO)."""
    import io

    from qiskit import qpy

    from include.problems.portfolio import penalty_weight, qubo_ising
    from include.quantum.circuits.qaoa import qaoa_ansatz

    _require_passed(store, validation)
    started = time.perf_counter()
    problem, tickers = read_problem(store, model, params)
    penalty = penalty_weight(problem)
    cost, offset = qubo_ising(portfolio_qubo(problem, penalty))
    scale = float(np.abs(cost.coeffs).max()) or 1.0
    ansatz = qaoa_ansatz(cost / scale, params.reps, mixer=params.mixer, hamming_weight=params.k)
    buffer = io.BytesIO()
    qpy.dump(ansatz, buffer)
    terms = pd.DataFrame(
        {"pauli": cost.paulis.to_labels(), "coefficient": [float(c.real) for c in cost.coeffs]}
    ).sort_values("pauli", kind="mergesort", ignore_index=True)
    return store.put_table(
        prefix,
        "encode",
        terms,
        stage="encode",
        inputs=[model, validation],
        params={
            "n_qubits": cost.num_qubits,
            "reps": params.reps,
            "mixer": params.mixer,
            "k": params.k,
            "risk_aversion": params.risk_aversion,
            "tickers": tickers,
            "penalty": penalty,
            "penalty_rule": f"P = {PENALTY_MARGIN} x the largest change of the objective one bit flip can make "
            "(so every infeasible selection scores worse than the best feasible one)",
            "flip_bound": problem.flip_bound(),
            "offset": offset,
            "ansatz_scale": scale,
            "qubit_order": "qubit i = asset i (Qiskit little-endian: the rightmost bit is asset 0)",
        },
        attachments={"ansatz.qpy": buffer.getvalue()},
        measurements={"seconds": time.perf_counter() - started},
    )


def loop_identity(model: ArtifactRef, encoding: ArtifactRef, params: PortfolioParams) -> dict[str, Any]:
    """What makes a checkpoint this loop's: the same problem, optimiser and seed."""
    return {
        "kind": "qaoa_portfolio",
        "optimiser": params.optimiser,
        "seed": params.seed,
        "inputs": [model.sha256, encoding.sha256],
    }


def portfolio_loop(
    store: ArtifactStore,
    prefix: str,
    model: ArtifactRef,
    encoding: ArtifactRef,
    params: PortfolioParams,
    *,
    protocol: Any,
    run: list[Any],
    allow_deferral: bool = True,
) -> tuple[Any, list[ArtifactRef]]:
    """The QAOA loop of this run on ``protocol``'s backend with its checkpoint loaded; the loop and
    its lineage inputs (``VariationalLoopOperator``'s build function)."""
    import io

    from qiskit import qpy

    from include.pipelines.loop_stage import open_checkpoint, policy_loop
    from include.quantum.loops.portfolio import PortfolioObjective, PortfolioQAOAProblem

    ansatz = qpy.load(io.BytesIO(store.read_attachment(encoding, "ansatz.qpy")))[0]
    problem, _ = read_problem(store, model, params)
    objective = PortfolioObjective(problem, encoded_qubo(store, encoding, problem))
    checkpoint = open_checkpoint(store, prefix, "optimise", loop_identity(model, encoding, params))
    loop = policy_loop(
        store,
        PortfolioQAOAProblem(ansatz, objective),
        checkpoint,
        protocol=protocol,
        optimiser=params.optimiser,
        max_iterations=params.max_iterations,
        shots=params.shots,
        seed=params.seed,
        run=run,
        dataset_version=model.sha256,
        allow_deferral=allow_deferral,
    )
    return loop, [model, encoding]


def store_optimise(
    store: ArtifactStore,
    prefix: str,
    params: PortfolioParams,
    loop: Any,
    inputs: list[ArtifactRef],
    *,
    seconds: float,
    worker_seconds: float | None = None,
) -> ArtifactRef:
    """The loop's trace (one row per evaluation) and its optimum (``VariationalLoopOperator``'s
    store function)."""
    import io

    from qiskit import qpy

    from include.quantum.loops.engine import evaluation_dicts
    from include.quantum.loops.portfolio import PortfolioLoopResult

    outcome = loop.outcome()
    result = PortfolioLoopResult.from_outcome(outcome)
    if not result.evaluations:
        raise ProblemSpecError("the QAOA loop ran no evaluation; raise max_iterations")
    compute_seconds = result.transpile_seconds + sum(e.seconds for e in result.evaluations if e.mode == "held")
    isa = io.BytesIO()
    qpy.dump(outcome.isa[0], isa)
    modes = {m: sum(1 for e in result.evaluations if e.mode == m) for m in ("held", "deferred")}
    best_feasible = result.best_feasible_objective
    return store.put_table(
        prefix,
        "optimise",
        result.trace_frame(),
        stage="optimise",
        inputs=inputs,
        params={
            "backend": loop.backend.name,
            "backends": outcome.by_backend(),
            "transpiler": {"optimization_level": 1, "seed_transpiler": params.seed},
            "target_fingerprint": result.evaluations[-1].target_fingerprint,
            "optimiser": params.optimiser,
            "max_iterations": params.max_iterations,
            "shots": params.shots,
            "best_parameters": result.best_parameters,
            "best_value": result.best_value,
            "expected_value": result.expected_value,
            "feasible_probability": result.feasible_probability,
            "best_feasible_bitstring": result.best_feasible_bitstring,
            "best_feasible_objective": None if math.isnan(best_feasible) else best_feasible,
            "evaluation_modes": modes,
        },
        seeds={"simulator": params.seed, "transpiler": params.seed},
        attachments={"isa_circuit.qpy": isa.getvalue()},
        measurements={
            "evaluations": evaluation_dicts(result.evaluations),
            "seconds": seconds,
            "transpile_seconds": result.transpile_seconds,
            "execute_seconds": result.execute_seconds,
            "transpile_count": result.transpile_count,
            "iterations": len(result.evaluations),
            "resumed_from_iteration": loop.resumed_from,
            "compute_seconds": compute_seconds,
            "io_seconds": max(seconds - compute_seconds, 0.0),
            "worker_seconds": worker_seconds,
            "checkpoint_writes": outcome.checkpoint_writes,
            "total_shots": params.shots * len(result.evaluations),
        },
    )


def stage_optimise(
    store: ArtifactStore,
    prefix: str,
    model: ArtifactRef,
    encoding: ArtifactRef,
    params: PortfolioParams,
    *,
    protocol: Any = None,
    run: list[Any] | None = None,
) -> ArtifactRef:
    """The QAOA loop held in this process on ``params.loop_backend`` (the plain-Python path; the
    Airflow loop operator runs the same loop and defers between evaluations where the backend queues)."""
    from include.pipelines.loop_stage import held_loop_stage

    run = run or ["portfolio_optimisation", prefix, "optimise", -1]
    return held_loop_stage(
        store, prefix, [model, encoding], params, portfolio_loop, store_optimise, run=run, protocol=protocol
    )


def stage_baselines(
    store: ArtifactStore, prefix: str, model: ArtifactRef, validation: ArtifactRef, params: PortfolioParams
) -> ArtifactRef:
    """Exact, greedy, local search, simulated annealing and the continuous mean-variance optimum on
    the same model. ``score`` = −objective (higher is better: what the fallback's classical tier
    ranks by)."""
    from include.problems.portfolio_baselines import run_baselines

    _require_passed(store, validation)
    started = time.perf_counter()
    problem, tickers = read_problem(store, model, params)
    returns = read_returns(store, model)
    estimation = returns[returns["split"] == "estimation"][tickers]
    results, solution = run_baselines(problem, estimation, params.seed)
    table = pd.DataFrame(
        {
            "method": [r.method for r in results],
            "bitstring": [r.bitstring for r in results],
            "objective": [r.objective for r in results],
            "score": [-r.objective for r in results],
            "feasible": [bool(r.bitstring) for r in results],
            "exact": [r.exact for r in results],
            "evaluations": [r.evaluations for r in results],
            "weights": [list(r.weights) for r in results],
            "seconds": [r.seconds for r in results],
        }
    )
    return store.put_table(
        prefix,
        "baselines",
        table,
        stage="baselines",
        inputs=[model, validation],
        params={
            "methods": [r.method for r in results],
            "worst_feasible_objective": solution.worst_objective,
            "mean_variance": "skfolio MeanRisk MAXIMIZE_UTILITY, long-only, fully invested, no cardinality",
        },
        seeds={"baselines": params.seed},
        measurements={"seconds": time.perf_counter() - started},
        nondeterministic_columns=["seconds"],
    )


def _sample_counts(store: ArtifactStore, sample: ArtifactRef) -> dict[str, int]:
    sampled = store.read_table(sample)
    return {str(k): int(v) for k, v in sampled.groupby("bitstring")["count"].sum().items()}


def stage_aggregate(
    store: ArtifactStore,
    prefix: str,
    optimise: ArtifactRef,
    baselines: ArtifactRef,
    upstream: Mapping[str, ArtifactRef],
) -> ArtifactRef:
    """Objective, feasibility, approximation gap, out-of-sample figures and quantum value added.

    QAOA's selection is the best *feasible* one it sampled — in the final sample (``sample``, when
    it ran on a quantum backend: tier 1) and every loop evaluation — beside uniform random bitstrings
    with the same total shots. The approximation gap is (f − f*) / (f_worst − f*) over the feasible
    selections (0 = the exact optimum, 1 = the worst selection). Quantum value added is the best
    classical selection's objective minus QAOA's (positive: QAOA found a better one). Out of sample:
    the equal-weight portfolio of each selection (the continuous optimum: its weights) over the
    held-out days, annualised. Returns the summary's reference; the result table is its input.
    """
    from include.problems.portfolio import out_of_sample, selection_statistics, selection_tickers
    from include.problems.portfolio_baselines import MEAN_VARIANCE, random_sampling

    started = time.perf_counter()
    qaoa = store.read_manifest(optimise.uri)
    table = store.read_table(baselines)
    baselines_manifest = store.read_manifest(baselines.uri)
    model_ref = upstream.get("model") or ArtifactRef.from_xcom(baselines_manifest["inputs"][0])
    encode_ref = upstream.get("encode") or ArtifactRef.from_xcom(qaoa["inputs"][1])
    encode_params = store.read_manifest(encode_ref.uri)["params"]
    params = PortfolioParams(
        n_assets=len(encode_params["tickers"]),
        k=int(encode_params["k"]),
        risk_aversion=float(encode_params["risk_aversion"]),
    )
    problem, tickers = read_problem(store, model_ref, params)
    qubo = encoded_qubo(store, encode_ref, problem)
    returns = read_returns(store, model_ref)
    holdout = returns[returns["split"] == "holdout"]
    exact_objective = float(table.loc[table["method"] == "exact", "objective"].iloc[0])
    worst = float(baselines_manifest["params"]["worst_feasible_objective"])
    spread = worst - exact_objective

    def gap(value: float) -> float:
        return (value - exact_objective) / spread if spread > 0 else (0.0 if value == exact_objective else math.nan)

    measured = qaoa["measurements"]
    total_shots = int(measured["total_shots"])
    compute_seconds, io_seconds = float(measured["compute_seconds"]), float(measured["io_seconds"])
    best_bitstring = str(qaoa["params"]["best_feasible_bitstring"])
    best_objective = qaoa["params"]["best_feasible_objective"]
    best_objective = math.nan if best_objective is None else float(best_objective)
    feasible_probability = float(qaoa["params"]["feasible_probability"])
    expected_value = float(qaoa["params"]["expected_value"])
    sample: dict[str, Any] = {}
    if "sample" in upstream:  # the final sample at the optimum, on the selected backend (or a fallback tier)
        sample_manifest = store.read_manifest(upstream["sample"].uri)
        fallback = sample_manifest["params"].get("fallback", {"tier": 1, "tier_name": "quantum", "reason": ""})
        counts = _sample_counts(store, upstream["sample"])
        sample = {
            "sample_backend": str(sample_manifest["params"]["backend"]),
            "sample_tier": int(fallback["tier"]),
            "sample_tier_reason": str(fallback["reason"]),
            "sample_feasible_probability": math.nan,
            "sample_best_feasible_objective": math.nan,
            "sample_best_feasible_bitstring": "",
        }
        if counts:
            stats = selection_statistics(counts, problem, qubo)
            sample.update(
                sample_feasible_probability=stats.feasible_probability,
                sample_best_feasible_objective=stats.best_feasible_objective,
                sample_best_feasible_bitstring=stats.best_feasible_bitstring,
                sample_expected_value=stats.expected_value,
            )
            if sample["sample_tier"] == 1:  # quantum samples: they count for QAOA
                total_shots += int(sum(counts.values()))
                feasible_probability, expected_value = stats.feasible_probability, stats.expected_value
                if stats.best_feasible_bitstring and not stats.best_feasible_objective >= best_objective:
                    best_bitstring, best_objective = stats.best_feasible_bitstring, stats.best_feasible_objective
    seed = int(baselines_manifest["seeds"]["baselines"])
    random = random_sampling(problem, total_shots, seed)

    def selection_row(method: str, bitstring: str, objective: float, shots: int, seconds: float, io: float) -> dict:
        feasible = bool(bitstring)
        weights = np.array([int(b) for b in reversed(bitstring)]) / problem.k if feasible else None
        ret, vol = out_of_sample(weights, holdout, tickers) if weights is not None else (math.nan, math.nan)
        return {
            "method": method,
            "bitstring": bitstring,
            "tickers": ",".join(selection_tickers(bitstring, tickers)) if feasible else "",
            "objective": objective,
            "feasible": feasible,
            "approximation_gap": gap(objective) if feasible else math.nan,
            "oos_return": ret,
            "oos_volatility": vol,
            "shots": shots,
            "seconds": seconds,
            "io_seconds": io,
        }

    rows = [
        selection_row("qaoa", best_bitstring, best_objective, total_shots, compute_seconds, io_seconds),
        selection_row(random.method, random.bitstring, random.objective, total_shots, random.seconds, 0.0),
    ]
    for r in table.itertuples():
        if r.method == MEAN_VARIANCE:
            weights = np.asarray(r.weights, dtype=np.float64)
            ret, vol = out_of_sample(weights, holdout, tickers)
            held = [t for t, w in zip(tickers, weights, strict=True) if w > 1e-4]
            rows.append(
                {
                    "method": r.method,
                    "bitstring": "",
                    "tickers": ",".join(held),
                    "objective": float(r.objective),
                    "feasible": len(held) == problem.k,
                    "approximation_gap": gap(float(r.objective)),
                    "oos_return": ret,
                    "oos_volatility": vol,
                    "shots": 0,
                    "seconds": float(r.seconds),
                    "io_seconds": 0.0,
                }
            )
        else:
            rows.append(selection_row(str(r.method), str(r.bitstring), float(r.objective), 0, float(r.seconds), 0.0))
    result_table = pd.DataFrame(rows)
    result = store.put_table(
        prefix,
        "result",
        result_table,
        stage="aggregate",
        inputs=[optimise, baselines],
        params={
            "reference": "exact",
            "approximation_gap": "(f - f*) / (f_worst - f*) over the feasible selections; 0 = exact",
            "out_of_sample": "equal weights 1/k (mean_variance: its weights), daily returns over the holdout, "
            "annualised",
            "random_sampling": {"shots": total_shots, "seed": seed},
        },
        nondeterministic_columns=["seconds", "io_seconds"],
    )
    by_method = result_table.set_index("method")
    heuristics = result_table[result_table["method"].isin(HEURISTICS)]
    best = heuristics.sort_values(["objective", "seconds"], kind="mergesort").iloc[0]
    competitors = result_table[result_table["method"].isin([*HEURISTICS, random.method]) & result_table["feasible"]]
    strongest = competitors.sort_values(["objective", "seconds"], kind="mergesort").iloc[0]
    stage_seconds = {
        name: float(store.read_manifest(ref.uri)["measurements"].get("seconds", float("nan")))
        for name, ref in upstream.items()
    }
    stage_seconds["aggregate"] = time.perf_counter() - started
    qaoa_row = by_method.loc["qaoa"]
    summary = pd.DataFrame(
        {
            "portfolio_tickers": [",".join(tickers)],
            "k": [problem.k],
            "risk_aversion": [problem.risk_aversion],
            "qaoa_objective": [best_objective],
            "qaoa_selection": [str(qaoa_row["tickers"])],
            "qaoa_feasible": [bool(best_bitstring)],
            "qaoa_feasible_probability": [feasible_probability],
            "qaoa_expected_value": [expected_value],
            "qaoa_total_shots": [total_shots],
            "qaoa_iterations": [int(measured["iterations"])],
            "random_feasible_probability": [random.feasible_probability],
            "random_objective": [random.objective],
            "exact_objective": [exact_objective],
            "exact_selection": [str(by_method.loc["exact", "tickers"])],
            "worst_feasible_objective": [worst],
            "approximation_gap": [float(qaoa_row["approximation_gap"])],
            "mean_variance_objective": [float(by_method.loc[MEAN_VARIANCE, "objective"])],
            "best_heuristic": [str(best["method"])],
            "best_heuristic_objective": [float(best["objective"])],
            "best_classical": [str(strongest["method"])],
            "best_classical_objective": [float(strongest["objective"])],
            "quantum_value_added": [float(strongest["objective"]) - best_objective],
            "qaoa_oos_return": [float(qaoa_row["oos_return"])],
            "qaoa_oos_volatility": [float(qaoa_row["oos_volatility"])],
            "exact_oos_return": [float(by_method.loc["exact", "oos_return"])],
            "exact_oos_volatility": [float(by_method.loc["exact", "oos_volatility"])],
            "mean_variance_oos_return": [float(by_method.loc[MEAN_VARIANCE, "oos_return"])],
            "mean_variance_oos_volatility": [float(by_method.loc[MEAN_VARIANCE, "oos_volatility"])],
            "qaoa_compute_seconds": [compute_seconds],
            "qaoa_io_seconds": [io_seconds],
            "best_heuristic_seconds": [float(best["seconds"])],
            **{name: [value] for name, value in sample.items()},
        }
    )
    return store.put_table(
        prefix,
        "summary",
        summary,
        stage="aggregate",
        inputs=[result, *upstream.values()],
        params={"baselines": {str(r.method): float(r.objective) for r in table.itertuples()}},
        measurements={"stage_seconds": stage_seconds, "seconds": stage_seconds["aggregate"]},
        nondeterministic_columns=["qaoa_compute_seconds", "qaoa_io_seconds", "best_heuristic_seconds"],
    )


def run_pipeline(store: ArtifactStore, prefix: str, params: PortfolioParams) -> ArtifactRef:
    """The whole workflow in one process, stage after stage (no orchestrator, no final sample:
    QAOA's selection is the loop's best feasible one)."""
    prices = stage_prices(store, prefix, params)
    validation = stage_validate(store, prefix, prices, params)
    model = stage_model(store, prefix, prices, validation, params)
    encoding = stage_encode(store, prefix, model, validation, params)
    optimise = stage_optimise(store, prefix, model, encoding, params)
    baselines = stage_baselines(store, prefix, model, validation, params)
    upstream = {
        "prices": prices,
        "validate": validation,
        "model": model,
        "encode": encoding,
        "optimise": optimise,
        "baselines": baselines,
    }
    return stage_aggregate(store, prefix, optimise, baselines, upstream)
