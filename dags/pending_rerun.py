"""pending_rerun: re-run work that finished as "result pending" (fallback tier 4).

Hourly, it first closes the records whose last re-run finished without landing in tier 4 again
(outcome: that run's state), then triggers each open record again with the parameters it had, and
counts the attempt in the record's history. A re-run that lands in tier 4 again reopens its record;
after the policy's `pending.max_attempts` re-runs the record is abandoned, never triggered again.
Run ids are derived from the record and the attempt, so an attempt is never triggered twice even
if this DAG runs again before the first re-run finishes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, task

from operators.retries import INFRASTRUCTURE_RETRIES


@dag(
    dag_id="pending_rerun",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=INFRASTRUCTURE_RETRIES,  # a killed worker or an outage retries; bad data fails at once
    max_active_runs=1,
    tags=["qflow", "fallback"],
    doc_md=__doc__,
)
def pending_rerun() -> None:
    @task
    def open_work() -> list[dict[str, object]]:
        import logging

        from airflow.sdk import get_current_context

        from include.governance.pending import PendingQueue, rerun_run_id
        from include.governance.policy import load_policy

        queue = PendingQueue()
        ti = get_current_context()["ti"]
        for record in queue.triggered():  # did the last attempt finish without landing in tier 4?
            try:
                state = str(ti.get_dagrun_state(dag_id=record.dag_id, run_id=str(record.rerun_id)))
            except Exception as exc:  # the run is unknown here: leave the record as it is, say so
                logging.getLogger(__name__).warning(
                    "pending record %d: state of run %s unavailable (%s)", record.id, record.rerun_id, exc
                )
                continue
            if state in ("success", "failed"):
                queue.resolve(record.id, state)
        return [
            {"trigger_dag_id": r.dag_id, "conf": r.conf, "trigger_run_id": rerun_run_id(r)}
            for r in queue.due(load_policy().pending.max_attempts)
        ]

    # none_failed: a re-run skipped because its run already exists still counts as re-run.
    @task(trigger_rule="none_failed")
    def mark_rerun(work: list[dict[str, object]]) -> int:
        from include.governance.pending import PendingQueue, record_id_of

        queue = PendingQueue()
        for item in work:
            run_id = str(item["trigger_run_id"])
            queue.mark_rerun(record_id_of(run_id), run_id)
        return len(work)

    work: Any = open_work()  # an XComArg at parse time, the list at run time
    rerun = TriggerDagRunOperator.partial(
        task_id="rerun", skip_when_already_exists=True, wait_for_completion=False
    ).expand_kwargs(work)
    rerun >> mark_rerun(work)


pending_rerun()
