"""The artifact browser the extra links open by default: the api-server serves the artifact store.

Mounted by the qflow plugin at ``/qflow/artifacts`` on Airflow's api-server, so a link works
wherever the UI does (the SeaweedFS filer's own browser on :8888 is not published by every
deployment). ``GET /qflow/artifacts/<bucket>/<key>`` streams the object from the `qflow_s3`
connection's bucket with a content type from its name (a manifest as JSON, Data Docs and the
benchmark report as HTML, whose relative image links resolve beside it). The caller must be
logged in to Airflow (the UI's session cookie, or ``Authorization: Bearer`` from ``/auth/token``).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from typing import Any

from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import StreamingResponse

URL_PREFIX = "/qflow/artifacts"

app = FastAPI(title="qflow artifact browser", docs_url=None, redoc_url=None, openapi_url=None)


def _content_type(key: str) -> str:
    if key.endswith((".json", ".jsonl")):
        return "application/json"
    if key.endswith(".parquet"):
        return "application/vnd.apache.parquet"
    guessed, _ = mimetypes.guess_type(key)
    if guessed and guessed.startswith("text/"):
        return f"{guessed}; charset=utf-8"
    return guessed or "application/octet-stream"


@app.get("/{bucket}/{key:path}", dependencies=[Depends(get_user)])
def artifact(bucket: str, key: str) -> StreamingResponse:
    from botocore.exceptions import ClientError

    from operators.hooks.artifact_store import ArtifactStoreHook

    hook = ArtifactStoreHook()
    if bucket != hook.bucket():
        raise HTTPException(status_code=404, detail=f"bucket {bucket!r} is not the artifact store's")
    try:
        obj: dict[str, Any] = hook.get_conn().get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            raise HTTPException(status_code=404, detail=f"s3://{bucket}/{key} does not exist") from exc
        raise

    def chunks() -> Iterator[bytes]:
        yield from obj["Body"].iter_chunks(64 * 1024)

    headers = {"X-Content-Type-Options": "nosniff", "Content-Length": str(obj["ContentLength"])}
    return StreamingResponse(chunks(), media_type=_content_type(key), headers=headers)
