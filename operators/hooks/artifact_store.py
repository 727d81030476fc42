"""ArtifactStoreHook: the artifact store behind an Airflow AWS connection (default `qflow_s3`).

The connection holds the S3 keys (masked in logs by Airflow) and, in its extra, `endpoint_url`
and `bucket`. The keys never leave the hook: manifests and XCom carry URIs and hashes only.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from include.store.artifacts import ArtifactStore

DEFAULT_CONN_ID = "qflow_s3"


class ArtifactStoreHook(BaseHook):
    conn_name_attr = "aws_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "aws"
    hook_name = "qflow artifact store"

    def __init__(self, aws_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id

    def bucket(self) -> str:
        extra = self.get_connection(self.aws_conn_id).extra_dejson
        bucket = extra.get("bucket") or os.environ.get("QFLOW_S3_BUCKET")
        if not bucket:
            raise ValueError(
                f'connection {self.aws_conn_id!r} names no bucket: add "bucket" to its extra or set QFLOW_S3_BUCKET'
            )
        return str(bucket)

    def get_conn(self) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id).get_conn()

    def get_store(self) -> ArtifactStore:
        from include.store.artifacts import ArtifactStore

        return ArtifactStore(self.get_conn(), self.bucket())
