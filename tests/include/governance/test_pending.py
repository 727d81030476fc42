"""Pending work (tier 4) against the real ledger (SQLite under tmp_path): attempts are counted per
item with their history, a re-run landing in tier 4 again reopens its own item, and at the
policy's cap the item is abandoned and never due again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.governance.ledger import ledger_engine
from include.governance.pending import (
    ABANDONED,
    DONE,
    OPEN,
    RERUN,
    PendingQueue,
    attempt_of,
    record_id_of,
    rerun_run_id,
)
from include.governance.policy import PolicyError, load_policy

POLICY_TEXT = (Path(__file__).resolve().parents[3] / "include" / "governance" / "policy.yaml").read_text()


@pytest.fixture
def queue(tmp_path: Path) -> PendingQueue:
    return PendingQueue(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


def one_hourly_run(queue: PendingQueue, cap: int) -> list[str]:
    """What pending_rerun does each hour (minus the Airflow trigger): the due items' run ids, counted."""
    run_ids = [rerun_run_id(record) for record in queue.due(cap)]
    for run_id in run_ids:
        queue.mark_rerun(record_id_of(run_id), run_id)
    return run_ids


def test_work_that_keeps_landing_in_tier_4_is_abandoned_at_the_cap(queue: PendingQueue) -> None:
    queue.add("qaoa_maxcut", "manual__1", "sample", {"n_nodes": 6}, "backend outage")
    triggered = []
    for hour in range(6):  # hourly, far past the cap
        run_ids = one_hourly_run(queue, cap=3)
        triggered += run_ids
        for run_id in run_ids:  # each re-run falls back to tier 4 again
            queue.add("qaoa_maxcut", run_id, "sample", {"n_nodes": 6}, f"outage, hour {hour}", max_attempts=3)
    assert len(triggered) == 3, triggered  # three attempts, then never again
    assert [attempt_of(r) for r in triggered] == [1, 2, 3]
    [record] = [queue.get(record_id_of(triggered[0]))]
    assert record is not None and record.state == ABANDONED and record.attempts == 3
    assert [h["run_id"] for h in record.history] == triggered
    assert all(h["triggered_at"] and h["finished_at"] for h in record.history)
    assert [h["outcome"] for h in record.history] == [f"pending again: outage, hour {i}" for i in range(3)]
    assert queue.open() == [] and queue.due(3) == []
    # Only one item ever existed: the re-runs did not queue new work of their own.
    with ledger_engine(f"{queue.engine.url}").connect() as conn:
        assert conn.execute(sa.text("select count(*) from qflow_pending_work")).scalar_one() == 1


def test_a_retried_task_in_a_rerun_counts_one_attempt(queue: PendingQueue) -> None:
    queue.add("qaoa_maxcut", "manual__1", "sample", {}, "outage")
    [run_id] = one_hourly_run(queue, cap=3)
    queue.mark_rerun(record_id_of(run_id), run_id)  # mark_rerun again: not a second attempt
    for _ in range(2):  # the sample task of the re-run, retried
        queue.add("qaoa_maxcut", run_id, "sample", {}, "outage again", max_attempts=3)
    record = queue.get(record_id_of(run_id))
    assert record is not None and record.state == OPEN and record.attempts == 1 and len(record.history) == 1


def test_a_rerun_that_finished_closes_its_item_with_the_runs_state(queue: PendingQueue) -> None:
    queue.add("qaoa_maxcut", "manual__1", "sample", {}, "outage")
    [run_id] = one_hourly_run(queue, cap=3)
    [record] = queue.triggered()
    assert record.state == RERUN and record.rerun_id == run_id
    queue.resolve(record.id, "success")
    done = queue.get(record.id)
    assert done is not None and done.state == DONE and done.history[-1]["outcome"] == "success"
    assert one_hourly_run(queue, cap=3) == [] and queue.triggered() == []


def test_lowering_the_cap_abandons_items_already_past_it(queue: PendingQueue) -> None:
    queue.add("qaoa_maxcut", "manual__1", "sample", {}, "outage")
    for _ in range(2):
        [run_id] = one_hourly_run(queue, cap=5)
        queue.add("qaoa_maxcut", run_id, "sample", {}, "outage", max_attempts=5)
    assert queue.due(2) == []
    record = queue.get(record_id_of(run_id))
    assert record is not None and record.state == ABANDONED and record.attempts == 2
    with pytest.raises(ValueError, match=r"pending\.max_attempts"):
        queue.due(0)


def test_the_cap_comes_from_the_policy_file(
    queue: PendingQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_TEXT.replace("  max_attempts: 3", "  max_attempts: 1", 1))
    monkeypatch.setenv("QFLOW_POLICY_FILE", str(policy))
    assert load_policy().pending.max_attempts == 1
    queue.add("qaoa_maxcut", "manual__1", "sample", {}, "outage")
    [run_id] = one_hourly_run(queue, cap=load_policy().pending.max_attempts)
    queue.add("qaoa_maxcut", run_id, "sample", {}, "outage again")  # no max_attempts: the policy's
    record = queue.get(record_id_of(run_id))
    assert record is not None and record.state == ABANDONED


@pytest.mark.parametrize(("value", "message"), [("0", "greater than or equal to 1"), ("many", "valid integer")])
def test_a_bad_cap_fails_on_load_naming_the_field(tmp_path: Path, value: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_TEXT.replace("  max_attempts: 3", f"  max_attempts: {value}", 1))
    with pytest.raises(PolicyError, match=rf"pending\.max_attempts: .*{message}"):
        load_policy(path)


def test_a_ledger_from_before_attempts_gets_the_columns_and_keeps_its_work(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    with ledger_engine(url).begin() as conn:
        conn.execute(
            sa.text(
                "create table qflow_pending_work (id integer primary key autoincrement, dag_id varchar(250) not null,"
                " run_id varchar(250) not null, task_id varchar(250) not null, conf text not null,"
                " reason text not null, state varchar(16) not null, rerun_id varchar(250),"
                " created_at datetime not null, constraint uq_pending_task unique (dag_id, run_id, task_id))"
            )
        )
        conn.execute(
            sa.text(
                "insert into qflow_pending_work (dag_id, run_id, task_id, conf, reason, state, created_at)"
                " values ('qaoa_maxcut', 'manual__old', 'sample', :conf, 'outage', 'OPEN', '2026-01-01')"
            ),
            {"conf": json.dumps({"n_nodes": 6})},
        )
    queue = PendingQueue(url)
    [record] = queue.due(3)
    assert record.attempts == 0 and record.history == [] and record.conf == {"n_nodes": 6}
    assert rerun_run_id(record).startswith(f"pending_rerun__{record.id}__a1__")
