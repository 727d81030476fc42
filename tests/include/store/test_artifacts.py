from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from include.cli import main as qflow_main
from include.store.artifacts import (
    ArtifactRef,
    ArtifactStore,
    IncompleteArtifactError,
    TamperedArtifactError,
    parquet_bytes,
    sha256_hex,
)
from include.store.lineage import render, verify, walk


def frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"u": np.arange(5), "v": np.arange(1, 6), "weight": rng.random(5), "tag": list("abcde")})


def test_parquet_is_byte_identical_for_the_same_frame_and_differs_for_another() -> None:
    assert parquet_bytes(frame(0)) == parquet_bytes(frame(0))
    assert parquet_bytes(frame(0)) != parquet_bytes(frame(1))


def test_parquet_carries_no_pandas_or_arrow_schema_metadata() -> None:
    import io

    import pyarrow.parquet as pq

    metadata = pq.read_metadata(io.BytesIO(parquet_bytes(frame())))
    assert not (metadata.metadata or {}), metadata.metadata


def test_same_inputs_give_identical_hashes_across_writes(store: ArtifactStore, prefix: str) -> None:
    a = store.put_table(f"{prefix}/a", "graph", frame(), stage="graph", params={"n": 5}, seeds={"graph": 1})
    b = store.put_table(f"{prefix}/b", "graph", frame(), stage="graph", params={"n": 5}, seeds={"graph": 1})
    assert a.sha256 == b.sha256 == sha256_hex(store.get_bytes(a.uri))
    assert a.uri != b.uri


def test_manifest_records_hashes_inputs_params_seeds_code_version_and_schema(store: ArtifactStore, prefix: str) -> None:
    raw_uri = store.uri(f"{prefix}/raw.parquet")
    store.put_bytes(raw_uri, parquet_bytes(frame()))
    source = store.source_ref(raw_uri)
    ref = store.put_table(
        prefix,
        "clean",
        frame(),
        stage="clean",
        inputs=[source],
        params={"scale": 2},
        seeds={"split": 3},
        attachments={"note.txt": b"hello"},
    )
    manifest = store.read_manifest(ref.uri)
    assert manifest["artifact"]["sha256"] == ref.sha256
    assert manifest["inputs"] == [source.to_xcom()]
    assert manifest["params"] == {"scale": 2} and manifest["seeds"] == {"split": 3}
    assert manifest["code_version"]["qiskit"] and manifest["code_version"]["git"]
    assert [c["name"] for c in manifest["artifact"]["schema"]] == ["u", "v", "weight", "tag"]
    assert manifest["files"][0]["sha256"] == sha256_hex(b"hello")
    assert store.read_attachment(ref, "note.txt") == b"hello"
    pd.testing.assert_frame_equal(store.read_table(ref), frame())


def test_tampered_object_is_an_error_naming_the_object(store: ArtifactStore, prefix: str) -> None:
    ref = store.put_table(prefix, "graph", frame(), stage="graph")
    store.put_bytes(ref.uri, parquet_bytes(frame(9)))
    with pytest.raises(TamperedArtifactError, match=ref.uri.replace(".", r"\.")):
        store.read_table(ref.uri)


def test_reference_pinning_an_old_hash_is_refused(store: ArtifactStore, prefix: str) -> None:
    old = store.put_table(prefix, "graph", frame(0), stage="graph")
    store.put_table(prefix, "graph", frame(1), stage="graph")  # rewritten with a new manifest
    with pytest.raises(TamperedArtifactError, match="pins"):
        store.read_table(old)


def test_artifact_without_manifest_is_never_read_as_complete(store: ArtifactStore, prefix: str) -> None:
    uri = store.uri(f"{prefix}/half/data.parquet")
    store.put_bytes(uri, parquet_bytes(frame()))
    with pytest.raises(IncompleteArtifactError, match="no manifest"):
        store.read_table(uri)


def test_xcom_reference_round_trip_and_bad_reference() -> None:
    ref = ArtifactRef("s3://b/k/data.parquet", "ab" * 32, "s3://b/k/manifest.json")
    assert ArtifactRef.from_xcom(json.loads(json.dumps(ref.to_xcom()))) == ref
    with pytest.raises(Exception, match="'uri' and 'sha256'"):
        ArtifactRef.from_xcom({"path": "x"})


def _chain(store: ArtifactStore, prefix: str) -> tuple[str, ArtifactRef, ArtifactRef]:
    raw_uri = store.uri(f"{prefix}/raw.parquet")
    store.put_bytes(raw_uri, parquet_bytes(frame()))
    first = store.put_table(prefix, "first", frame(1), stage="first", inputs=[store.source_ref(raw_uri)])
    second = store.put_table(prefix, "second", frame(2), stage="second", inputs=[first], params={"k": 1})
    return raw_uri, first, second


def test_lineage_walks_back_to_the_raw_input_and_renders_a_tree(store: ArtifactStore, prefix: str) -> None:
    raw_uri, first, second = _chain(store, prefix)
    tree = walk(store, second.manifest_uri or "")
    assert tree.inputs[0].uri == first.uri
    assert tree.inputs[0].inputs[0].uri == raw_uri and tree.inputs[0].inputs[0].manifest is None
    text = render(tree)
    assert "[second]" in text and "[first]" in text and "[raw source]" in text and "k=1" in text
    assert verify(store, second.uri) == []


def test_lineage_verify_detects_tampering_anywhere_in_the_chain(store: ArtifactStore, prefix: str) -> None:
    raw_uri, _, second = _chain(store, prefix)
    store.put_bytes(raw_uri, b"not the original")
    problems = verify(store, second.uri)
    assert len(problems) == 1 and raw_uri in problems[0]


def test_cli_lineage_verify_exit_codes(store: ArtifactStore, prefix: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, first, second = _chain(store, prefix)
    assert qflow_main(["lineage", "verify", second.uri]) == 0
    assert qflow_main(["lineage", "show", second.uri]) == 0
    assert "[first]" in capsys.readouterr().out
    store.put_bytes(first.uri, parquet_bytes(frame(7)))
    assert qflow_main(["lineage", "verify", second.uri]) == 1
    assert f"MISMATCH {first.uri}" in capsys.readouterr().err
