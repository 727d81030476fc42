"""Every DAG imports without errors, parses without heavy imports, and has a usable form."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
HEAVY = ("qiskit", "qiskit_aer", "great_expectations", "pandas", "pyarrow", "scipy", "networkx")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_every_dag_file_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    files = {Path(f).stem for f in DAGS.glob("*.py") if not f.name.startswith("_")}
    assert files <= {dag.fileloc and Path(dag.fileloc).stem for dag in dagbag.dags.values()}
    assert "qaoa_maxcut" in dagbag.dags


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_dag_file_imports_nothing_heavy_at_module_level(dag_file: str) -> None:
    code = (
        "import runpy, sys\n"
        f"runpy.run_path({str(DAGS / dag_file)!r})\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1:] in ([], [""]), f"{dag_file} imports {out.stdout.strip()}"


def test_qaoa_maxcut_shape_and_param_form(dagbag) -> None:
    dag = dagbag.dags["qaoa_maxcut"]
    assert set(dag.task_ids) == {
        "dataset_version",
        "graph",
        "validate",
        "encode",
        "optimise",
        "baselines",
        "readiness",
        "approval_gate",
        "approve",
        "sample",
        "aggregate",
    }
    assert dag.get_task("encode").upstream_task_ids == {"graph", "validate"}
    # Every task runs after dataset_version (it decides what an asset-triggered run runs on).
    assert [t.task_id for t in dag.roots] == ["dataset_version"]
    # The loop runs after the approval gate: approval (where the policy asks) covers the loop backend.
    assert dag.get_task("optimise").upstream_task_ids == {"graph", "encode", "approval_gate", "approve"}
    assert dag.get_task("optimise").trigger_rule == "none_failed_min_one_success"
    assert "validate" in dag.get_task("baselines").upstream_task_ids
    assert dag.get_task("sample").upstream_task_ids == {"encode", "optimise", "baselines", "approve"}
    assert dag.get_task("sample").trigger_rule == "none_failed_min_one_success"
    assert dag.get_task("approval_gate").upstream_task_ids == {"readiness"}
    assert dag.get_task("approve").upstream_task_ids == {"approval_gate"}
    assert dag.get_task("aggregate").upstream_task_ids == {
        "graph",
        "validate",
        "encode",
        "optimise",
        "sample",
        "baselines",
    }
    expected = {
        "n_nodes",
        "graph_kind",
        "degree",
        "weights",
        "seed",
        "reps",
        "shots",
        "optimiser",
        "max_iterations",
        "loop_backend",
        "backend",
        "resume_from",
    }
    assert expected <= set(dag.params)
    # Every backend the form offers for the loop is a registry backend, explained in the form.
    from include.quantum.backends.registry import backend_profile

    loop_backends = dag.params.get_param("loop_backend").schema["enum"]
    assert {"aer", "jobservice:fake_manila", "ibm:fake_manila"} <= set(loop_backends)
    assert all(backend_profile(b) for b in loop_backends)
    description = dag.params.get_param("loop_backend").description or ""
    assert all(b in description for b in loop_backends)
    schema = dag.params.get_param("n_nodes").schema
    assert schema["type"] == "integer" and schema["minimum"] == 2
    assert dag.params.get_param("optimiser").schema["enum"] == ["COBYLA", "Nelder-Mead", "Powell"]
    assert all(dag.params.get_param(name).schema.get("title") for name in dag.params)
    assert "qflow" in dag.tags


def test_portfolio_optimisation_is_qaoa_maxcut_s_sibling_in_shape_and_form(dagbag) -> None:
    dag = dagbag.dags["portfolio_optimisation"]
    assert set(dag.task_ids) == {
        "dataset_version",
        "prices",
        "validate",
        "model",
        "encode",
        "optimise",
        "baselines",
        "readiness",
        "approval_gate",
        "approve",
        "sample",
        "aggregate",
    }
    assert dag.get_task("prices").upstream_task_ids == {"dataset_version"}
    assert dag.get_task("validate").upstream_task_ids == {"prices"}
    assert dag.get_task("model").upstream_task_ids == {"prices", "validate"}
    assert dag.get_task("encode").upstream_task_ids == {"model", "validate"}
    assert dag.get_task("optimise").upstream_task_ids == {"model", "encode", "approval_gate", "approve"}
    assert dag.get_task("optimise").trigger_rule == "none_failed_min_one_success"
    assert dag.get_task("sample").upstream_task_ids == {"encode", "optimise", "baselines", "approve"}
    assert dag.get_task("sample").fallback_tiers == (1, 2, 3, 4)
    assert dag.get_task("baselines").upstream_task_ids == {"model", "validate"}
    assert type(dag.get_task("optimise")).__mro__[1].__name__ == "VariationalLoopOperator"
    params = dag.params
    assert params.get_param("k").schema["minimum"] == 1 and params.get_param("n_assets").schema["maximum"] == 20
    assert params.get_param("risk_aversion").schema["type"] == "number"
    assert params.get_param("optimiser").schema["enum"] == ["COBYLA", "Nelder-Mead", "Powell"]
    assert params["tickers"] is None and params["data_uri"] is None
    assert all(params.get_param(name).schema.get("title") for name in params)


def test_every_task_retries_infrastructure_failures_with_exponential_backoff(dagbag) -> None:
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert task.retries >= 2, f"{dag.dag_id}.{task.task_id} has retries={task.retries}"
            assert task.retry_exponential_backoff >= 2, f"{dag.dag_id}.{task.task_id} retries at a fixed delay"
            assert task.max_retry_delay is not None, f"{dag.dag_id}.{task.task_id} has no cap on its retry delay"


def _form_requires(schema: dict) -> bool:
    """The Airflow 3.3 trigger form's rule: a Param with a ``type`` that does not include
    "null" is required, and an empty value (None or "") disables the Trigger button."""
    kind = schema.get("type")
    return bool(kind) and not (isinstance(kind, list) and "null" in kind)


def test_every_param_default_submits_in_the_trigger_form(dagbag) -> None:
    blocked = [
        f"{dag_id}.{name}"
        for dag_id, dag in dagbag.dags.items()
        for name in dag.params
        if _form_requires(dag.params.get_param(name).schema) and dag.params[name] in (None, "")
    ]
    assert blocked == [], f"optional Params must be type ['null', ...] with default None: {blocked}"


def test_default_params_convert_to_the_params_dataclasses(dagbag) -> None:
    from include.pipelines.qaoa_maxcut import QAOAMaxCutParams
    from include.pipelines.vqc_classifier import VQCClassifierParams

    qaoa = QAOAMaxCutParams.from_mapping(dict(dagbag.dags["qaoa_maxcut"].params))
    assert dagbag.dags["qaoa_maxcut"].params["edge_list_uri"] is None and qaoa.edge_list_uri == ""
    vqc = VQCClassifierParams.from_mapping(dict(dagbag.dags["vqc_classifier"].params))
    assert (vqc.data_uri, vqc.features) == ("", "")
    assert vqc.loop_backend == "aer" and vqc.backend == "aer_simulator"
    from include.pipelines.portfolio import PortfolioParams

    portfolio = PortfolioParams.from_mapping(dict(dagbag.dags["portfolio_optimisation"].params))
    assert (portfolio.tickers, portfolio.data_uri) == ("", "")
    assert portfolio == PortfolioParams()  # the form's defaults are the dataclass's


def test_every_loop_dag_offers_the_same_described_loop_backends(dagbag) -> None:
    """One catalogue of loop backends (include.quantum.backends.catalogue) for every loop DAG."""
    from include.quantum.backends.catalogue import LOOP_BACKENDS

    for dag_id in ("qaoa_maxcut", "vqc_classifier", "portfolio_optimisation"):
        param = dagbag.dags[dag_id].params.get_param("loop_backend")
        assert param.schema["enum"] == list(LOOP_BACKENDS), dag_id
        assert all(text in (param.description or "") for text in LOOP_BACKENDS.values()), dag_id


def test_nightly_run_tasks_use_the_pools_the_plan_assigns(dagbag) -> None:
    """The plan puts each batch in its backend's pool (backend_profile); the DAG's run tasks must
    take exactly those pools, or their batches would never be picked up."""
    from include.quantum.backends.registry import backend_profile

    dag = dagbag.dags["nightly_benchmark"]
    assert dag.get_task("run_aer").pool == backend_profile("aer:statevector").pool
    assert dag.get_task("run_jobservice").pool == backend_profile("jobservice").pool


@pytest.mark.parametrize(
    ("dag_id", "dataset"),
    [
        ("qaoa_maxcut", "maxcut_graph"),
        ("vqc_classifier", "classifier_table"),
        ("portfolio_optimisation", "portfolio_prices"),
    ],
)
def test_workloads_are_scheduled_by_their_data_set_watched_on_redis(dagbag, dag_id: str, dataset: str) -> None:
    from operators.triggers.dataset_announcement import DatasetAnnouncementTrigger

    dag = dagbag.dags[dag_id]
    assets = list(dag.timetable.asset_condition.objects)
    assert [asset.name for asset in assets] == [dataset]
    (watcher,) = assets[0].watchers
    assert isinstance(watcher.trigger, DatasetAnnouncementTrigger)
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "operators.triggers.dataset_announcement.DatasetAnnouncementTrigger"
    assert kwargs["dataset"] == dataset and kwargs["stream"].endswith(f":{dataset}")
    assert [t.task_id for t in dag.roots] == ["dataset_version"]
    assert [a.name for a in dag.get_task("dataset_version").inlets] == [dataset]
