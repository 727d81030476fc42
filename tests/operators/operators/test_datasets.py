"""The dataset_version task's Params as later work sees them (the task itself runs for real in
tests/live/test_datasets.py and in every `airflow dags test` of the two workloads)."""

from __future__ import annotations

from typing import Any

from operators.operators.datasets import TASK_ID, dataset_version_expression, effective_params, from_dataset_version


class PulledXCom:
    """What a task instance's xcom_pull answers for the dataset_version task in a run."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.asked: list[str] = []

    def xcom_pull(self, task_ids: str) -> Any:
        self.asked.append(task_ids)
        return self.value


def test_an_asset_triggered_runs_params_carry_the_version_it_ran_on() -> None:
    overrides = {"edge_list_uri": "s3://qflow/datasets/maxcut_graph/abc/data.parquet", "n_nodes": 6}
    ti = PulledXCom({**overrides, "dataset_version": {"sha256": "abc"}})
    params = effective_params({"params": {"n_nodes": 10, "edge_list_uri": None, "reps": 2}, "ti": ti})
    assert params == {"n_nodes": 6, "edge_list_uri": overrides["edge_list_uri"], "reps": 2}
    assert ti.asked == [TASK_ID]


def test_a_manual_runs_params_are_its_own() -> None:
    assert effective_params({"params": {"n_nodes": 10}, "ti": PulledXCom(None)}) == {"n_nodes": 10}


def test_the_template_prefers_the_version_and_falls_back_to_the_param() -> None:
    from jinja2 import Environment

    env = Environment()
    template = env.from_string(from_dataset_version("n_nodes"))
    params = {"n_nodes": 10}
    assert template.render(ti=PulledXCom({"n_nodes": 6}), params=params) == "6"
    assert template.render(ti=PulledXCom(None), params=params) == "10"
    assert dataset_version_expression("n_nodes") in from_dataset_version("n_nodes")
