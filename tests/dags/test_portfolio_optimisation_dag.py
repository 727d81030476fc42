"""`airflow dags test portfolio_optimisation` against the real local SeaweedFS, checked with boto3,
the metadata DB's XCom table, the job and spend ledgers and `qflow lineage verify`."""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include.store.artifacts import ArtifactStore, safe_key_part
from tests.conftest import airflow_dags_test, deferred_loop_on_job_service

pytestmark = pytest.mark.integration

SMALL_CONF = {"n_assets": 6, "k": 3, "reps": 1, "shots": 512, "max_iterations": 15, "seed": 5}
STAGES = (
    "prices",
    "validation",
    "returns",
    "model",
    "encode",
    "optimise",
    "readiness",
    "sample",
    "baselines",
    "result",
    "summary",
)
TASKS = {"prices", "validate", "model", "encode", "optimise", "readiness", "sample", "baselines", "aggregate"}


def dags_test(env: Mapping[str, str], conf: Mapping[str, object]) -> tuple[str, str, str]:
    return airflow_dags_test("portfolio_optimisation", env, conf, timeout=600)


def base(run_id: str) -> str:
    return f"runs/portfolio_optimisation/{safe_key_part(run_id)}"


@pytest.fixture(scope="module")
def good_run(qflow_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    ledger_url = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.sqlite'}"
    run_id, state, output = dags_test({**qflow_env, "QFLOW_LEDGER_URL": ledger_url}, SMALL_CONF)
    assert state == "success", output[-4000:]
    return run_id, output, ledger_url


def test_every_stage_wrote_parquet_and_a_manifest(store: ArtifactStore, good_run: tuple[str, str, str]) -> None:
    run_id, output, _ = good_run
    prefix = store.uri(base(run_id))
    written = set(store.list_uris(prefix + "/"))
    for stage in STAGES:
        assert f"{prefix}/{stage}/data.parquet" in written, stage
        assert f"{prefix}/{stage}/manifest.json" in written, stage
    assert f"{prefix}/validation/data_docs.html" in written
    prices = store.read_manifest(f"{prefix}/prices/manifest.json")
    assert prices["params"]["source"] == "skfolio:sp500_dataset" and prices["params"]["last_date"] == "2022-12-28"
    encode = store.read_manifest(f"{prefix}/encode/manifest.json")
    assert encode["params"]["n_qubits"] == 6 and encode["params"]["penalty"] > encode["params"]["flip_bound"]
    optimise = store.read_manifest(f"{prefix}/optimise/manifest.json")
    # transpiled once for the whole loop (0: an earlier run already left it in the S3 transpile cache)
    assert optimise["measurements"]["transpile_count"] in (0, 1)
    assert [f["name"] for f in optimise["files"]] == ["isa_circuit.qpy"]
    assert len(optimise["params"]["best_parameters"]) == 2
    sample = store.read_table(f"{prefix}/sample/data.parquet")
    assert sample["count"].sum() == SMALL_CONF["shots"]
    summary = store.read_table(f"{prefix}/summary/data.parquet").iloc[0]
    assert summary["sample_tier"] == 1 and summary["sample_backend"] == "aer:automatic"
    assert 0 <= summary["sample_feasible_probability"] <= 1
    assert summary["qaoa_feasible"] and summary["qaoa_objective"] >= summary["exact_objective"] - 1e-12
    assert 0 <= summary["approximation_gap"] <= 1
    assert summary["qaoa_total_shots"] == SMALL_CONF["shots"] * (summary["qaoa_iterations"] + 1)
    stage_seconds = store.read_manifest(f"{prefix}/summary/manifest.json")["measurements"]["stage_seconds"]
    assert set(stage_seconds) == {
        "prices",
        "validate",
        "model",
        "encode",
        "optimise",
        "sample",
        "baselines",
        "aggregate",
    }
    assert "portfolio_optimisation result" in output and "approximation gap" in output


def test_lineage_verifies_and_shows_the_chain(
    qflow_env: dict[str, str], store: ArtifactStore, good_run: tuple[str, str, str]
) -> None:
    run_id, _, _ = good_run
    summary = store.uri(f"{base(run_id)}/summary/manifest.json")
    verify = subprocess.run(["qflow", "lineage", "verify", summary], env=qflow_env, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    show = subprocess.run(["qflow", "lineage", "show", summary], env=qflow_env, capture_output=True, text=True)
    for stage in ("[aggregate]", "[optimise]", "[encode]", "[model]", "[validate]", "[prices]", "[baselines]"):
        assert stage in show.stdout
    text = subprocess.run(["qflow", "summary", summary], env=qflow_env, capture_output=True, text=True)
    assert "portfolio_optimisation result" in text.stdout and "out of sample" in text.stdout


def test_xcom_carries_only_uris_and_hashes(good_run: tuple[str, str, str]) -> None:
    run_id, _, _ = good_run
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select task_id, \"key\", value from xcom where dag_id='portfolio_optimisation' and run_id=?", (run_id,)
        ).fetchall()
    returned = {task: json.loads(raw) for task, key, raw in rows if key == "return_value"}
    assert set(returned) == TASKS
    for task, value in returned.items():
        assert set(value) == {"uri", "sha256", "manifest_uri"}, (task, value)
        assert re.fullmatch(r"[0-9a-f]{64}", value["sha256"])


def test_a_quantum_run_records_its_value_and_spends_one_job_per_evaluation(
    store: ArtifactStore, good_run: tuple[str, str, str]
) -> None:
    from include.governance.ledger import JobLedger
    from include.governance.quantum_value import QuantumValueRecord

    run_id, _, ledger_url = good_run
    summary = store.read_table(store.uri(f"{base(run_id)}/summary/data.parquet")).iloc[0]
    recorded = QuantumValueRecord(ledger_url).recent("portfolio_optimisation:6:3:5.0:aer", 10)
    assert recorded == [pytest.approx(summary["quantum_value_added"])]
    assert JobLedger(ledger_url).count() == summary["qaoa_iterations"] + 1  # the loop's jobs and the sample


def _upload_csv(store: ArtifactStore, key: str, frame: pd.DataFrame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    uri = store.uri(key)
    store.put_bytes(uri, buffer.getvalue().encode())
    return uri


@pytest.mark.parametrize(
    ("conf", "failed_task", "message"),
    [
        ({"data_uri": "nan"}, "validate", "column 'CVX': prices must not be NaN"),
        ({"tickers": "AAPL,KO,ZZZZ", "n_assets": 3, "k": 2}, "validate", "on column 'tickers'"),
        ({"k": 7}, "prices", "k=7: choose between 1 and n_assets=6"),
    ],
    ids=["nan-price", "unknown-ticker", "k-over-n"],
)
def test_bad_input_fails_naming_the_field_and_spends_nothing(
    qflow_env: dict[str, str], store: ArtifactStore, prefix: str, tmp_path: Path, conf, failed_task, message
) -> None:
    from include.governance.budget import SpendLedger
    from include.governance.ledger import JobLedger
    from include.problems.portfolio import load_sp500

    if conf.get("data_uri") == "nan":
        frame = load_sp500()[["date", "AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "JNJ"]]
        frame.loc[frame.index[-3], "CVX"] = np.nan  # CVX is one of the run's 6 assets
        conf = {**conf, "data_uri": _upload_csv(store, f"{prefix}/prices.csv", frame)}
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    run_id, state, output = dags_test({**qflow_env, "QFLOW_LEDGER_URL": ledger_url}, {**SMALL_CONF, **conf})
    assert state == "failed"
    assert message in output
    with sqlite3.connect(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db") as conn:
        states = dict(
            conn.execute(
                "select task_id, state from task_instance where dag_id='portfolio_optimisation' and run_id=?", (run_id,)
            ).fetchall()
        )
    assert [task for task, s in states.items() if s == "failed"] == [failed_task], states
    if failed_task == "validate":  # the failed task still links its Data Docs (pushed before failing)
        with sqlite3.connect(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db") as conn:
            links = dict(
                conn.execute(
                    "select \"key\", value from xcom where dag_id='portfolio_optimisation' and run_id=? "
                    "and task_id='validate'",
                    (run_id,),
                ).fetchall()
            )
        assert "return_value" not in links
        assert json.loads(links["_link_DataDocsLink"]).endswith("/validation/data_docs.html")
    written = store.list_uris(store.uri(f"{base(run_id)}/"))
    assert not [u for u in written if re.search(r"/(model|encode|optimise|sample|baselines|summary)/", u)]
    assert JobLedger(ledger_url).count() == 0  # nothing submitted
    assert SpendLedger(ledger_url).usage("dev").spend_today == 0  # nothing spent


def test_budget_exhausted_falls_back_to_the_best_heuristic_s_selection(
    qflow_env: dict[str, str], store: ArtifactStore, tmp_path: Path
) -> None:
    from include.governance.budget import SpendLedger

    policy = (Path(__file__).resolve().parents[2] / "include" / "governance" / "policy.yaml").read_text()
    priced = '"aer:automatic": {per_shot: 0.01}\n  "aer*": {per_shot: 0.0}'  # the final sample's backend
    policy = policy.replace('"aer*":        {per_shot: 0.0}', priced)
    assert "per_shot: 0.01" in policy  # 512 shots = 5.12 > dev's 5.0 a day
    (tmp_path / "policy.yaml").write_text(policy)
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    env = {**qflow_env, "QFLOW_POLICY_FILE": str(tmp_path / "policy.yaml"), "QFLOW_LEDGER_URL": ledger_url}
    run_id, state, output = dags_test(env, {**SMALL_CONF, "loop_backend": "aer:statevector"})
    assert state == "success", output[-3000:]
    assert "fallback: tier 2 (classical)" in output
    label = store.read_manifest(store.uri(f"{base(run_id)}/sample/manifest.json"))["params"]["fallback"]
    assert label["tier"] == 2 and "BudgetExceeded" in label["attempts"][0]["reason"]
    sample = store.read_table(store.uri(f"{base(run_id)}/sample/data.parquet"))
    baselines = store.read_table(store.uri(f"{base(run_id)}/baselines/data.parquet")).set_index("method")
    heuristics = baselines.loc[["greedy", "local_search", "simulated_annealing"]]
    assert sample["bitstring"].tolist() == [heuristics.sort_values("score", ascending=False)["bitstring"].iloc[0]]
    assert sample["backend"].iloc[0].startswith("classical:")
    summary = store.read_table(store.uri(f"{base(run_id)}/summary/data.parquet")).iloc[0]
    assert summary["sample_tier"] == 2 and summary["sample_feasible_probability"] == 1.0
    assert SpendLedger(ledger_url).usage("dev").spend_today == 0


def test_loop_on_the_job_service_defers_between_evaluations_and_submits_each_once(
    qflow_env: dict[str, str], store: ArtifactStore, tmp_path: Path
) -> None:
    """The same loop operator as qaoa_maxcut's: a queued loop backend defers at every evaluation."""
    conf = {"n_assets": 4, "k": 2, "reps": 1, "shots": 256, "max_iterations": 3, "seed": 3}
    _, manifest, evaluations = deferred_loop_on_job_service(
        "portfolio_optimisation", "optimise", qflow_env, conf, tmp_path, store
    )
    assert {e["backend"] for e in evaluations} == {"jobservice:fake_manila"}
    assert 0 <= manifest["params"]["feasible_probability"] <= 1
