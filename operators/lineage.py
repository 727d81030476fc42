"""OpenLineage for qflow's stage tasks (apache-airflow-providers-openlineage).

Every stage operator reports what it stored and what from as S3 datasets (namespace
``s3://<bucket>``, name the object key, as OpenLineage names S3 objects), from the manifests it
wrote — the records ``qflow lineage show`` walks — with two custom facets:

- ``qflow_artifact`` on each dataset: the object's SHA-256 and its manifest's URI (none for a raw
  source) and the stage that wrote it;
- ``qflow_quantum`` on the run of a quantum stage: backend, provider job ids, shots, transpiler
  settings and fallback tier.

Their JSON schema is ``docs/openlineage/qflow-facets.json``. Nothing here runs unless OpenLineage
is configured (``[openlineage] transport``; the provider is disabled without one): the provider
calls ``get_openlineage_facets_on_complete`` after a task succeeds (``ArtifactStageOperator``), in
a process it forks, so the task keeps its lineage in memory beforehand (``stored``). No secret is
read into a facet: only the manifest's own fields, which hold none.
"""

from __future__ import annotations

from typing import Any

import attr
from openlineage.client.generated.base import Dataset, DatasetFacet, RunFacet

from include.store.artifacts import ArtifactRef, split_s3_uri
from include.store.lineage import StageLineage

SCHEMA = "https://github.com/qflow/qflow/blob/main/docs/openlineage/qflow-facets.json"


@attr.define
class QflowArtifactDatasetFacet(DatasetFacet):
    sha256: str
    manifestUri: str | None = None  # OpenLineage facets are camelCase
    stage: str | None = None

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA}#/$defs/QflowArtifactDatasetFacet"


@attr.define
class QflowQuantumRunFacet(RunFacet):
    backend: str | None
    providerJobIds: list[str] = attr.field(factory=list)
    shots: int | None = None
    transpiler: dict[str, Any] | None = None
    fallbackTier: int | None = None

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA}#/$defs/QflowQuantumRunFacet"


def s3_dataset(ref: ArtifactRef, stage: str | None = None) -> Dataset:
    bucket, key = split_s3_uri(ref.uri)
    facet = QflowArtifactDatasetFacet(sha256=ref.sha256, manifestUri=ref.manifest_uri, stage=stage)
    return Dataset(namespace=f"s3://{bucket}", name=key, facets={"qflow_artifact": facet})


def operator_lineage(lineage: StageLineage) -> Any:
    """The provider's ``OperatorLineage`` of one task: its inputs, its outputs and (quantum stages)
    the run facet. (The provider's extractors import ~0.9 s of Airflow: only here, when asked.)"""
    from airflow.providers.openlineage.extractors import OperatorLineage

    run_facets: dict[str, Any] = {}
    if lineage.quantum is not None:
        q = lineage.quantum
        run_facets["qflow_quantum"] = QflowQuantumRunFacet(
            backend=q["backend"],
            providerJobIds=list(q["provider_job_ids"]),
            shots=int(q["shots"]) if q["shots"] is not None else None,
            transpiler=q["transpiler"],
            fallbackTier=q["fallback_tier"],
        )
    return OperatorLineage(
        inputs=[s3_dataset(ref) for ref in lineage.inputs],
        outputs=[s3_dataset(ref, stage) for stage, ref in lineage.outputs],
        run_facets=run_facets,
    )
