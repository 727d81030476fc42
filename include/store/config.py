"""Where the artifact store is, read from the environment (dev defaults match `make demo`).

Inside Airflow the S3 settings come from the `qflow_s3` connection instead (see
`operators.hooks.artifact_store`); this module serves the CLI, tests and benchmarks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

DEV_ACCESS_KEY = "qflow"
DEV_SECRET_KEY = "qflow-dev-secret"  # only ever used against the local SeaweedFS


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def __repr__(self) -> str:  # never print the secret
        return f"S3Settings(endpoint_url={self.endpoint_url!r}, bucket={self.bucket!r}, access_key=***)"


def s3_settings_from_env() -> S3Settings:
    return S3Settings(
        endpoint_url=os.environ.get("QFLOW_S3_ENDPOINT", "http://127.0.0.1:8333"),
        bucket=os.environ.get("QFLOW_S3_BUCKET", "qflow"),
        access_key=os.environ.get("AWS_ACCESS_KEY_ID", DEV_ACCESS_KEY),
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", DEV_SECRET_KEY),
        region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )


def s3_client(settings: S3Settings | None = None) -> Any:
    """A boto3 S3 client for the configured endpoint (path-style, as SeaweedFS expects)."""
    import boto3
    from botocore.config import Config

    settings = settings or s3_settings_from_env()
    return boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        region_name=settings.region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}),
    )
