"""QuantumJobSensor: wait for a job submitted elsewhere (by provider job id) to finish.

Deferrable by default (QuantumJobTrigger waits in the triggerer); with deferrable=False it pokes
like any sensor. Succeeds when the job is DONE, fails on ERROR or CANCELLED. Returns the final
status (JSON) — a few fields, no result data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException

from operators.hooks.quantum import QuantumBackendHook
from operators.triggers.quantum_job import QuantumJobTrigger


class QuantumJobSensor(BaseSensorOperator):
    template_fields = ("job_id", "backend")

    def __init__(
        self,
        *,
        job_id: str,
        backend: str,
        quantum_conn_id: str | None = None,
        deferrable: bool = True,
        poll_interval: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poll_interval, **kwargs)
        self.job_id = job_id
        self.backend = backend
        self.quantum_conn_id = quantum_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval

    def _status(self) -> Any:
        return QuantumBackendHook(self.backend, self.quantum_conn_id).get_conn().status(self.job_id)

    def _check_terminal(self, state: str, detail: Any) -> None:
        if state in ("ERROR", "CANCELLED"):
            raise AirflowFailException(f"job {self.job_id} ended {state}: {detail}")

    def poke(self, context: Any) -> bool:
        status = self._status()
        self._check_terminal(status.state.value, status.error_message)
        return bool(status.state.value == "DONE")

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            super().execute(context)
            return self._status().to_dict()
        status = self._status()
        if status.state.terminal:
            self._check_terminal(status.state.value, status.error_message)
            return status.to_dict()
        self.defer(
            trigger=QuantumJobTrigger(self.job_id, self.backend, self.quantum_conn_id, self.poll_interval),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: Mapping[str, Any]) -> Any:
        self._check_terminal(str(event["state"]), event.get("error") or event.get("status"))
        return event.get("status")
