"""ArtifactStageOperator: the shared shape of a qflow stage task.

A stage reads artifact references from XCom, calls one function of `include/`, and returns the
new artifact's reference (URI and hash) — never data. Bad input (a problem-spec or validation
error) fails the task at once without retries: retrying cannot fix data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from operators.hooks.artifact_store import DEFAULT_CONN_ID, ArtifactStoreHook
from operators.links import ArtifactManifestLink, DataDocsLink

if TYPE_CHECKING:
    from include.store.artifacts import ArtifactRef, ArtifactStore


class ArtifactStageOperator(BaseOperator):
    ui_color = "#e8f1fb"
    operator_extra_links = (ArtifactManifestLink(),)

    def __init__(self, *, aws_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id

    def run_prefix(self, context: Mapping[str, Any]) -> str:
        """Artifacts of one DAG run live under runs/<dag_id>/<run_id>/."""
        from include.store.artifacts import safe_key_part

        return f"runs/{safe_key_part(self.dag_id)}/{safe_key_part(context['run_id'])}"

    @staticmethod
    def ref(value: Mapping[str, Any]) -> ArtifactRef:
        from include.store.artifacts import ArtifactRef

        return ArtifactRef.from_xcom(value)

    def execute(self, context: Any) -> dict[str, str | None]:
        store = ArtifactStoreHook(self.aws_conn_id).get_store()
        try:
            produced = self.run_stage(store, self.run_prefix(context), context)
        except Exception as exc:
            if fails_fast(exc):
                raise AirflowFailException(str(exc)) from exc
            raise
        self.log.info("wrote %s (sha256 %s); manifest %s", produced.uri, produced.sha256, produced.manifest_uri)
        return self.stored(store, produced)

    def stored(self, store: ArtifactStore, produced: ArtifactRef) -> dict[str, str | None]:
        """What the task returns for the artifact it stored (its XCom reference). Where OpenLineage
        is configured, the task's lineage is taken here from the manifests its stages wrote: the
        provider asks for it in a forked process, which must not call back into Airflow or S3."""
        from airflow.providers.openlineage.conf import is_disabled  # light: the provider's own check

        if not is_disabled() and produced.manifest_uri:
            from include.store.lineage import stage_lineage

            written = list(store.manifests_written)
            if produced.manifest_uri not in {uri for uri, _ in written}:  # not written by this store: reused
                written = [(produced.manifest_uri, store.read_manifest(produced.manifest_uri))]
            self._stage_lineage = stage_lineage(written)
        return produced.to_xcom()

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        raise NotImplementedError

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage (called by the provider after success, only where it is configured): the
        stage's inputs and output, from the manifest of the artifact this task stored."""
        from operators.lineage import operator_lineage

        lineage = getattr(self, "_stage_lineage", None)
        return operator_lineage(lineage) if lineage is not None else None


class ValidationStageOperator(ArtifactStageOperator):
    """A stage that runs a Great Expectations suite: its report and GX Data Docs are stored (the
    "GX Data Docs" link), and when the suite fails the stored report's ref is pushed before the
    task fails, so the link works on the failed task too. A failure stops the run before any
    quantum work."""

    ui_color = "#fff4d6"
    # The base declares only the manifest link; validations add their Data Docs.
    operator_extra_links = (ArtifactManifestLink(), DataDocsLink())  # type: ignore[assignment]

    def execute(self, context: Any) -> dict[str, str | None]:
        from include.data.validation import ValidationFailed
        from operators.links import FAILED_REPORT_KEY

        try:
            return super().execute(context)
        except AirflowFailException as exc:
            failed = exc.__cause__
            if isinstance(failed, ValidationFailed) and failed.artifact is not None:
                context["ti"].xcom_push(key=FAILED_REPORT_KEY, value=failed.artifact.to_xcom())
            raise


def fails_fast(exc: BaseException) -> bool:
    """True for errors a retry cannot fix — bad data or parameters, a failed validation, an
    artifact that does not match its manifest, a circuit the backend cannot run, refused
    credentials or budget. Everything else (a killed process, S3 or a provider down) is left to
    the DAG's infrastructure retries (``operators.retries``)."""
    from include.data.validation import ValidationFailed
    from include.governance.fallback import FallbackConfigError
    from include.governance.policy import PolicyError
    from include.problems.maxcut import ProblemSpecError
    from include.quantum.backends.errors import QuantumError
    from include.quantum.circuits.qaoa import QAOAConfigError
    from include.quantum.loops.engine import LoopConfigError
    from include.quantum.loops.optimiser import ReplayDiverged
    from include.quantum.loops.qaoa_angles import AngleError
    from include.store.artifacts import TamperedArtifactError

    permanent = (
        ProblemSpecError,
        ValidationFailed,
        QAOAConfigError,
        AngleError,
        LoopConfigError,
        ReplayDiverged,
        PolicyError,
        FallbackConfigError,
        TamperedArtifactError,
    )
    if isinstance(exc, permanent):
        return True
    return isinstance(exc, QuantumError) and not exc.retryable


def refs(values: Sequence[Mapping[str, Any]]) -> list[ArtifactRef]:
    return [ArtifactStageOperator.ref(v) for v in values]
