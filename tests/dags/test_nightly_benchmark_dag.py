"""`airflow dags test nightly_benchmark` on a small grid against the real local services
(SeaweedFS, a job service, Aer): every duplicate ran once, a second night recomputes nothing,
the table has one complete row per experiment, and the report with its images is stored."""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from include.benchmark.grid import night_prefix_for
from include.benchmark.schema import NIGHT_RESULT_DTYPES
from include.emulator.process import JobServiceProcess
from include.store.artifacts import ArtifactStore
from tests.conftest import airflow_dags_test

pytestmark = pytest.mark.integration

# Sizes 4 and 6: on 4 nodes the 3-regular graph and the Erdős–Rényi graph with p = 3/3 are both
# K4, so every seed of both families is the same instance — the grid holds real duplicates.
SIZES = [4, 6]
GRID = {
    "workloads": ["maxcut"],
    "families": ["maxcut_regular", "maxcut_erdos_renyi"],
    "sizes": SIZES,
    "seeds_per_size": 2,
    "reps": [1],
    "shots": [256],
    "noise": ["ideal", "fake_kolkata"],
    "backends": ["aer:statevector", "jobservice"],
    "noise_max_nodes": 6,
    "angle_evaluations": 40,
}
SWEEP_ROOT = f"tests/sweep-{uuid.uuid4().hex[:10]}"
REQUIRED = [
    c for c in NIGHT_RESULT_DTYPES if c not in ("approximation_ratio", "expected_approximation_ratio", "feasible_share")
]


@dataclass(frozen=True)
class Nights:
    first: tuple[str, str, str]  # (run id, state, output) of `airflow dags test`
    second: tuple[str, str, str]
    jobs: tuple[int, int]  # jobs the job service holds after each night


@pytest.fixture(scope="module")
def two_nights(qflow_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Nights:
    state_dir = tmp_path_factory.mktemp("nightly")
    # Noise off: the service runs fake_kolkata's gates and coupling map without its noise model,
    # so it serves the grid's noise="ideal" (and skips noise="fake_kolkata", saying why).
    service_env = {**qflow_env, "QFLOW_JOBSERVICE_NOISE": "off"}
    # A queue delay: the batch's job waits, so run_jobservice defers to the trigger.
    with JobServiceProcess(
        state_dir / "jobs.sqlite", backend="fake_kolkata", env=service_env, faults={"queue_delay_seconds": 2}
    ) as service:
        env = {
            **qflow_env,
            "QFLOW_SWEEP_ROOT": SWEEP_ROOT,  # a fresh results store: nothing from earlier test runs
            "QFLOW_JOBSERVICE_URL": service.url,
            "QFLOW_LEDGER_URL": f"sqlite:///{state_dir / 'ledger.sqlite'}",
        }
        first = airflow_dags_test("nightly_benchmark", env, GRID)
        jobs_after_first = httpx.get(f"{service.url}/admin/stats").json()["jobs"]["total"]
        second = airflow_dags_test("nightly_benchmark", env, GRID)
        jobs_after_second = httpx.get(f"{service.url}/admin/stats").json()["jobs"]["total"]
    return Nights(first, second, (jobs_after_first, jobs_after_second))


def _night(store: ArtifactStore, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    prefix = night_prefix_for(run_id)
    plan = store.read_table(store.uri(f"{prefix}/plan/data.parquet"))
    results = store.read_table(store.uri(f"{prefix}/results/data.parquet"))
    return plan, results


def _executions(store: ArtifactStore, plan: pd.DataFrame, run_id: str) -> dict[str, int]:
    """How many times each experiment key was computed on this night (from the result manifests)."""
    counts: dict[str, int] = {}
    for row in plan.drop_duplicates("result_prefix").itertuples():
        manifest = store.read_manifest(store.uri(f"{row.result_prefix}/result/manifest.json"))
        if manifest["measurements"]["night"] == run_id:
            counts[row.experiment_key] = counts.get(row.experiment_key, 0) + 1
    return counts


def test_first_night_runs_each_unique_experiment_once(store: ArtifactStore, two_nights: Nights) -> None:
    run_id, state, output = two_nights.first
    assert state == "success", output[-5000:]
    plan, _ = _night(store, run_id)
    assert len(plan) > plan["experiment_key"].nunique()  # the grid really had duplicates
    assert (plan["status"] == "duplicate").sum() >= 3
    # Each distinct key computed at most once tonight; keys not computed tonight were in the store.
    executions = _executions(store, plan, run_id)
    assert set(executions.values()) <= {1}
    ran = set(plan.loc[plan["status"] == "run", "experiment_key"])
    assert set(executions) == ran
    assert plan.loc[plan["status"] == "run", "experiment_key"].is_unique
    # The job service: one job per batch that ran there (its pubs are the circuits), waited for in
    # the trigger rather than in a worker slot.
    assert re.search(r"Pausing task as DEFERRED.*task_id=run_jobservice", output)
    batches = plan.loc[(plan["status"] == "run") & (plan["backend"] == "jobservice"), "batch"].nunique()
    assert two_nights.jobs[0] == batches


def test_second_night_recomputes_nothing(store: ArtifactStore, two_nights: Nights) -> None:
    first_id = two_nights.first[0]
    run_id, state, output = two_nights.second
    assert state == "success", output[-5000:]
    plan, results = _night(store, run_id)
    _, first_results = _night(store, first_id)
    assert set(plan["status"]) == {"reused"}
    assert _executions(store, plan, run_id) == {}
    jobs_first, jobs_second = two_nights.jobs
    assert jobs_second == jobs_first  # nothing new reached the job service
    # Same experiments, same measured objectives (they are the stored results).
    quantum = results[results["method"] == "qaoa"].set_index("experiment_key")["objective"].sort_index()
    first_quantum = first_results[first_results["method"] == "qaoa"].drop_duplicates("experiment_key")
    first_objectives = first_quantum.set_index("experiment_key")["objective"].sort_index()
    assert quantum.groupby(level=0).first().equals(first_objectives)
    history = store.read_table(store.uri(f"{SWEEP_ROOT}/history/results/data.parquet"))
    assert {first_id, run_id} <= set(history["night"])


def test_results_table_has_one_complete_row_per_experiment(store: ArtifactStore, two_nights: Nights) -> None:
    run_id, _, _ = two_nights.first
    plan, results = _night(store, run_id)
    quantum = results[results["method"] == "qaoa"]
    classical = results[results["tier"] == 2]
    assert len(quantum) == len(plan)  # one row per planned quantum experiment, duplicates included
    instances = 2 * 2 * len(SIZES)
    # exact, greedy, local search, simulated annealing + random sampling with the grid's one shot count
    assert len(classical) == instances * 5
    random = classical[classical["method"] == "random_sampling"]
    assert set(random["shots"]) == set(GRID["shots"])  # type: ignore[call-overload]  # the same shots as the QAOA experiments
    assert results[REQUIRED].notna().all().all(), results[REQUIRED].isna().sum()
    assert list(results.columns) == list(NIGHT_RESULT_DTYPES)
    assert ((results["approximation_ratio"] > 0) & (results["approximation_ratio"] <= 1 + 1e-9)).all()
    assert (classical.loc[classical["method"] == "exact", "approximation_ratio"] == 1.0).all()
    assert set(quantum["noise"]) == {"ideal", "fake_kolkata"}  # Aer ran both; the service 'ideal'
    skipped = store.read_table(store.uri(f"{night_prefix_for(run_id)}/skipped/data.parquet"))
    on_service = skipped[skipped["backend"] == "jobservice"]
    assert set(on_service["noise"]) == {"fake_kolkata"} and on_service["reason"].str.contains("noise model off").all()
    assert skipped["reason"].str.len().gt(10).all()


def test_report_and_its_images_are_stored_and_linked(store: ArtifactStore, two_nights: Nights) -> None:
    import matplotlib.image as mpimg

    run_id, _, output = two_nights.first
    base = f"{night_prefix_for(run_id)}/report"
    manifest = store.read_manifest(store.uri(f"{base}/manifest.json"))
    files = {entry["name"]: entry for entry in manifest["files"]}
    html = store.read_attachment(store.uri(f"{base}/data.parquet"), "index.html").decode()
    images = [name for name in files if name.endswith(".png")]
    assert len(images) >= 5
    for name in images:
        assert re.search(rf"src=['\"]{re.escape(name)}['\"]", html), name
        png = store.read_attachment(store.uri(f"{base}/data.parquet"), name)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
        pixels = mpimg.imread(io.BytesIO(png), format="png")
        assert pixels.std() > 0.01  # not a blank canvas
    assert "quantum" in html.lower() and len(html) > 2000
    statistics = store.read_table(store.uri(f"{base}/data.parquet"))
    assert len(statistics) > 0
    assert re.search(r"benchmark report: s3://\S+/report/index\.html", output)


def test_xcom_carries_only_small_artifact_refs(two_nights: Nights) -> None:
    """Every task hands on {uri, sha256, manifest_uri} refs (lists of them for mapping), never the
    prepared records, the plan or the batches themselves; the other XComs are the extra links."""
    import json
    import os
    import sqlite3

    run_id = two_nights.first[0]
    with sqlite3.connect(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db") as conn:
        rows = conn.execute(
            "select task_id, map_index, \"key\", value from xcom where dag_id='nightly_benchmark' and run_id=?",
            (run_id,),
        ).fetchall()
    returned: dict[str, list[object]] = {}
    for task, _, key, raw in rows:
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        value = json.loads(text)
        if key.startswith("_link_"):
            link_ok = value == "" or value.startswith(("http", "/qflow/artifacts/"))  # absolute, or same-origin
            assert isinstance(value, str) and link_ok, (task, key, value)
            continue
        assert key == "return_value", (task, key)
        refs = value if isinstance(value, list) else [value]
        # A ref is two URIs (with the run id) and a hash: ~320 characters; the documents are kilobytes.
        assert len(text) <= 600 * max(len(refs), 1), (task, len(text))
        for ref in refs:
            assert isinstance(ref, dict) and set(ref) == {"uri", "sha256", "manifest_uri"}, (task, ref)
            assert re.fullmatch(r"[0-9a-f]{64}", str(ref["sha256"])) and str(ref["uri"]).startswith("s3://")
        returned.setdefault(task, []).append(value)
    expected = {"grid", "instances", "prepare", "plan_night", "aer_batches", "jobservice_batches", "run_aer"}
    assert expected | {"run_jobservice", "collect", "report", "verdict"} <= set(returned), sorted(returned)
    assert len(returned["prepare"]) > 1  # one per mapped instance group, each its own small ref


def test_pools_and_priorities_are_set(qflow_env: dict[str, str]) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(
        dag_folder=str(Path(__file__).parents[2] / "dags"),
    ).get_dag("nightly_benchmark")
    assert dag is not None
    from include.governance.policy import load_policy

    pools = load_policy().pools
    assert dag.get_task("run_aer").pool == "qflow_aer" and "qflow_aer" in pools
    assert dag.get_task("run_jobservice").pool == "qflow_jobservice" and "qflow_jobservice" in pools
    weights = {t: dag.get_task(t).priority_weight for t in ("prepare", "run_aer", "run_jobservice")}
    assert weights["prepare"] > weights["run_aer"] > weights["run_jobservice"]
    assert all(dag.params.get_param(name).schema.get("title") for name in dag.params)  # a readable form
    assert dag.schedule == "@daily" and dag.max_active_runs == 1
    links = {type(link).__name__ for link in dag.get_task("report").operator_extra_links}
    assert "BenchmarkReportLink" in links


def test_policy_pools_import_into_airflow(qflow_env: dict[str, str], tmp_path: Path) -> None:
    """`qflow pools` writes what `airflow pools import` reads (the scripts run exactly this)."""
    import json
    import subprocess

    from include.governance.policy import load_policy

    pools_file = tmp_path / "pools.json"
    subprocess.run(["qflow", "pools", str(pools_file)], env=qflow_env, check=True)
    subprocess.run(["airflow", "pools", "import", str(pools_file)], env=qflow_env, check=True, capture_output=True)
    listed = subprocess.run(
        ["airflow", "pools", "list", "-o", "json"], env=qflow_env, check=True, capture_output=True, text=True
    ).stdout
    pools = {p["pool"]: p for p in json.loads(listed[listed.index("[") :])}
    for name, spec in load_policy().pools.items():
        assert int(pools[name]["slots"]) == spec.slots, (name, pools)
        # Deferred tasks hold their slot: a pool bounds the jobs in flight, waiting ones included.
        assert str(pools[name]["include_deferred"]).lower() == "true", (name, pools[name])


# MaxCut on Braket's local simulator beside a VQC cell (iris, angle encoding, 4 qubits) on it and
# on Aer, with a noise model Braket cannot take (skipped, with the reason).
WORKLOAD_GRID = {
    "workloads": ["maxcut", "vqc_classifier"],
    "families": ["maxcut_regular"],
    "sizes": [4],
    "seeds_per_size": 1,
    "reps": [1],
    "shots": [128],
    "noise": ["ideal", "fake_manila"],
    "backends": ["braket:local", "aer:statevector"],
    "angle_evaluations": 30,
    "vqc_datasets": ["iris"],
    "vqc_encodings": ["angle"],
    "vqc_reps": [1],
    "vqc_shots": 64,
    "vqc_max_iterations": 4,
}
WORKLOAD_ROOT = f"tests/sweep-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def workload_nights(qflow_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    state_dir = tmp_path_factory.mktemp("nightly-workloads")
    env = {
        **qflow_env,
        "QFLOW_SWEEP_ROOT": WORKLOAD_ROOT,
        "QFLOW_LEDGER_URL": f"sqlite:///{state_dir / 'ledger.sqlite'}",
    }
    return airflow_dags_test("nightly_benchmark", env, WORKLOAD_GRID), airflow_dags_test(
        "nightly_benchmark", env, WORKLOAD_GRID
    )


def test_a_night_with_maxcut_on_braket_and_a_vqc_cell(store: ArtifactStore, workload_nights: tuple[Any, Any]) -> None:
    from include.benchmark.workloads.vqc import comparisons

    (run_id, state, output), _ = workload_nights
    assert state == "success", output[-5000:]
    plan, results = _night(store, run_id)
    assert set(plan["status"]) == {"run"}
    assert set(zip(plan["workload"], plan["backend"], plan["noise"], strict=True)) == {
        ("maxcut", "braket:local", "ideal"),
        ("maxcut", "aer:statevector", "ideal"),
        ("maxcut", "aer:statevector", "fake_manila"),
        ("vqc_classifier", "braket:local", "ideal"),
        ("vqc_classifier", "aer:statevector", "ideal"),
        ("vqc_classifier", "aer:statevector", "fake_manila"),
    }
    skipped = store.read_table(store.uri(f"{night_prefix_for(run_id)}/skipped/data.parquet"))
    on_braket = skipped[skipped["backend"] == "braket:local"]
    assert sorted(on_braket["family"]) == ["maxcut_regular", "vqc_iris"] and set(on_braket["noise"]) == {"fake_manila"}
    assert on_braket["reason"].str.contains("Aer only").all()
    # One result row per planned experiment of either workload, beside each one's baselines.
    assert list(results.columns) == list(NIGHT_RESULT_DTYPES)
    braket_qaoa = results[(results["method"] == "qaoa") & (results["backend"] == "braket:local")]
    assert len(braket_qaoa) == 1 and 0 < float(braket_qaoa["approximation_ratio"].iloc[0]) <= 1
    vqc = results[results["method"] == "vqc"]
    assert len(vqc) == 3 and vqc["objective"].between(0, 1).all() and (vqc["variant"] == "angle").all()
    assert sorted(results.loc[results["workload"] == "vqc_classifier", "method"].unique()) == [
        "logistic_regression",
        "rbf_svm",
        "vqc",
    ]
    assert set(_executions(store, plan, run_id).values()) == {1}
    # Each training ran in its own run_aer batch task.
    assert len(re.findall(r"batch \d+ \(vqc_classifier\): stored 1 results", output)) == 3
    # The trainings went through the job ledger: one job per evaluation plus the held-out split's.
    for prefix in plan.loc[plan["workload"] == "vqc_classifier", "result_prefix"]:
        manifest = store.read_manifest(store.uri(f"{prefix}/result/manifest.json"))
        assert manifest["measurements"]["jobs"] == manifest["measurements"]["evaluations"] + 1 >= 2
    # The report's classifier section, its sentence following the figures.
    base = f"{night_prefix_for(run_id)}/report"
    html = store.read_attachment(store.uri(f"{base}/data.parquet"), "index.html").decode()
    assert "Classifier (vqc_classifier)" in html and "logistic regression" in html
    compared = comparisons(results[results["workload"] == "vqc_classifier"])
    assert len(compared) == 3
    if (compared["gap"] <= 0).all():
        assert "the VQC never beat the better of logistic regression and the RBF SVM" in html
        assert "quantum added nothing here" in html
    else:
        assert f"beat the better classical baseline in {int((compared['gap'] > 0).sum())} of 3" in html


def test_the_second_workload_night_recomputes_nothing(store: ArtifactStore, workload_nights: tuple[Any, Any]) -> None:
    (first_id, _, _), (run_id, state, output) = workload_nights
    assert state == "success", output[-5000:]
    plan, results = _night(store, run_id)
    assert set(plan["status"]) == {"reused"} and _executions(store, plan, run_id) == {}
    _, first = _night(store, first_id)
    key = ["experiment_key", "objective"]
    tonight = results[results["method"] == "vqc"][key].sort_values("experiment_key").reset_index(drop=True)
    before = first[first["method"] == "vqc"][key].sort_values("experiment_key").reset_index(drop=True)
    assert tonight.equals(before) and results.loc[results["method"] == "vqc", "reused"].all()
    assert not re.search(r"batch \d+ \(vqc_classifier\): stored", output)  # no training ran tonight


# A tiny portfolio cell (N = 4 assets, K = 2, q = 5, one market window) with both mixers on Aer,
# beside the smallest MaxCut instance; the job service is not in the grid.
PORTFOLIO_GRID = {
    "workloads": ["maxcut", "portfolio_optimisation"],
    "families": ["maxcut_regular"],
    "sizes": [4],
    "seeds_per_size": 1,
    "reps": [1],
    "shots": [64],
    "noise": ["ideal"],
    "backends": ["aer:statevector"],
    "angle_evaluations": 30,
    "portfolio_sizes": [4],
    "portfolio_ks": [0],
    "portfolio_risk_aversions": [5.0],
    "portfolio_windows": 1,
    "portfolio_reps": [1],
    "portfolio_mixers": ["x", "xy"],
    "portfolio_shots": 64,
    "portfolio_max_iterations": 4,
}
PORTFOLIO_ROOT = f"tests/sweep-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def portfolio_nights(qflow_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    state_dir = tmp_path_factory.mktemp("nightly-portfolio")
    env = {
        **qflow_env,
        "QFLOW_SWEEP_ROOT": PORTFOLIO_ROOT,
        "QFLOW_LEDGER_URL": f"sqlite:///{state_dir / 'ledger.sqlite'}",
    }
    return airflow_dags_test("nightly_benchmark", env, PORTFOLIO_GRID), airflow_dags_test(
        "nightly_benchmark", env, PORTFOLIO_GRID
    )


def test_a_night_with_a_portfolio_cell(store: ArtifactStore, portfolio_nights: tuple[Any, Any]) -> None:
    from include.benchmark.workloads.portfolio import comparisons

    (run_id, state, output), _ = portfolio_nights
    assert state == "success", output[-5000:]
    plan, results = _night(store, run_id)
    assert set(plan["status"]) == {"run"}
    mine = plan[plan["workload"] == "portfolio_optimisation"]
    assert sorted(mine["variant"]) == ["x", "xy"] and set(mine["n_nodes"]) == {4}
    assert list(results.columns) == list(NIGHT_RESULT_DTYPES)
    part = results[results["workload"] == "portfolio_optimisation"]
    assert sorted(part["method"].unique()) == [
        "exact",
        "greedy",
        "local_search",
        "qaoa",
        "random_sampling",
        "simulated_annealing",
    ]
    qaoa = part[part["method"] == "qaoa"]
    assert len(qaoa) == 2 and qaoa["feasible_share"].between(0, 1).all()
    assert (qaoa["objective"].dropna() >= qaoa["optimum"].iloc[0] - 1e-12).all()
    assert set(_executions(store, plan, run_id).values()) == {1}
    # Each QAOA loop ran in its own run_aer batch task, its jobs through the job ledger.
    assert len(re.findall(r"batch \d+ \(portfolio_optimisation\): stored 1 results", output)) == 2
    for prefix in mine["result_prefix"]:
        manifest = store.read_manifest(store.uri(f"{prefix}/result/manifest.json"))
        assert manifest["measurements"]["jobs"] == manifest["measurements"]["evaluations"] >= 1
    html = store.read_attachment(store.uri(f"{night_prefix_for(run_id)}/report/data.parquet"), "index.html").decode()
    assert "Portfolio (portfolio_optimisation)" in html and "gap to exact" in html
    compared = comparisons(part)
    assert len(compared) == 2
    won = int((compared["advantage"] > 0).sum())
    if won == 0:
        assert "quantum added nothing here" in html
    else:
        assert f"beat every heuristic and random sampling in {won} of 2" in html


def test_the_second_portfolio_night_recomputes_nothing(store: ArtifactStore, portfolio_nights: tuple[Any, Any]) -> None:
    (first_id, _, _), (run_id, state, output) = portfolio_nights
    assert state == "success", output[-5000:]
    plan, results = _night(store, run_id)
    assert set(plan["status"]) == {"reused"} and _executions(store, plan, run_id) == {}
    _, first = _night(store, first_id)
    key = ["experiment_key", "objective", "feasible_share"]
    tonight = results[results["method"] == "qaoa"][key].sort_values("experiment_key").reset_index(drop=True)
    before = first[first["method"] == "qaoa"][key].sort_values("experiment_key").reset_index(drop=True)
    assert tonight.equals(before) and results.loc[results["method"] == "qaoa", "reused"].all()
    assert not re.search(r"batch \d+ \(portfolio_optimisation\): stored", output)  # no loop ran tonight
