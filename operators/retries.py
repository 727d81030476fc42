"""Task retries for infrastructure failures, the same for every qflow DAG.

A worker process killed mid-task (OOM, a lost node, a restarted pod), an S3 or provider outage
longer than the in-task retries: Airflow retries the task after an exponentially growing delay,
and the stages resume from what they stored (the loops from their checkpoints, submissions from
the job ledger). Data and structural errors never reach these retries: stage operators raise
``AirflowFailException`` for them (``operators.operators.base.fails_fast``), which fails at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

INFRASTRUCTURE_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay": timedelta(seconds=10),
    "retry_exponential_backoff": 2.0,  # 10 s, 20 s, 40 s ...
    "max_retry_delay": timedelta(minutes=10),
}
