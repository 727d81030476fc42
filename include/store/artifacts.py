"""The artifact store: every stage's output as deterministic Parquet in S3, plus a lineage manifest.

Layout of one artifact under ``s3://<bucket>/<prefix>/<name>/``::

    data.parquet      the stage's table (the artifact itself)
    <attachment>      optional extra objects (e.g. ``ansatz.qpy``), hashed in the manifest
    manifest.json     written LAST: content SHA-256s, input hashes, params, seeds, code version, schema

An artifact whose manifest is missing is incomplete and is never read as if it were done.
Reading verifies the SHA-256 of every object against the manifest; a mismatch names the object.
"""

from __future__ import annotations

import hashlib
import io
import json
import mimetypes
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from include.store.versions import code_version

MANIFEST_NAME = "manifest.json"
DATA_NAME = "data.parquet"
MANIFEST_FORMAT = 1


class ArtifactError(Exception):
    """Base class for artifact-store errors."""


class IncompleteArtifactError(ArtifactError):
    """The object exists (or not) but has no manifest: it was never completed."""


class TamperedArtifactError(ArtifactError):
    """An object's bytes do not match the SHA-256 its manifest records."""


@dataclass(frozen=True)
class ArtifactRef:
    """What travels between tasks (XCom): URIs and hashes, never data."""

    uri: str
    sha256: str
    manifest_uri: str | None = None  # None for a raw source object with no manifest

    def to_xcom(self) -> dict[str, str | None]:
        return {"uri": self.uri, "sha256": self.sha256, "manifest_uri": self.manifest_uri}

    @classmethod
    def from_xcom(cls, value: Mapping[str, Any]) -> ArtifactRef:
        try:
            return cls(uri=value["uri"], sha256=value["sha256"], manifest_uri=value.get("manifest_uri"))
        except (KeyError, TypeError) as exc:
            raise ArtifactError(f"expected an artifact reference with 'uri' and 'sha256', got {value!r}") from exc


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split_s3_uri(uri: str) -> tuple[str, str]:
    match = re.fullmatch(r"s3://([^/]+)/(.+)", uri)
    if not match:
        raise ArtifactError(f"not an S3 URI: {uri!r} (expected s3://bucket/key)")
    return match.group(1), match.group(2)


def manifest_uri_for(uri: str) -> str:
    """The manifest beside an artifact's data object (or the manifest URI itself)."""
    if uri.endswith("/" + MANIFEST_NAME):
        return uri
    return uri.rsplit("/", 1)[0] + "/" + MANIFEST_NAME


def safe_key_part(text: str) -> str:
    """Make a run id or label usable as one S3 key segment (run ids contain ':' and '+')."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip("_") or "_"


def parquet_bytes(df: pd.DataFrame) -> bytes:
    """Serialise deterministically: no pandas/arrow schema metadata, fixed writer options.

    Column order and row order are the caller's (sort before calling); with them fixed,
    the same frame gives byte-identical Parquet on the same library versions.
    """
    table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        compression_level=3,
        use_dictionary=False,
        write_statistics=False,
        store_schema=False,
        data_page_version="2.0",
    )
    return sink.getvalue()


def read_parquet_bytes(data: bytes) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(data)).to_pandas()


def schema_of(df: pd.DataFrame) -> list[dict[str, str]]:
    table = pa.Table.from_pandas(df, preserve_index=False)
    return [{"name": field.name, "type": str(field.type)} for field in table.schema]


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, indent=2, default=str).encode()


class ArtifactStore:
    """One small API over an S3 bucket for writing and reading stage artifacts."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        # Every manifest this store wrote, in order: (its URI, the manifest). A task's lineage for
        # tools that read it (OpenLineage) is what its stages stored, without reading S3 back.
        self.manifests_written: list[tuple[str, dict[str, Any]]] = []

    # -- raw objects ---------------------------------------------------------------------
    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put_bytes(self, uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        bucket, key = split_s3_uri(uri)
        self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    def get_bytes(self, uri: str) -> bytes:
        bucket, key = split_s3_uri(uri)
        try:
            body: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise ArtifactError(f"object not found: {uri}") from exc
        return body

    def exists(self, uri: str) -> bool:
        bucket, key = split_s3_uri(uri)
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def delete(self, uri: str) -> None:
        bucket, key = split_s3_uri(uri)
        self.client.delete_object(Bucket=bucket, Key=key)

    def list_uris(self, prefix_uri: str) -> list[str]:
        bucket, prefix = split_s3_uri(prefix_uri)
        uris: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            uris.extend(f"s3://{bucket}/{item['Key']}" for item in page.get("Contents", []))
        return sorted(uris)

    def child_prefixes(self, prefix_uri: str) -> list[str]:
        """The "folders" directly under ``prefix_uri`` (S3 common prefixes; no object listing)."""
        bucket, prefix = split_s3_uri(prefix_uri)
        prefix = prefix.rstrip("/") + "/"
        found: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            found.extend(f"s3://{bucket}/{item['Prefix']}" for item in page.get("CommonPrefixes", []))
        return sorted(found)

    def source_ref(self, uri: str) -> ArtifactRef:
        """Reference an input object, pinning its current content hash. A published data-set version
        (include.data.published) has a manifest beside it that records this object: the reference
        names it, so lineage reaches the publication. A raw object has none."""
        sha256 = sha256_hex(self.get_bytes(uri))
        manifest_uri = manifest_uri_for(uri)
        if manifest_uri != uri and self.exists(manifest_uri):
            artifact = self.read_manifest(manifest_uri).get("artifact", {})
            if artifact.get("uri") == uri and artifact.get("sha256") == sha256:
                return ArtifactRef(uri=uri, sha256=sha256, manifest_uri=manifest_uri)
        return ArtifactRef(uri=uri, sha256=sha256, manifest_uri=None)

    # -- artifacts -----------------------------------------------------------------------
    def put_table(
        self,
        prefix: str,
        name: str,
        df: pd.DataFrame,
        *,
        stage: str,
        inputs: Sequence[ArtifactRef] = (),
        params: Mapping[str, Any] | None = None,
        seeds: Mapping[str, Any] | None = None,
        attachments: Mapping[str, bytes] | None = None,
        measurements: Mapping[str, Any] | None = None,
        nondeterministic_columns: Sequence[str] = (),
    ) -> ArtifactRef:
        """Write ``df`` (and attachments) then the manifest, last. Returns the reference.

        ``measurements`` (timings, iteration counts) describe this execution; they go in the
        manifest but never into the hashed content. Columns listed in
        ``nondeterministic_columns`` are measured values (seconds) that differ between runs.
        """
        base = self.uri(f"{prefix.strip('/')}/{safe_key_part(name)}")
        data_uri = f"{base}/{DATA_NAME}"
        manifest_uri = f"{base}/{MANIFEST_NAME}"
        # A rewrite (task retry) first withdraws the old manifest, so nobody can pair the old
        # manifest with half-written new data.
        if self.exists(manifest_uri):
            self.delete(manifest_uri)
        data = parquet_bytes(df)
        data_sha256 = sha256_hex(data)
        self.put_bytes(data_uri, data)
        files = []
        for att_name, att_bytes in sorted((attachments or {}).items()):
            att_uri = f"{base}/{safe_key_part(att_name)}"
            # A content type lets a browser open an attachment (an HTML report, its images) in place.
            self.put_bytes(att_uri, att_bytes, mimetypes.guess_type(att_name)[0] or "application/octet-stream")
            files.append({"name": att_name, "uri": att_uri, "sha256": sha256_hex(att_bytes), "bytes": len(att_bytes)})
        manifest = {
            "qflow_manifest": MANIFEST_FORMAT,
            "stage": stage,
            "artifact": {
                "uri": data_uri,
                "sha256": data_sha256,
                "bytes": len(data),
                "rows": len(df),
                "schema": schema_of(df),
                "nondeterministic_columns": list(nondeterministic_columns),
            },
            "files": files,
            "inputs": [ref.to_xcom() for ref in inputs],
            "params": dict(params or {}),
            "seeds": dict(seeds or {}),
            "code_version": code_version(),
            "measurements": dict(measurements or {}),
        }
        self.put_bytes(manifest_uri, canonical_json(manifest), content_type="application/json")
        self.manifests_written.append((manifest_uri, manifest))
        return ArtifactRef(uri=data_uri, sha256=data_sha256, manifest_uri=manifest_uri)

    def read_manifest(self, uri: str) -> dict[str, Any]:
        """The manifest of an artifact, given its data URI or its manifest URI."""
        manifest_uri = manifest_uri_for(uri)
        bucket, key = split_s3_uri(manifest_uri)
        try:
            raw = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise IncompleteArtifactError(
                f"{uri} has no manifest at {manifest_uri}: the stage that writes it did not finish; re-run that stage"
            ) from exc
        manifest: dict[str, Any] = json.loads(raw)
        return manifest

    def _verified(self, uri: str, expected_sha256: str) -> bytes:
        data = self.get_bytes(uri)
        actual = sha256_hex(data)
        if actual != expected_sha256:
            raise TamperedArtifactError(
                f"{uri}: SHA-256 {actual} does not match {expected_sha256} recorded in its manifest; "
                "the object was changed after it was written — re-run the stage that produced it"
            )
        return data

    def read_table(self, ref: ArtifactRef | str) -> pd.DataFrame:
        """Read an artifact's table, verifying its hash (and the caller's pinned hash, if any)."""
        uri = ref if isinstance(ref, str) else ref.uri
        manifest = self.read_manifest(uri)
        recorded = manifest["artifact"]["sha256"]
        if isinstance(ref, ArtifactRef) and ref.sha256 != recorded:
            raise TamperedArtifactError(
                f"{uri}: manifest records SHA-256 {recorded} but the reference pins {ref.sha256}; "
                "the artifact was rewritten after this run referenced it"
            )
        return read_parquet_bytes(self._verified(manifest["artifact"]["uri"], recorded))

    def read_attachment(self, ref: ArtifactRef | str, name: str) -> bytes:
        uri = ref if isinstance(ref, str) else ref.uri
        manifest = self.read_manifest(uri)
        for entry in manifest["files"]:
            if entry["name"] == name:
                return self._verified(entry["uri"], entry["sha256"])
        raise ArtifactError(f"{uri} has no attachment named {name!r}")
