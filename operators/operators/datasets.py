"""Event-driven runs: a data set as an Airflow Asset, watched on its Redis stream, and the first task
of the DAG it schedules, which turns the events that triggered the run into the version it runs on.

``dataset_asset(name)`` is what a DAG puts in its ``schedule``: the Asset with an ``AssetWatcher``
whose trigger reads the data set's announcements (operators/triggers/dataset_announcement.py).
``POST /api/v2/assets/events`` on the same asset is the other way in (README).

``DatasetVersionOperator`` (task ``dataset_version``) runs first. On a manual run it returns no
overrides (the run uses its Params). On an asset-triggered run it takes the newest announced
version (include.data.published.resolve): a bad one fails the run before anything else; a version
already processed by an earlier run skips every task after it (nothing runs, nothing is spent) and
says so in the run's summary; otherwise it returns the Params the version sets (``edge_list_uri``,
``data_uri``...), which the stage tasks read through ``from_dataset_version``.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, AssetWatcher, BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.data.announcements import CURSOR_KEY, stream_for
from operators.hooks.artifact_store import DEFAULT_CONN_ID, ArtifactStoreHook
from operators.triggers.dataset_announcement import DatasetAnnouncementTrigger

TASK_ID = "dataset_version"


def dataset_asset(name: str) -> Asset:
    """The data set ``name`` as an Asset whose watcher fires on each burst of new versions."""
    trigger = DatasetAnnouncementTrigger(dataset=name, stream=stream_for(name))
    return Asset(name=name, watchers=[AssetWatcher(name=f"{name}_announcements", trigger=trigger)])


def dataset_version_expression(field: str) -> str:
    """The Jinja expression of a Param the triggering version may set: the version's value on an
    asset-triggered run, the run's Param otherwise."""
    return "(ti.xcom_pull(task_ids='" + TASK_ID + "') or {}).get('" + field + "', params." + field + ")"


def from_dataset_version(field: str) -> str:
    """``dataset_version_expression`` as a template field (rendered natively: an int stays an int)."""
    return "{{ " + dataset_version_expression(field) + " }}"


def effective_params(context: Any) -> dict[str, Any]:
    """The run's Params as its stages saw them: on an asset-triggered run, with what the version set
    (so work re-run later — pending_rerun — runs on the same version, not on the defaults)."""
    params = dict(context["params"]) if context.get("params") else {}
    try:
        overrides = context["ti"].xcom_pull(task_ids=TASK_ID) or {}
    except Exception:  # a DAG without the task (xcom_pull of an unknown task id)
        overrides = {}
    return params | {k: v for k, v in dict(overrides).items() if k != "dataset_version"}


class DatasetVersionOperator(BaseOperator):
    ui_color = "#eaf7ea"

    def __init__(self, *, dataset: str, aws_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        self.asset = dataset_asset(dataset)
        super().__init__(inlets=[self.asset], **kwargs)
        self.dataset = dataset
        self.aws_conn_id = aws_conn_id

    def _received(self, context: Any) -> list[Any]:
        from include.data.published import ReceivedEvent

        received = []
        for asset, events in context["triggering_asset_events"].items():
            for event in events:
                extra = dict(event.extra or {})
                watcher = bool(extra.get("from_trigger"))
                source = "the announcement watcher" if watcher else "the REST API or another DAG"
                received.append(
                    ReceivedEvent(
                        extra=extra.get("payload") if watcher else extra,
                        received_at=event.timestamp.isoformat(),
                        where=f"asset event on {getattr(asset, 'name', asset)!r} at {event.timestamp.isoformat()} "
                        f"from {source}",
                    )
                )
        return received

    def _advance_cursor(self, context: Any, through: str | None) -> None:
        """Tell the watcher these announcements were taken (it starts after them when it restarts)."""
        from include.data.published import stream_id_key

        if not through:
            return
        state = context["asset_state_store"][self.asset]
        current = state.get(CURSOR_KEY)
        if current is None or stream_id_key(str(current)) < stream_id_key(through):
            state.set(CURSOR_KEY, through)

    def execute(self, context: Any) -> dict[str, Any] | None:
        from include.data.published import DatasetEventError, DatasetVersionRecord, announced_through, resolve

        received = self._received(context)
        if not received:
            self.log.info("no asset event triggered this run: it runs on its Params")
            return None  # no XCom: from_dataset_version falls back to the Params
        store = ArtifactStoreHook(self.aws_conn_id).get_store()
        dag_id, run_id = self.dag_id, context["run_id"]
        try:
            resolution = resolve(store, DatasetVersionRecord(), dag_id, run_id, self.dataset, received)
        except DatasetEventError as exc:
            self._advance_cursor(context, announced_through(received))
            raise AirflowFailException(f"nothing ran: {exc}") from exc
        self._advance_cursor(context, resolution.announced_through)
        version = resolution.chosen
        assert version is not None
        if resolution.superseded:
            self.log.info(
                "%d older version(s) of %s in this burst superseded by %s: %s",
                len(resolution.superseded),
                self.dataset,
                version.sha256,
                ", ".join(resolution.superseded),
            )
        if resolution.duplicate_of:
            from include.data.published import write_duplicate_summary
            from include.store.artifacts import safe_key_part

            prefix = f"runs/{safe_key_part(dag_id)}/{safe_key_part(run_id)}"
            summary = write_duplicate_summary(store, prefix, version, resolution)
            raise AirflowSkipException(
                f"{self.dataset} version {version.sha256} was already processed by run {resolution.duplicate_of}: "
                f"nothing runs and nothing is spent (summary {summary.manifest_uri})"
            )
        self.log.info("running on %s version %s (%s)", self.dataset, version.sha256, version.manifest_uri)
        return {**resolution.overrides, "dataset_version": version.announcement()}
