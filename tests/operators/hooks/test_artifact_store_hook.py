from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from include.store.config import S3Settings
from operators.hooks.artifact_store import ArtifactStoreHook


def test_hook_builds_a_working_store_from_the_airflow_connection(s3_settings: S3Settings, prefix: str) -> None:
    store = ArtifactStoreHook().get_store()
    assert store.bucket == s3_settings.bucket
    ref = store.put_table(prefix, "hook", pd.DataFrame({"x": [1, 2]}), stage="hook")
    assert store.read_table(ref)["x"].tolist() == [1, 2]


def test_hook_without_a_bucket_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch, s3_settings: S3Settings) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_QFLOW_S3"])
    conn["extra"].pop("bucket")
    monkeypatch.setenv("AIRFLOW_CONN_QFLOW_NOBUCKET", json.dumps(conn))
    monkeypatch.delenv("QFLOW_S3_BUCKET")
    with pytest.raises(ValueError, match="'qflow_nobucket' names no bucket"):
        ArtifactStoreHook("qflow_nobucket").get_store()


def test_wrong_credentials_are_refused_by_the_real_server(
    monkeypatch: pytest.MonkeyPatch, s3_settings: S3Settings
) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_QFLOW_S3"])
    conn["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_QFLOW_BADKEY", json.dumps(conn))
    store = ArtifactStoreHook("qflow_badkey").get_store()
    with pytest.raises(Exception, match=r"AccessDenied|SignatureDoesNotMatch|Forbidden|403"):
        store.get_bytes(store.uri("anything"))
