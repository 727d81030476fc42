"""`airflow dags test qaoa_maxcut` against the real local SeaweedFS, checked with boto3,
the metadata DB's XCom table and `qflow lineage verify`."""

from __future__ import annotations

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

from include.store.artifacts import ArtifactStore, parquet_bytes, safe_key_part
from tests.conftest import airflow_dags_test, deferred_loop_on_job_service

pytestmark = pytest.mark.integration

SMALL_CONF = {"n_nodes": 8, "degree": 3, "reps": 1, "shots": 512, "max_iterations": 25, "seed": 5}
STAGES = ("graph", "validation", "encode", "optimise", "readiness", "sample", "baselines", "result", "summary")


def dags_test(env: dict[str, str], conf: Mapping[str, object]) -> tuple[str, str, str]:
    return airflow_dags_test("qaoa_maxcut", env, conf, timeout=600)


@pytest.fixture(scope="module")
def good_run(qflow_env: dict[str, str]) -> tuple[str, str]:
    run_id, state, output = dags_test(qflow_env, SMALL_CONF)
    assert state == "success", output[-4000:]
    return run_id, output


def test_every_stage_wrote_parquet_and_a_manifest(store: ArtifactStore, good_run: tuple[str, str]) -> None:
    run_id, _ = good_run
    base = store.uri(f"runs/qaoa_maxcut/{safe_key_part(run_id)}")
    written = set(store.list_uris(base + "/"))
    for stage in STAGES:
        assert f"{base}/{stage}/data.parquet" in written, stage
        assert f"{base}/{stage}/manifest.json" in written, stage
    encode = store.read_manifest(f"{base}/encode/manifest.json")
    assert encode["params"]["n_qubits"] == 8 and encode["params"]["reps"] == 1
    assert [f["name"] for f in encode["files"]] == ["ansatz.qpy"]
    optimise = store.read_manifest(f"{base}/optimise/manifest.json")
    assert optimise["measurements"]["transpile_count"] == 1
    trace = store.read_table(f"{base}/optimise/data.parquet")
    assert 1 <= len(trace) <= SMALL_CONF["max_iterations"]
    assert all(len(p) == 2 for p in trace["parameters"])
    summary = store.read_table(f"{base}/summary/data.parquet").iloc[0]
    assert 0 < summary["approximation_ratio"] <= 1
    assert summary["qaoa_cut"] <= summary["exact_optimum"]
    result = store.read_table(f"{base}/result/data.parquet")
    heuristics = {"exact", "greedy", "local_search", "simulated_annealing", "random_sampling"}
    assert set(result["method"]) == {"qaoa", *heuristics}
    stage_seconds = store.read_manifest(f"{base}/summary/manifest.json")["measurements"]["stage_seconds"]
    assert set(stage_seconds) == {"graph", "validate", "encode", "optimise", "sample", "baselines", "aggregate"}


def test_lineage_verifies_and_shows_the_chain(
    qflow_env: dict[str, str], store: ArtifactStore, good_run: tuple[str, str]
) -> None:
    run_id, _ = good_run
    summary = store.uri(f"runs/qaoa_maxcut/{safe_key_part(run_id)}/summary/manifest.json")
    verify = subprocess.run(["qflow", "lineage", "verify", summary], env=qflow_env, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    show = subprocess.run(["qflow", "lineage", "show", summary], env=qflow_env, capture_output=True, text=True)
    for stage in ("[aggregate]", "[optimise]", "[encode]", "[validate]", "[graph]", "[baselines]"):
        assert stage in show.stdout
    summary_text = subprocess.run(["qflow", "summary", summary], env=qflow_env, capture_output=True, text=True)
    assert "approximation ratio" in summary_text.stdout and summary in summary_text.stdout


def test_xcom_carries_only_uris_and_hashes(good_run: tuple[str, str]) -> None:
    run_id, _ = good_run
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select task_id, \"key\", value from xcom where dag_id='qaoa_maxcut' and run_id=?", (run_id,)
        ).fetchall()
    returned = {task: json.loads(raw) for task, key, raw in rows if key == "return_value"}
    assert set(returned) == {"graph", "validate", "encode", "optimise", "readiness", "sample", "baselines", "aggregate"}
    for task, value in returned.items():
        assert set(value) == {"uri", "sha256", "manifest_uri"}, (task, value)
        assert re.fullmatch(r"[0-9a-f]{64}", value["sha256"])
    # The only other XComs are the persisted extra links: a URL to the stage's manifest.
    links = {task: json.loads(raw) for task, key, raw in rows if key.startswith("_link_")}
    # The branch records which task it followed (Airflow's skip bookkeeping): task ids, no data.
    others = {(task, key): json.loads(raw) for task, key, raw in rows if key != "return_value" and task not in links}
    assert set(others) == {("approval_gate", "skipmixin_key")}, others
    assert others["approval_gate", "skipmixin_key"] == {"followed": ["optimise"]}
    assert set(links) == set(returned)
    for task, url in links.items():
        # the api-server's artifact browser: absolute under [api] base_url, else a same-origin path
        assert url.startswith(("http", "/qflow/artifacts/")), url
        assert url.endswith(returned[task]["manifest_uri"].removeprefix("s3://"))


def test_secrets_never_reach_manifests_or_logs(store: ArtifactStore, good_run: tuple[str, str]) -> None:
    run_id, output = good_run
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    assert secret not in output
    for uri in store.list_uris(store.uri(f"runs/qaoa_maxcut/{safe_key_part(run_id)}/")):
        if uri.endswith(".json"):
            assert secret.encode() not in store.get_bytes(uri), uri


def test_nan_weight_graph_stops_at_validation(qflow_env: dict[str, str], store: ArtifactStore, prefix: str) -> None:
    uri = store.uri(f"{prefix}/nan-edges.parquet")
    store.put_bytes(uri, parquet_bytes(pd.DataFrame({"u": [0, 1, 2], "v": [1, 2, 0], "weight": [1.0, np.nan, 1.0]})))
    run_id, state, output = dags_test(qflow_env, {**SMALL_CONF, "n_nodes": 3, "edge_list_uri": uri})
    assert state == "failed"
    assert "expect_column_values_to_not_be_null on column 'weight'" in output
    assert "edge weights must not be NaN" in output
    written = store.list_uris(store.uri(f"runs/qaoa_maxcut/{safe_key_part(run_id)}/"))
    assert any("/validation/manifest.json" in u for u in written)
    assert not [u for u in written if re.search(r"/(encode|optimise|baselines|result|summary)/", u)]


def test_budget_exhausted_falls_back_to_the_classical_tier_and_spends_nothing(
    qflow_env: dict[str, str], store: ArtifactStore, tmp_path: Path
) -> None:
    from include.governance.budget import SpendLedger
    from include.governance.fallback import FallbackLog

    policy = (Path(__file__).resolve().parents[2] / "include" / "governance" / "policy.yaml").read_text()
    # The final sample's backend (aer = aer:automatic) costs 0.01 a shot; the loop's (statevector) is free.
    priced = '"aer:automatic": {per_shot: 0.01}\n  "aer*": {per_shot: 0.0}'
    policy = policy.replace('"aer*":        {per_shot: 0.0}', priced)
    assert "per_shot: 0.01" in policy  # 512 shots = 5.12
    (tmp_path / "policy.yaml").write_text(policy)  # dev allows 5.0 a day: the job cannot be admitted
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    env = {**qflow_env, "QFLOW_POLICY_FILE": str(tmp_path / "policy.yaml"), "QFLOW_LEDGER_URL": ledger_url}
    run_id, state, output = dags_test(env, {**SMALL_CONF, "loop_backend": "aer:statevector"})
    assert state == "success", output[-3000:]
    assert "fallback: tier 2 (classical)" in output and "spend today budget 5" in output
    base = f"runs/qaoa_maxcut/{safe_key_part(run_id)}"
    manifest = store.read_manifest(store.uri(f"{base}/sample/manifest.json"))
    label = manifest["params"]["fallback"]
    assert label["tier"] == 2 and label["tier_name"] == "classical"
    assert label["attempts"][0]["tier"] == 1 and "BudgetExceeded" in label["attempts"][0]["reason"]
    assert manifest["params"]["backend"] == "classical"
    assert any(i["uri"].endswith("/baselines/data.parquet") for i in manifest["inputs"])
    sample = store.read_table(store.uri(f"{base}/sample/data.parquet"))
    assert sample["count"].sum() == SMALL_CONF["shots"] and sample["backend"].iloc[0].startswith("classical:")
    summary = store.read_table(store.uri(f"{base}/summary/data.parquet")).iloc[0]
    assert summary["sample_tier"] == 2
    assert SpendLedger(ledger_url).usage("dev").spend_today == 0  # nothing spent, nothing submitted
    # The tier taken is queryable in the ledger too (the operations view reads it), with its reason.
    [event] = FallbackLog(ledger_url).events()
    assert (event.dag_id, event.run_id, event.task_id, event.tier) == ("qaoa_maxcut", run_id, "sample", 2)
    assert event.reason == label["reason"] and "spend today budget 5" in event.reason
    assert event.attempts == label["attempts"]


def test_quantum_value_routes_a_useless_workload_to_classical_and_records_useful_runs(
    qflow_env: dict[str, str], store: ArtifactStore, tmp_path: Path
) -> None:
    from include.governance.quantum_value import QuantumValueRecord

    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    env = {**qflow_env, "QFLOW_LEDGER_URL": ledger_url}
    record = QuantumValueRecord(ledger_url)
    workload = "qaoa_maxcut:regular:8:3:aer"
    run_id, state, _ = dags_test(env, SMALL_CONF)  # nothing measured yet: quantum runs, and is recorded
    assert state == "success"
    assert len(record.recent(workload, 100)) == 1
    for i in range(10):  # ten runs in which quantum added nothing over the best heuristic
        record.record(workload, f"past-{i}", quantum_objective=9.0, classical_objective=10.0)
    run_id, state, output = dags_test(env, SMALL_CONF)
    assert state == "success", output[-3000:]
    label = store.read_manifest(store.uri(f"runs/qaoa_maxcut/{safe_key_part(run_id)}/sample/manifest.json"))["params"][
        "fallback"
    ]
    assert label["tier"] == 2 and "added nothing" in label["reason"]
    assert label["attempts"][0]["outcome"] == "skipped"
    assert len(record.recent(workload, 100)) == 11  # a classical-tier run is not a quantum measurement


def test_loop_on_the_job_service_defers_between_evaluations_and_submits_each_once(
    qflow_env: dict[str, str], store: ArtifactStore, tmp_path: Path
) -> None:
    """`airflow dags test` (triggers in-process): a queued loop backend defers at every evaluation,
    the service holds one job per evaluation, and the trace says where and how each one ran."""
    conf = {"n_nodes": 4, "degree": 2, "reps": 1, "shots": 256, "max_iterations": 4, "seed": 3}
    _, _, evaluations = deferred_loop_on_job_service("qaoa_maxcut", "optimise", qflow_env, conf, tmp_path, store)
    assert {e["backend"] for e in evaluations} == {"jobservice:fake_manila"}


def test_a_loop_backend_the_problem_does_not_fit_fails_before_any_job(
    qflow_env: dict[str, str], tmp_path: Path
) -> None:
    import httpx

    from include.emulator.process import JobServiceProcess

    with JobServiceProcess(tmp_path / "jobs.sqlite") as service:
        env = {**qflow_env, "QFLOW_JOBSERVICE_URL": service.url, "QFLOW_LEDGER_URL": f"sqlite:///{tmp_path / 'l.db'}"}
        conf = {"n_nodes": 8, "reps": 1, "shots": 128, "max_iterations": 3, "loop_backend": "jobservice:fake_manila"}
        _, state, output = dags_test(env, conf)
        total = httpx.get(f"{service.url}/admin/stats").json()["jobs"]["total"]
    assert state == "failed"
    assert "needs 8 qubits but jobservice:fake_manila has 5" in output
    assert total == 0  # nothing was submitted


def test_loop_on_an_ibm_fake_backend_runs_held_in_one_session_closed_afterwards(
    qflow_env: dict[str, str], store: ArtifactStore, tmp_path: Path
) -> None:
    """qiskit-ibm-runtime's local mode: every evaluation held (in-process jobs cannot be deferred),
    all in the one Session the checkpoint names, and that session closed when the loop ended."""
    env = {**qflow_env, "QFLOW_LEDGER_URL": f"sqlite:///{tmp_path / 'l.db'}"}
    conf = {"n_nodes": 4, "degree": 2, "reps": 1, "shots": 256, "max_iterations": 4, "seed": 3}
    run_id, state, output = dags_test(env, {**conf, "loop_backend": "ibm:fake_manila"})
    assert state == "success", output[-4000:]
    base = f"runs/qaoa_maxcut/{safe_key_part(run_id)}"
    manifest = store.read_manifest(store.uri(f"{base}/optimise/manifest.json"))
    evaluations = manifest["measurements"]["evaluations"]
    assert len(evaluations) == 4 and [e["mode"] for e in evaluations] == ["held"] * 4
    assert manifest["params"]["backends"] == {"ibm:fake_manila": 4}
    checkpoint = json.loads(store.get_bytes(store.uri(f"{base}/optimise/checkpoint.json")))
    session_id = checkpoint["context"]["session_id"]
    assert session_id.startswith("local-session-")
    assert output.count(f"session {session_id} open") == 1 and output.count(f"session {session_id} closed") == 1
    assert "deferring" not in output


def test_loop_and_sample_on_braket_local_run_held_and_store_the_shared_schema(
    qflow_env: dict[str, str], store: ArtifactStore, tmp_path: Path
) -> None:
    """The form's `braket:local` for both backends: Amazon Braket's LocalSimulator runs every
    evaluation held in the task (in process, like Aer) and the final sample, normalised into the
    same result schema, its conversion to OpenQASM 3 counted as compile time."""
    env = {**qflow_env, "QFLOW_LEDGER_URL": f"sqlite:///{tmp_path / 'l.db'}"}
    conf = {"n_nodes": 4, "degree": 2, "reps": 1, "shots": 256, "max_iterations": 4, "seed": 3}
    run_id, state, output = dags_test(env, {**conf, "loop_backend": "braket:local", "backend": "braket:local"})
    assert state == "success", output[-4000:]
    base = f"runs/qaoa_maxcut/{safe_key_part(run_id)}"
    manifest = store.read_manifest(store.uri(f"{base}/optimise/manifest.json"))
    assert manifest["params"]["backends"] == {"braket:local": 4}
    assert [e["mode"] for e in manifest["measurements"]["evaluations"]] == ["held"] * 4
    sample = store.read_table(store.uri(f"{base}/sample/data.parquet"))
    assert set(sample["backend"]) == {"braket:local"} and int(sample["count"].sum()) == 256
    assert (sample["compile_seconds"] > 0).all() and (sample["execute_seconds"] > 0).all()
