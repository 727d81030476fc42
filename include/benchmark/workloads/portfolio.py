"""The ``portfolio_optimisation`` workload of the nightly sweep: N assets × K chosen × risk aversion q.

An *instance* is one market window of skfolio's bundled S&P 500 daily prices (the first N
tickers; window w ends w × 63 trading days before the last date, ``include.problems.portfolio.
market_window``, the same instances ``bench/portfolio_qaoa.py`` measures), with K and q: prepared
once with the portfolio workflow's own stages (``include.pipelines.portfolio``: the GX price suite,
returns with skfolio's EmpiricalMu and Ledoit–Wolf covariance, the classical baselines — exact,
greedy, swap local search, simulated annealing) plus uniformly random sampling with the QAOA
experiment's whole shot budget (shots × max iterations), content-addressed under
``<root>/instances/<hash>/`` and reused by every later night.

An *experiment* is one QAOA optimisation loop (``include.quantum.loops.portfolio``: COBYLA over
the penalised QUBO's Ising cost, one sampled job per evaluation) on one backend and noise model,
held in one batch task, every job through the protocol the batch task builds (the job ledger, the
environment's admission, settlement) — the classifier's "one loop per batch task", not MaxCut's
"angles once, one sampled circuit per experiment": MaxCut's noise-free angle search
(``qaoa_angles``) is built on the cut diagonal and its symmetries, and the portfolio's figure of
merit is the best *feasible* selection sampled anywhere in the loop (what ``bench/portfolio_qaoa``
and the portfolio DAG report), which a single sample at pre-found angles does not measure. Only
in-process backends hold a loop; a queued provider's combinations are skipped with the reason.

Result rows (lower objective is better): ``objective`` = the best feasible sampled selection's
mean-variance objective q·wᵀΣw − μᵀw (NaN: no feasible sample), ``expected_objective`` = the mean
objective over the feasible shots at the optimiser's best θ, ``optimum`` = the exact optimum,
``approximation_ratio`` = 1 − gap with gap = (f − f*) / (f_worst − f*) over the feasible
selections — 1 is the exact optimum, higher is better, the direction of MaxCut's cut / max cut —
``feasible_share`` = the share of shots holding exactly K assets at the best θ, ``variant`` = the
mixer, ``reps`` = QAOA layers, ``n_nodes`` = N (= qubits), ``seed`` = the market window.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from include.benchmark.workloads import Experiment, ReportSection, Workload, in_process_only, section_fragment

NAME = "portfolio_optimisation"
QAOA = "qaoa"
HEURISTICS = ("greedy", "local_search", "simulated_annealing")
RANDOM = "random_sampling"
BASELINES = ("exact", *HEURISTICS, RANDOM)
OPTIMISER = "COBYLA"
# QAOA's best feasible objective below the best heuristic's by more than this counts as a win
# (equal selections give equal objectives: ties and float noise are not wins).
WIN_TOLERANCE = 1e-12


def family_of(k: int, risk_aversion: float) -> str:
    return f"portfolio_k{k}_q{risk_aversion:g}"


def _params(spec: Mapping[str, Any]) -> Any:
    from include.pipelines.portfolio import PortfolioParams

    return PortfolioParams(
        n_assets=int(spec["n_assets"]),
        k=int(spec["k"]),
        risk_aversion=float(spec["risk_aversion"]),
        seed=int(spec["window"]),
    )


def instance_specs(grid: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One instance per distinct (N, K, q, window), smallest first; K = 0 asks for N/2. A K
    outside 1..N, or a window earlier than the price history reaches, is skipped with the reason."""
    from include.benchmark.schema import skipped_row
    from include.problems.maxcut import ProblemSpecError
    from include.problems.portfolio import WINDOW_STEP_DAYS, load_sp500

    if NAME not in grid.workloads:
        return [], []
    history = len(load_sp500())
    specs: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    seen: set[tuple[int, int, float, int]] = set()
    for n in sorted(set(grid.portfolio_sizes)):
        for asked in dict.fromkeys(grid.portfolio_ks):
            k = asked or n // 2
            for q in dict.fromkeys(grid.portfolio_risk_aversions):
                for window in range(grid.portfolio_windows):
                    if (n, k, q, window) in seen:
                        continue  # K = 0 and K = N/2 name the same instance
                    seen.add((n, k, q, window))
                    spec = {"workload": NAME, "n_assets": n, "k": k, "risk_aversion": q, "window": window}
                    params = _params(spec)
                    try:
                        params.check()
                    except ProblemSpecError as exc:
                        reason = f"portfolio_ks={asked}: {exc}"
                        skipped.append(skipped_row(family_of(k, q), n, window, "classical", "none", reason))
                        continue
                    if history - window * WINDOW_STEP_DAYS < params.rows_needed:
                        reason = (
                            f"portfolio_windows={grid.portfolio_windows}: window {window} ends before "
                            f"{params.rows_needed} daily prices exist; use fewer windows"
                        )
                        skipped.append(skipped_row(family_of(k, q), n, window, "classical", "none", reason))
                        continue
                    specs.append(spec)
    return specs, skipped


def _window(spec: Mapping[str, Any]) -> pd.DataFrame:
    from include.problems.portfolio import load_sp500, market_window

    params = _params(spec)
    window = market_window(
        load_sp500(), params.n_assets, int(spec["window"]), params.lookback_days, params.holdout_days
    )
    return window.drop(columns=["gap_days"])


def instance_hash(spec: Mapping[str, Any], window: pd.DataFrame | None = None) -> str:
    """The content hash of an instance: the window's prices and the selection's settings."""
    from include.store.artifacts import canonical_json, parquet_bytes, sha256_hex

    params = _params(spec)
    prices = _window(spec) if window is None else window
    return sha256_hex(
        canonical_json(
            {
                "workload": NAME,
                "prices": sha256_hex(parquet_bytes(prices)),
                "k": params.k,
                "risk_aversion": params.risk_aversion,
                "lookback_days": params.lookback_days,
                "holdout_days": params.holdout_days,
            }
        )
    )


def random_budget(grid: Any) -> int:
    """Random sampling's draws: the QAOA experiment's whole sample budget (every evaluation's
    shots, since its best feasible selection is the best over all of them)."""
    return int(grid.portfolio_shots) * int(grid.portfolio_max_iterations)


def prepare(store: Any, spec: Mapping[str, Any], grid: Any) -> dict[str, Any]:
    """Price window → GX price suite → market model → baselines, once per instance; random
    sampling for each shot budget asked for (added when a later grid asks for another).
    ``prepared.json`` written last marks it complete (a later night, or a retry, reuses it)."""
    from include.benchmark.grid import SWEEP_VERSION, sweep_root
    from include.pipelines.portfolio import read_problem, stage_baselines, stage_model, stage_validate
    from include.problems.portfolio import SP500_SOURCE
    from include.problems.portfolio_baselines import exact, random_sampling
    from include.store.artifacts import ArtifactRef, canonical_json, sha256_hex

    params = _params(spec)
    window = _window(spec)
    digest = instance_hash(spec, window)
    prefix = f"{sweep_root()}/instances/{digest}"
    record_uri = store.uri(f"{prefix}/prepared.json")
    budget = random_budget(grid)
    record: dict[str, Any] | None = None
    if store.exists(record_uri):
        record = json.loads(store.get_bytes(record_uri))
        if record.get("sweep_version") != SWEEP_VERSION:
            record = None
    reused = record is not None and str(budget) in record["random"]
    if record is None:
        tickers = [c for c in window.columns if c != "date"]
        prices = store.put_table(
            prefix,
            "prices",
            window,
            stage="prices",
            params={
                "source": SP500_SOURCE,
                "tickers": tickers,
                "window": int(spec["window"]),
                "first_date": str(window["date"].iloc[0].date()),
                "last_date": str(window["date"].iloc[-1].date()),
            },
        )
        validation = stage_validate(store, prefix, prices, params)
        model = stage_model(store, prefix, prices, validation, params)
        baselines = stage_baselines(store, prefix, model, validation, params)
        table = store.read_table(baselines)
        solution_params = store.read_manifest(baselines.uri)["params"]
        exact_objective = float(table.loc[table["method"] == "exact", "objective"].iloc[0])
        record = {
            "sweep_version": SWEEP_VERSION,
            "workload": NAME,
            "instance_hash": digest,
            "family": family_of(params.k, params.risk_aversion),
            "n_nodes": params.n_assets,
            "seed": int(spec["window"]),
            "k": params.k,
            "risk_aversion": params.risk_aversion,
            "tickers": tickers,
            "prices": prices.to_xcom(),
            "validation": validation.to_xcom(),
            "model": model.to_xcom(),
            "baselines": baselines.to_xcom(),
            "optimum": exact_objective,
            "worst_objective": float(solution_params["worst_feasible_objective"]),
            "classical": [
                {"method": str(r.method), "objective": float(r.objective), "seconds": float(r.seconds)}
                for r in table.itertuples()
                if str(r.method) in BASELINES  # the continuous mean-variance optimum is not a selection
            ],
            "random": {},
        }
    if not reused:
        problem, _ = read_problem(store, ArtifactRef.from_xcom(record["model"]), params)
        # Seeded from the content, so whoever prepares the instance draws the same selections.
        draws = random_sampling(problem, budget, int(digest[:8], 16))
        record["random"][str(budget)] = {
            "objective": draws.objective,
            "feasible_share": draws.feasible_probability,
            "mean_objective": exact(problem).mean_objective,  # a random feasible selection on average
            "seconds": draws.seconds,
        }
        store.put_bytes(record_uri, canonical_json(record), content_type="application/json")
    return {
        **record,
        "random_budget": budget,
        "prepared_uri": record_uri,
        "prepared_sha256": sha256_hex(canonical_json(record)),
        "reused": reused,
    }


def experiments(record: Mapping[str, Any], grid: Any) -> list[Experiment]:
    """Mixers × QAOA reps of one prepared instance (the grid's backends × noise come after). The XY
    mixer with K = N has one selection to keep: not an experiment."""
    n, k = int(record["n_nodes"]), int(record["k"])
    out = []
    for mixer in dict.fromkeys(grid.portfolio_mixers):
        if mixer == "xy" and k == n:
            continue
        for reps in dict.fromkeys(grid.portfolio_reps):
            config = {
                "k": k,
                "risk_aversion": float(record["risk_aversion"]),
                "mixer": mixer,
                "optimiser": OPTIMISER,
                "max_iterations": int(grid.portfolio_max_iterations),
                "seed": int(record["seed"]),
                "model_uri": record["model"]["uri"],
                "model_sha256": record["model"]["sha256"],
                # The gap's scale: the exact optimum and the worst feasible selection of the instance.
                "optimum": float(record["optimum"]),
                "worst_objective": float(record["worst_objective"]),
            }
            cost = (2.0 ** min(n, 30)) * reps * grid.portfolio_shots * grid.portfolio_max_iterations
            out.append(Experiment(n, int(reps), int(grid.portfolio_shots), mixer, config, cost))
    return out


def experiment_key(record: Mapping[str, Any], experiment: Experiment, identity: Any) -> str:
    """The content hash of what would run: the instance, the loop's settings (seeded), shots,
    backend spec, the noise that applies, calibration and transpiler settings."""
    from include.benchmark.grid import SWEEP_VERSION
    from include.benchmark.plan import TRANSPILE
    from include.store.artifacts import canonical_json, sha256_hex

    config = {k: v for k, v in experiment.config.items() if k != "model_uri"}  # its hash stays
    return sha256_hex(
        canonical_json(
            {
                "sweep_version": SWEEP_VERSION,
                "workload": NAME,
                "instance": record["instance_hash"],
                "loop": config,
                "reps": experiment.reps,
                "shots": experiment.shots,
                "backend": identity.spec,
                "noise": identity.effective_noise,
                "calibration": identity.calibration,
                "transpile": TRANSPILE,
            }
        )
    )


def backend_skip(identity: Any) -> str:
    """A QAOA loop is held in one batch task: only where jobs live in the task's process."""
    return in_process_only(identity, "a portfolio experiment is a QAOA loop", NAME)


def _ratio(objective: float, record: Mapping[str, Any]) -> float:
    """1 − the approximation gap (1 = exact, 0 = the worst feasible selection; NaN: none)."""
    if math.isnan(objective):
        return math.nan
    spread = float(record["worst_objective"]) - float(record["optimum"])
    return 1.0 - ((objective - float(record["optimum"])) / spread if spread > 0 else 0.0)


def run_batch(
    store: Any,
    batch: Mapping[str, Any],
    rows: pd.DataFrame,
    *,
    protocol_for: Callable[[Any], Any],
    night: str = "",
) -> Any:
    """Run every experiment of the batch not stored yet, each loop's jobs through the protocol
    ``protocol_for`` builds for its backend (seeded from the key: a re-run samples the same way)."""
    from include.benchmark.batches import BatchOutcome, put_result, result_manifest_uri
    from include.benchmark.plan import TRANSPILE
    from include.pipelines.portfolio import read_problem
    from include.quantum.backends.registry import make_backend
    from include.quantum.loops.portfolio import PortfolioLoopResult, portfolio_qaoa
    from include.quantum.loops.qaoa import run_held_loop
    from include.store.artifacts import ArtifactRef, parquet_bytes

    outcome = BatchOutcome(int(batch["batch"]), str(batch["spec"]))
    started = time.time()
    for row in rows.sort_values("experiment_id").itertuples(index=False):
        if store.exists(result_manifest_uri(store, str(row.result_prefix))):
            outcome.already_stored += 1
            continue
        settings = json.loads(str(row.config))
        model = ArtifactRef(settings["model_uri"], settings["model_sha256"], None)
        spec = {"n_assets": int(row.n_nodes), "k": settings["k"], "risk_aversion": settings["risk_aversion"]}
        problem, tickers = read_problem(store, model, _params({**spec, "window": int(row.seed)}))
        record = {"optimum": settings["optimum"], "worst_objective": settings["worst_objective"]}
        key = str(row.experiment_key)
        backend = make_backend(str(row.spec), seed=int(key[-8:], 16))
        protocol = protocol_for(backend)
        wall = time.perf_counter()
        loop = run_held_loop(
            portfolio_qaoa(problem, int(row.reps), settings["mixer"]),
            shots=int(row.shots),
            optimiser=settings["optimiser"],
            max_iterations=int(settings["max_iterations"]),
            seed=int(settings["seed"]),
            backend=backend,
            protocol=protocol,
            run=("sweep", key, "optimise", -1),
            flush_seconds=0.0,
        )
        total = time.perf_counter() - wall
        result_loop = PortfolioLoopResult.from_outcome(loop)
        objective = result_loop.best_feasible_objective
        expected = result_loop.expected_feasible_objective
        cost = float(sum(protocol.settled.values()))
        evaluations = len(result_loop.evaluations)
        result = {
            "experiment_key": key,
            "instance_hash": str(row.instance_hash),
            "workload": NAME,
            "family": str(row.family),
            "n_nodes": int(row.n_nodes),
            "seed": int(row.seed),
            "method": QAOA,
            "variant": str(row.variant),
            "backend": str(row.backend),
            "noise": str(row.noise),
            "shots": int(row.shots),
            "reps": int(row.reps),
            "objective": objective,
            "expected_objective": expected,
            "optimum": float(record["optimum"]),
            "approximation_ratio": _ratio(objective, record),
            "expected_approximation_ratio": _ratio(expected, record),
            "feasible_share": result_loop.feasible_probability,
            "angle_seconds": 0.0,
            "compile_seconds": result_loop.transpile_seconds,
            "queue_seconds": 0.0,
            "execute_seconds": result_loop.execute_seconds,
            # The optimiser and the scoring of the samples: the rest of the wall time.
            "postprocess_seconds": max(total - result_loop.transpile_seconds - result_loop.execute_seconds, 0.0),
            "cost": cost,
            "tier": 1,
        }
        put_result(
            store,
            str(row.result_prefix),
            result,
            inputs=[model],
            params={
                "experiment": {k: result[k] for k in ("backend", "noise", "shots", "reps", "variant")},
                "spec": str(row.spec),
                "loop": {k: v for k, v in settings.items() if not k.startswith("model_")},
                "best_parameters": [float(p) for p in result_loop.best_parameters],
                "best_feasible_bitstring": result_loop.best_feasible_bitstring,
                "tickers": tickers,
                "transpiler": TRANSPILE,
            },
            measurements={"night": night, "evaluations": evaluations, "jobs": len(protocol.settled)},
            attachments={"trace.parquet": parquet_bytes(result_loop.trace_frame())},
        )
        outcome.executed += 1
        outcome.pubs += evaluations  # one job per evaluation
        outcome.cost += cost
    outcome.seconds = time.time() - started
    return outcome


def baseline_rows(prepared: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Exact, greedy, local search and simulated annealing of every instance (run once, at
    preparation), and random sampling at tonight's shot budget."""
    from include.benchmark.plan import classical_key
    from include.benchmark.schema import classical_result_row

    rows = []
    for record in prepared:
        optimum = float(record["optimum"])
        for entry in record["classical"]:
            objective = float(entry["objective"])
            row = classical_result_row(
                record,
                experiment_key=classical_key(record["instance_hash"], entry["method"]),
                workload=NAME,
                method=entry["method"],
                objective=objective,
                optimum=optimum,
                seconds=float(entry["seconds"]),
                reused=bool(record.get("reused", False)),
                feasible_share=1.0,  # each heuristic moves among K-asset selections only
            )
            rows.append({**row, "approximation_ratio": _ratio(objective, record)})
            rows[-1]["expected_approximation_ratio"] = rows[-1]["approximation_ratio"]
        budget = int(record["random_budget"])
        draws = record["random"][str(budget)]
        objective = math.nan if draws["objective"] is None else float(draws["objective"])
        row = classical_result_row(
            record,
            experiment_key=classical_key(record["instance_hash"], f"{RANDOM}:{budget}"),
            workload=NAME,
            method=RANDOM,
            objective=objective,
            optimum=optimum,
            seconds=float(draws["seconds"]),
            reused=bool(record.get("reused", False)),
            shots=budget,
            expected_objective=float(draws["mean_objective"]),
            feasible_share=float(draws["feasible_share"]),
        )
        rows.append(
            {
                **row,
                "approximation_ratio": _ratio(objective, record),
                "expected_approximation_ratio": _ratio(float(draws["mean_objective"]), record),
            }
        )
    return rows


CONFIG_COLUMNS = ("family", "n_nodes", "variant", "reps", "backend", "noise", "shots")


def comparisons(results: pd.DataFrame) -> pd.DataFrame:
    """One row per QAOA experiment: its best feasible objective and gap to exact beside exact's,
    each heuristic's and random sampling's on the same instance; ``advantage`` = the best
    heuristic's objective − QAOA's (> 0: QAOA found a better selection than every heuristic;
    NaN objective — no feasible sample — counts as no advantage)."""
    rows = results.drop_duplicates(subset="experiment_key", keep="first")
    qaoa = rows[rows["method"] == QAOA]
    base = rows[rows["method"].isin(BASELINES)].pivot_table(
        index="instance_hash", columns="method", values="objective", aggfunc="first"
    )
    columns = [
        *CONFIG_COLUMNS,
        "instance_hash",
        "seed",
        "objective",
        "gap",
        "feasible_share",
        *BASELINES,
        "best_heuristic",
        "advantage",
    ]
    if qaoa.empty or base.empty or "exact" not in base.columns:
        return pd.DataFrame(columns=columns)
    base = base.reindex(columns=list(BASELINES))
    merged = qaoa.join(base, on="instance_hash", how="inner")
    merged["gap"] = 1.0 - merged["approximation_ratio"]
    merged["best_heuristic"] = merged[[*HEURISTICS, RANDOM]].min(axis=1)
    merged["advantage"] = (merged["best_heuristic"] - merged["objective"]).fillna(-math.inf)
    return merged[columns].reset_index(drop=True)


def report_section(results: pd.DataFrame) -> ReportSection:
    """The portfolio's section: QAOA's best feasible selection per configuration against exact,
    the heuristics and random sampling on the same instance, and plain sentences, computed from the
    figures, on where QAOA adds nothing."""
    import html

    from include.benchmark.report.html import html_table

    compared = comparisons(results)
    rows = results.drop_duplicates(subset="experiment_key", keep="first")
    lines: list[str] = []
    if not (rows["method"] == QAOA).any():
        lines.append(f"{NAME}: no QAOA results this night — its value against the baselines is not assessed.")
    elif compared.empty:
        lines.append(f"{NAME}: no QAOA result has baselines on its instance — value added not assessed.")
    cells = pd.DataFrame()
    if len(compared):
        cells = (
            compared.groupby(list(CONFIG_COLUMNS), sort=True)
            .agg(
                windows=("advantage", "size"),
                objective=("objective", "median"),
                gap=("gap", "median"),
                feasible_share=("feasible_share", "median"),
                exact=("exact", "median"),
                best_heuristic=("best_heuristic", "median"),
                random_sampling=(RANDOM, "median"),
                no_feasible=("objective", lambda o: int(o.isna().sum())),
                wins=("advantage", lambda a: int((a > WIN_TOLERANCE).sum())),
            )
            .reset_index()
        )
        cells["adds_nothing"] = cells["wins"] == 0
        for family, part in compared.groupby("family", sort=True):
            won = part[part["advantage"] > WIN_TOLERANCE]
            gap = part["gap"].median()
            share = part["feasible_share"].median()
            found = int(part["objective"].notna().sum())
            at_exact = int((part["gap"] <= 1e-9).sum())
            heuristics_at_exact = int((part["best_heuristic"] - part["exact"] <= WIN_TOLERANCE).sum())
            figures = (
                f"median gap to exact {gap:.3f}, median feasible share {share:.3f}; QAOA reached the exact optimum "
                f"in {at_exact} and the best heuristic in {heuristics_at_exact} of {len(part)}"
                + (f"; no feasible sample in {len(part) - found}" if found < len(part) else "")
            )
            if won.empty:
                lines.append(
                    f"{family}: QAOA's best feasible selection never beat the best of greedy, local search, simulated "
                    f"annealing and random sampling on the same instance in any of its {len(part)} comparisons "
                    f"({figures}) — quantum added nothing here."
                )
            else:
                lines.append(
                    f"{family}: QAOA's best feasible selection beat every heuristic and random sampling in "
                    f"{len(won)} of {len(part)} comparisons ({figures})."
                )
        nothing = int(cells["adds_nothing"].sum())
        lines.append(
            f"{NAME}: QAOA never beat the best heuristic in {nothing} of {len(cells)} (N, K, q, mixer, reps, "
            "backend, noise, shots) cells."
        )
    columns = [
        ("family", "K, q", ""),
        ("n_nodes", "N", "int"),
        ("variant", "mixer", ""),
        ("reps", "reps", "int"),
        ("backend", "backend", ""),
        ("noise", "noise", ""),
        ("shots", "shots", "int"),
        ("windows", "windows", "int"),
        ("objective", "QAOA best feasible (median)", ".5f"),
        ("gap", "gap to exact", ".3f"),
        ("feasible_share", "feasible share", ".3f"),
        ("exact", "exact", ".5f"),
        ("best_heuristic", "best heuristic", ".5f"),
        ("random_sampling", "random sampling", ".5f"),
        ("wins", "windows won", "int"),
    ]
    nothing_cells = cells[cells["adds_nothing"]] if len(cells) else cells
    nothing_items = "".join(
        f"<li>{html.escape(str(r['family']))}, N={int(r['n_nodes'])}, {html.escape(str(r['variant']))} mixer "
        f"reps={int(r['reps'])}, {html.escape(str(r['backend']))}/{html.escape(str(r['noise']))}, "
        f"shots={int(r['shots'])}: QAOA {r['objective']:.5f} vs best heuristic {r['best_heuristic']:.5f} "
        f"(exact {r['exact']:.5f}, gap {r['gap']:.3f}, feasible share {r['feasible_share']:.3f})</li>"
        for _, r in nothing_cells.iterrows()
    )
    fragment = section_fragment(
        anchor=NAME,
        title=f"Portfolio ({NAME}): QAOA against exact, the heuristics and random sampling",
        note="Cardinality-constrained selection (K of N assets, risk aversion q) on real S&amp;P 500 prices "
        "(skfolio's sp500_dataset, one market window per seed). Objective q·wᵀΣw − μᵀw: lower is better. QAOA's "
        "figure is the best feasible (exactly K assets) selection it sampled in its COBYLA loop; gap = (f − f*) / "
        "(f_worst − f*), 0 = exact; feasible share = shots holding K assets at the best angles. Heuristics: greedy, "
        "swap local search, simulated annealing; random sampling draws the loop's whole shot budget uniformly.",
        headline=lines,
        nothing_title="Where QAOA adds nothing",
        nothing_items=nothing_items,
        nothing_empty="No cell where QAOA never beat the best heuristic"
        + (" (no cell could be assessed)." if cells.empty else "."),
        table_title="Objective per configuration",
        table=html_table(cells, columns, empty="no QAOA result could be compared with the baselines"),
    )
    return ReportSection(lines, fragment, cells)


WORKLOAD = Workload(
    name=NAME,
    title="Portfolio (QAOA)",
    instance_specs=instance_specs,
    prepare=prepare,
    experiments=experiments,
    experiment_key=experiment_key,
    backend_skip=backend_skip,
    run_batch=run_batch,
    baseline_rows=baseline_rows,
    report_section=report_section,
)
