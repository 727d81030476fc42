"""Published data sets: content-addressed versions in S3, announced on a Redis stream, and the record
of which version each workload processed (so a burst becomes one run and a repeat runs nothing).

A version of data set ``NAME`` lives under ``s3://<bucket>/datasets/<NAME>/<sha256>/``: the file as
given (``data.parquet`` or ``data.csv``; its SHA-256 is the version's name) and ``manifest.json``,
written last — the same manifest shape every stage writes, so ``qflow lineage show|verify`` read it
and the runs that consume it link to it. A version without its manifest was never completed.

Announcements go on one Redis stream per data set (``<prefix>:<NAME>``; ``XADD``, trimmed to the last
10,000). The stream is the delivery log: a reader that was away reads on from where the last run
left off (docs/datasets.md). The records (``qflow_dataset_versions`` in the ledger database) say,
per consuming DAG, which run took which version, which were superseded by a newer one in the same
burst, which were duplicates of a version already processed, and which were rejected and why.

Nothing here imports Airflow: the trigger (operators/triggers/dataset_announcement.py) and the
consuming task (operators/operators/datasets.py) are thin layers over it.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from include.data.announcements import STREAM_MAX_LENGTH, stream_for
from include.governance.ledger import ledger_engine
from include.store.artifacts import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    ArtifactError,
    ArtifactRef,
    ArtifactStore,
    IncompleteArtifactError,
    canonical_json,
    sha256_hex,
)
from include.store.versions import code_version

DATASETS_PREFIX = "datasets"
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")


class DatasetEventError(ArtifactError):
    """A publication or an announcement that cannot be processed: the message names the field and the fix."""


@dataclass(frozen=True)
class DatasetSpec:
    """A data set qflow knows: what its file must be and which Params of the consuming DAG a version sets."""

    name: str
    consumer: str  # the DAG that runs when a version is announced
    formats: tuple[str, ...]
    required_columns: tuple[str, ...]
    description: str
    overrides: Callable[[str, Mapping[str, Any]], dict[str, Any]]  # (data URI, manifest) → Params
    # What the manifest records of a version's table beyond its shape (e.g. an edge list's node count).
    describe: Callable[[Any], dict[str, Any]] = lambda frame: {}


def _edge_list_size(frame: Any) -> dict[str, Any]:
    """An edge list's node count: the problem's size (the largest node id + 1)."""
    return {"n_nodes": int(max(frame["u"].max(), frame["v"].max())) + 1}


def _edge_list_overrides(uri: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
    return {"edge_list_uri": uri, "n_nodes": int(manifest["params"]["n_nodes"])}


def _classifier_table_overrides(uri: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
    return {"dataset": "s3", "data_uri": uri}


def _price_table_overrides(uri: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
    return {"data_uri": uri}


CATALOGUE: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="maxcut_graph",
            consumer="qaoa_maxcut",
            formats=("parquet",),
            required_columns=("u", "v"),
            description="a MaxCut problem: a Parquet edge list (u, v, optional weight); qaoa_maxcut re-optimises",
            overrides=_edge_list_overrides,
            describe=_edge_list_size,
        ),
        DatasetSpec(
            name="portfolio_prices",
            consumer="portfolio_optimisation",
            formats=("parquet", "csv"),
            required_columns=("date",),
            description="daily prices (a 'date' column, one price column per ticker); portfolio_optimisation "
            "re-optimises",
            overrides=_price_table_overrides,
        ),
        DatasetSpec(
            name="classifier_table",
            consumer="vqc_classifier",
            formats=("parquet", "csv"),
            required_columns=(),
            description="a labelled table (Parquet or CSV; sample_id, features, label); vqc_classifier retrains",
            overrides=_classifier_table_overrides,
        ),
    )
}


def dataset_spec(name: Any) -> DatasetSpec:
    if not isinstance(name, str) or name not in CATALOGUE:
        raise DatasetEventError(
            f"dataset={name!r} is not a data set qflow knows; publish to one of {sorted(CATALOGUE)} "
            "(include/data/published.py CATALOGUE)"
        )
    return CATALOGUE[name]


def version_prefix(store: ArtifactStore, name: str, sha256: str) -> str:
    return store.uri(f"{DATASETS_PREFIX}/{name}/{sha256}")


@dataclass(frozen=True)
class DatasetVersion:
    """One stored, complete version: what an announcement names and a run consumes."""

    dataset: str
    sha256: str
    uri: str
    manifest_uri: str
    published_at: str

    def announcement(self) -> dict[str, str]:
        """The fields announced on the stream — and the ``extra`` of a REST asset event."""
        return {
            "dataset": self.dataset,
            "sha256": self.sha256,
            "uri": self.uri,
            "manifest_uri": self.manifest_uri,
            "published_at": self.published_at,
        }


def _format_of(filename: str, spec: DatasetSpec) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix not in spec.formats:
        raise DatasetEventError(
            f"file {filename!r}: data set {spec.name!r} takes {' or '.join(spec.formats)} files "
            f"(name the file *.{spec.formats[0]})"
        )
    return suffix


def _read(data: bytes, fmt: str, filename: str) -> Any:
    import pandas as pd
    import pyarrow.parquet as pq

    try:
        if fmt == "parquet":
            return pq.read_table(io.BytesIO(data)).to_pandas()
        return pd.read_csv(io.BytesIO(data))
    except Exception as exc:  # pyarrow / the CSV parser raise many kinds for a corrupt file
        raise DatasetEventError(f"file {filename!r} is not a readable {fmt} file: {exc}") from exc


def publish(store: ArtifactStore, name: str, data: bytes, filename: str) -> DatasetVersion:
    """Store ``data`` as a version of data set ``name`` (content-addressed; the manifest last).

    Publishing the same bytes again finds the complete version and writes nothing. The table is
    read once to check it is one (and has the columns its consumer needs); the consuming DAG's
    Great Expectations suite judges the values.
    """
    spec = dataset_spec(name)
    fmt = _format_of(filename, spec)
    frame = _read(data, fmt, filename)
    missing = [c for c in spec.required_columns if c not in frame.columns]
    if missing:
        raise DatasetEventError(
            f"file {filename!r} has no column(s) {missing}; data set {name!r} needs {list(spec.required_columns)}"
        )
    if frame.empty:
        raise DatasetEventError(f"file {filename!r} has no rows; publish a table with data")
    sha256 = sha256_hex(data)
    base = version_prefix(store, name, sha256)
    data_uri, manifest_uri = f"{base}/data.{fmt}", f"{base}/{MANIFEST_NAME}"
    if store.exists(manifest_uri):
        existing = store.read_manifest(manifest_uri)
        return DatasetVersion(name, sha256, data_uri, manifest_uri, str(existing["params"]["published_at"]))
    published_at = datetime.now(UTC).isoformat()
    params: dict[str, Any] = {"dataset": name, "source_file": os.path.basename(filename), "format": fmt}
    params["published_at"] = published_at
    params.update(spec.describe(frame))
    store.put_bytes(data_uri, data, "application/vnd.apache.parquet" if fmt == "parquet" else "text/csv")
    manifest = {
        "qflow_manifest": MANIFEST_FORMAT,
        "stage": "dataset",
        "artifact": {
            "uri": data_uri,
            "sha256": sha256,
            "bytes": len(data),
            "rows": len(frame),
            "schema": [{"name": str(c), "type": str(t)} for c, t in frame.dtypes.items()],
            "nondeterministic_columns": [],
        },
        "files": [],
        "inputs": [],
        "params": params,
        "seeds": {},
        "code_version": code_version(),
        "measurements": {},
    }
    store.put_bytes(manifest_uri, canonical_json(manifest), content_type="application/json")
    return DatasetVersion(name, sha256, data_uri, manifest_uri, published_at)


def stored_version(store: ArtifactStore, name: str, sha256: str) -> tuple[DatasetVersion, dict[str, Any]]:
    """The complete version ``sha256`` of ``name``, its bytes checked against its name and manifest."""
    dataset_spec(name)
    if not isinstance(sha256, str) or not SHA256_PATTERN.fullmatch(sha256):
        raise DatasetEventError(f"sha256={sha256!r} is not a SHA-256 hex digest (64 lowercase hex characters)")
    manifest_uri = f"{version_prefix(store, name, sha256)}/{MANIFEST_NAME}"
    try:
        manifest = store.read_manifest(manifest_uri)
    except IncompleteArtifactError as exc:
        objects = store.list_uris(version_prefix(store, name, sha256) + "/")
        found = f"it holds {objects} but no manifest" if objects else "nothing is stored there"
        raise DatasetEventError(
            f"dataset {name!r} version {sha256}: {found} ({manifest_uri}); the version was not published "
            f"completely — publish it with `qflow dataset publish {name} FILE`"
        ) from exc
    uri = str(manifest["artifact"]["uri"])
    actual = sha256_hex(store.get_bytes(uri))
    if actual != sha256 or manifest["artifact"]["sha256"] != sha256:
        raise DatasetEventError(
            f"dataset {name!r} version {sha256}: the stored object {uri} hashes to {actual} "
            f"(its manifest records {manifest['artifact']['sha256']}); the object was changed after it was "
            "published — publish the file again"
        )
    version = DatasetVersion(name, sha256, uri, manifest_uri, str(manifest["params"].get("published_at", "")))
    return version, manifest


# -- announcements ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Announcement:
    """One announced version, as a run received it (from the stream, or a REST asset event)."""

    dataset: str
    sha256: str
    published_at: str
    stream_id: str | None  # None for a REST event


def stream_id_key(stream_id: str | None) -> tuple[int, int]:
    if not stream_id:
        return (-1, -1)
    ms, _, seq = stream_id.partition("-")
    return (int(ms), int(seq or 0))


def parse_announcement(fields: Any, where: str, stream_id: str | None = None) -> Announcement:
    """Check one announcement's fields; a malformed one names what is wrong and where it came from."""
    if not isinstance(fields, Mapping):
        raise DatasetEventError(
            f"{where}: an announcement must be an object with 'dataset' and 'sha256', got {fields!r}"
        )
    for key in ("dataset", "sha256"):
        if not isinstance(fields.get(key), str) or not fields.get(key):
            raise DatasetEventError(
                f"{where}: field {key!r} is missing or not a string in {dict(fields)!r}; send "
                '{"dataset": NAME, "sha256": HEX} (what `qflow dataset publish` prints)'
            )
    dataset_spec(fields["dataset"])
    if not SHA256_PATTERN.fullmatch(str(fields["sha256"])):
        raise DatasetEventError(
            f"{where}: sha256={fields['sha256']!r} is not a SHA-256 hex digest (64 lowercase hex characters)"
        )
    return Announcement(str(fields["dataset"]), str(fields["sha256"]), str(fields.get("published_at", "")), stream_id)


def _sid(item: Any) -> str | None:
    return str(item["stream_id"]) if isinstance(item, Mapping) and item.get("stream_id") else None


@dataclass(frozen=True)
class ReceivedEvent:
    """One asset event as the consuming run received it."""

    extra: Any
    received_at: str  # when Airflow recorded the event (ISO 8601): orders events of different sources
    where: str  # names the event in messages (asset event id, source)


@dataclass(frozen=True)
class _Item:
    received_at: str
    stream_id: str | None
    announcement: Announcement | None
    error: DatasetEventError | None

    def order(self) -> tuple[str, tuple[int, int]]:
        return (self.received_at, stream_id_key(self.stream_id))


def _items(event: ReceivedEvent) -> list[_Item]:
    extra = event.extra
    if isinstance(extra, Mapping) and "announcements" in extra:
        batch = extra["announcements"]
        if not isinstance(batch, list) or not batch:
            error = DatasetEventError(f"{event.where}: 'announcements' must be a non-empty list, got {batch!r}")
            return [_Item(event.received_at, None, None, error)]
        raw: list[tuple[Any, str | None]] = [
            (item.get("fields") if isinstance(item, Mapping) else item, _sid(item)) for item in batch
        ]
    else:
        raw = [(extra, None)]
    items = []
    for fields, sid in raw:
        try:
            items.append(_Item(event.received_at, sid, parse_announcement(fields, event.where, sid), None))
        except DatasetEventError as exc:
            items.append(_Item(event.received_at, sid, None, exc))
    return items


def announced_through(events: Sequence[ReceivedEvent]) -> str | None:
    """The newest stream position among the events, bad announcements included (they were received)."""
    ids = [item.stream_id for event in events for item in _items(event) if item.stream_id]
    return max(ids, key=stream_id_key) if ids else None


@dataclass(frozen=True)
class Resolution:
    """What a consuming run does with the versions it was triggered by."""

    chosen: DatasetVersion | None  # None: no events (a manual run), the run uses its Params
    overrides: dict[str, Any]  # the Params the chosen version sets
    duplicate_of: str | None  # the run that already processed the chosen content: this one runs nothing
    superseded: list[str]  # older versions in the same burst (sha256s)
    announced_through: str | None  # the newest stream position among the events (the watcher's cursor)


def resolve(
    store: ArtifactStore,
    record: DatasetVersionRecord,
    dag_id: str,
    run_id: str,
    dataset: str,
    events: Sequence[ReceivedEvent],
) -> Resolution:
    """Take the newest announced version among ``events``: check it is stored whole and untampered,
    claim it (or find the run that already processed the same content), and record the others as
    superseded. The newest announcement being bad fails the run (nothing quantum runs); older bad
    ones are recorded as rejected."""
    items = sorted((item for event in events for item in _items(event)), key=_Item.order, reverse=True)
    through = announced_through(events)
    if not items:
        return Resolution(None, {}, None, [], through)
    newest, older = items[0], items[1:]
    rejected = [
        (
            "?" if item.announcement is None else item.announcement.dataset,
            item.announcement.sha256 if item.announcement else "?",
            REJECTED,
            str(item.error),
        )
        for item in older
        if item.error is not None
    ]
    try:
        if newest.error is not None:
            raise newest.error
        assert newest.announcement is not None
        if newest.announcement.dataset != dataset:
            raise DatasetEventError(
                f"dataset={newest.announcement.dataset!r} was announced on the asset of data set {dataset!r}; "
                f"post it to the asset {newest.announcement.dataset!r} instead"
            )
        version, manifest = stored_version(store, dataset, newest.announcement.sha256)
    except DatasetEventError as exc:
        sha = newest.announcement.sha256 if newest.announcement else "?"
        name = newest.announcement.dataset if newest.announcement else dataset
        record.record(dag_id, run_id, [*rejected, (name, sha, REJECTED, str(exc))])
        raise
    superseded = [
        item.announcement.sha256
        for item in older
        if item.announcement is not None and item.announcement.sha256 != version.sha256
    ]
    holder = record.claim(dag_id, dataset, version.sha256, run_id)
    duplicate_of = None if holder == run_id else holder
    entries = [
        *rejected,
        *((dataset, sha, SUPERSEDED, f"superseded by {version.sha256}") for sha in dict.fromkeys(superseded)),
    ]
    if duplicate_of:
        entries.append((dataset, version.sha256, DUPLICATE, f"already processed by run {duplicate_of}"))
    else:
        entries.append((dataset, version.sha256, PROCESSED, version.uri))
    record.record(dag_id, run_id, entries)
    spec = dataset_spec(dataset)
    return Resolution(
        version, spec.overrides(version.uri, manifest), duplicate_of, list(dict.fromkeys(superseded)), through
    )


def announce(redis_url: str, version: DatasetVersion, stream_prefix: str | None = None) -> str:
    """``XADD`` the version to its data set's stream; returns the stream entry id."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=10)
    try:
        entry = client.xadd(
            stream_for(version.dataset, stream_prefix),
            dict[Any, Any](version.announcement()),
            maxlen=STREAM_MAX_LENGTH,
            approximate=True,
        )
    finally:
        client.close()
    return entry.decode() if isinstance(entry, bytes) else str(entry)


# -- the record of what each workload processed ------------------------------------------------

metadata = sa.MetaData()
versions = sa.Table(
    "qflow_dataset_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("dataset", sa.String(64), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # PROCESSED | SUPERSEDED | DUPLICATE | REJECTED
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_qflow_dataset_versions_lookup", "dag_id", "dataset", "sha256"),
)
# At most one run processes a version for a DAG: the claim is an INSERT only one writer can win.
processed_claims = sa.Table(
    "qflow_dataset_processed",
    metadata,
    sa.Column("dag_id", sa.String(250), primary_key=True),
    sa.Column("dataset", sa.String(64), primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
)

PROCESSED, SUPERSEDED, DUPLICATE, REJECTED = "PROCESSED", "SUPERSEDED", "DUPLICATE", "REJECTED"


@dataclass(frozen=True)
class VersionRecord:
    dag_id: str
    dataset: str
    sha256: str
    state: str
    run_id: str
    detail: str


class DatasetVersionRecord:
    """Which run of which DAG took which version — the de-duplication and the audit of a burst."""

    def __init__(self, url: str | None = None, engine: sa.Engine | None = None) -> None:
        self.engine = engine or ledger_engine(url)
        metadata.create_all(self.engine)

    def claim(self, dag_id: str, dataset: str, sha256: str, run_id: str) -> str:
        """Claim the version for ``run_id``; returns the run that holds the claim (this one, a retry
        of this one, or the earlier run that already processed the same content)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    processed_claims.insert().values(
                        dag_id=dag_id, dataset=dataset, sha256=sha256, run_id=run_id, claimed_at=datetime.now(UTC)
                    )
                )
            return run_id
        except IntegrityError:
            with self.engine.connect() as conn:
                holder = conn.execute(
                    sa.select(processed_claims.c.run_id).where(
                        processed_claims.c.dag_id == dag_id,
                        processed_claims.c.dataset == dataset,
                        processed_claims.c.sha256 == sha256,
                    )
                ).scalar_one()
            return str(holder)

    def record(self, dag_id: str, run_id: str, entries: Iterable[tuple[str, str, str, str]]) -> None:
        """Record (dataset, sha256, state, detail) rows for ``run_id``, once each (a retried task
        records nothing twice)."""
        rows = list(entries)
        if not rows:
            return
        with self.engine.begin() as conn:
            known = {
                (r.dataset, r.sha256, r.state)
                for r in conn.execute(
                    sa.select(versions.c.dataset, versions.c.sha256, versions.c.state).where(
                        versions.c.dag_id == dag_id, versions.c.run_id == run_id
                    )
                )
            }
            fresh = [
                dict(
                    dag_id=dag_id,
                    dataset=d,
                    sha256=s,
                    state=state,
                    run_id=run_id,
                    detail=detail,
                    recorded_at=datetime.now(UTC),
                )
                for d, s, state, detail in rows
                if (d, s, state) not in known
            ]
            if fresh:
                conn.execute(versions.insert(), fresh)

    def history(self, dag_id: str | None = None, dataset: str | None = None) -> list[VersionRecord]:
        query = sa.select(versions).order_by(versions.c.id)
        if dag_id:
            query = query.where(versions.c.dag_id == dag_id)
        if dataset:
            query = query.where(versions.c.dataset == dataset)
        with self.engine.connect() as conn:
            return [
                VersionRecord(r.dag_id, r.dataset, r.sha256, r.state, r.run_id, r.detail) for r in conn.execute(query)
            ]


def write_duplicate_summary(
    store: ArtifactStore, prefix: str, version: DatasetVersion, resolution: Resolution
) -> ArtifactRef:
    """The run's summary when its version was already processed: what it would have run on, and which
    run did (``qflow summary`` prints it)."""
    import pandas as pd

    row = {
        "status": "duplicate",
        "dataset": version.dataset,
        "sha256": version.sha256,
        "processed_by_run": resolution.duplicate_of or "",
        "superseded": len(resolution.superseded),
    }
    return store.put_table(
        prefix,
        "summary",
        pd.DataFrame([row]),
        stage="summary",
        inputs=[ArtifactRef(version.uri, version.sha256, version.manifest_uri)],
        params={"status": "duplicate", "superseded": resolution.superseded},
    )
