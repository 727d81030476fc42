"""The `qflow` command: lineage inspection and run summaries against the artifact store."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from include.store.artifacts import ArtifactError, ArtifactStore
from include.store.config import s3_client, s3_settings_from_env


def store_from_env() -> ArtifactStore:
    settings = s3_settings_from_env()
    return ArtifactStore(s3_client(settings), settings.bucket)


def serve_emulator(args: argparse.Namespace) -> int:
    """`qflow emulator serve`: validate the settings, then run the job service until stopped."""
    from include.emulator import execution
    from include.emulator.faults import FaultConfigError, parse_faults
    from include.emulator.service import ServiceSettings, serve

    if args.workers < 1:
        print(f"error: --workers must be at least 1, got {args.workers}", file=sys.stderr)
        return 2
    try:
        faults = parse_faults(args.faults or os.environ.get("QFLOW_JOBSERVICE_FAULTS") or "{}")
    except FaultConfigError as exc:
        print(f"error: --faults: {exc}", file=sys.stderr)
        return 2
    if args.noise:  # workers are spawned later and read it from the environment
        os.environ["QFLOW_JOBSERVICE_NOISE"] = args.noise
    backend = args.backend or os.environ.get("QFLOW_JOBSERVICE_BACKEND") or execution.DEFAULT_BACKEND
    try:
        execution.fake_backend(backend)
    except ValueError as exc:
        print(f"error: --backend: {exc}", file=sys.stderr)
        return 2
    state_dir = Path(os.environ.get("QFLOW_STATE_DIR", ".qflow"))
    db = Path(args.db or os.environ.get("QFLOW_JOBSERVICE_DB") or state_dir / "jobservice.sqlite")
    settings = ServiceSettings(db_path=db, backend=backend, workers=args.workers, faults=faults)
    serve(settings, host=args.host, port=args.port)
    return 0


def sa_url_safe(url: str) -> str:
    """A database URL without its password, for printing."""
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


def cluster_command(args: argparse.Namespace) -> int:
    from include.deploy.cluster import ClusterError, default_cluster

    cluster = default_cluster()
    if args.action == "down":
        cluster.stop(say=print)
        return 0
    if args.action == "status":
        status = cluster.status()
        for name, pid in status.items():
            print(f"{name:20} {'pid ' + str(pid) if pid else 'not running'}")
        return 0 if all(status.values()) else 1
    try:
        cluster.start(fresh=args.fresh)
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    cfg = cluster.config
    print(
        f"Airflow UI: {cfg.base_url}  (user: admin, password: {cluster.password() or 'see ' + str(cfg.passwords_file)})"
    )
    print(
        f"  CeleryExecutor: {cfg.workers} workers x {cfg.worker_concurrency} slots, {cfg.triggerers} triggerers; "
        f"metadata DB {sa_url_safe(cfg.airflow_db_url)}, broker {sa_url_safe(cfg.redis)}"
    )
    print(f"  ledgers: {sa_url_safe(cfg.ledger_url)}")
    print(f"  S3: {cfg.s3_endpoint} bucket {cfg.bucket}; job service: {cfg.jobservice_url}")
    print(f"  logs: {cluster.log_dir}; `make down` stops it")
    return 0


def dataset_command(args: argparse.Namespace) -> int:
    from include.data.announcements import redis_url, stream_for
    from include.data.published import DatasetVersionRecord, announce, publish

    if args.action == "history":
        for rec in DatasetVersionRecord().history(args.dag_id, args.name):
            print(f"{rec.dag_id}\t{rec.dataset}\t{rec.sha256[:12]}\t{rec.state}\t{rec.run_id}\t{rec.detail}")
        return 0
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"error: FILE {args.file!r}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        version = publish(store_from_env(), args.name, data, args.file)
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.no_announce:
        import redis

        try:
            entry = announce(redis_url(), version)
        except redis.RedisError as exc:
            print(
                f"stored {version.manifest_uri}, but could not announce it on {stream_for(args.name)} "
                f"({exc}); start Redis or set QFLOW_REDIS_URL, then publish again (nothing is stored twice)",
                file=sys.stderr,
            )
            return 1
        print(f"announced on {stream_for(args.name)} as {entry}", file=sys.stderr)
    print(json.dumps(version.announcement()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qflow", description="qflow: hybrid quantum-classical workflows")
    commands = parser.add_subparsers(dest="command", required=True)
    lineage = commands.add_parser("lineage", help="inspect the manifest chain of an artifact")
    lineage_cmds = lineage.add_subparsers(dest="action", required=True)
    for action, text in (
        ("show", "print the chain of manifests back to the raw input as a tree"),
        ("verify", "re-hash every object in the chain; exit 1 on any mismatch"),
    ):
        sub = lineage_cmds.add_parser(action, help=text)
        sub.add_argument("uri", help="s3:// URI of an artifact's data.parquet or manifest.json")
    summary = commands.add_parser(
        "summary", help="print a run's human summary (qaoa_maxcut, portfolio_optimisation or vqc_classifier)"
    )
    summary.add_argument("uri", nargs="?", help="summary manifest URI (default: the latest run's)")
    summary.add_argument("--dag-id", default="qaoa_maxcut")
    latest = commands.add_parser("latest", help="print the latest run's summary manifest URI")
    latest.add_argument("--dag-id", default="qaoa_maxcut")
    emulator = commands.add_parser("emulator", help="the local quantum job service")
    emulator_cmds = emulator.add_subparsers(dest="action", required=True)
    serve = emulator_cmds.add_parser("serve", help="run the job service (HTTP API, SQLite jobs, Aer workers)")
    serve.add_argument("--port", type=int, default=int(os.environ.get("QFLOW_JOBSERVICE_PORT", "8790")))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--db", help="SQLite file (default $QFLOW_STATE_DIR/jobservice.sqlite)")
    serve.add_argument("--workers", type=int, default=1, help="Aer worker processes (default 1)")
    serve.add_argument("--backend", default=None, help="fake backend whose noise model to use (fake_manila)")
    serve.add_argument("--faults", help="fault configuration as JSON (or env QFLOW_JOBSERVICE_FAULTS)")
    serve.add_argument(
        "--noise",
        choices=("on", "off"),
        default=None,
        help="simulate the backend's noise model (default on; env QFLOW_JOBSERVICE_NOISE)",
    )
    pools = commands.add_parser("pools", help="write the policy's Airflow pools as an `airflow pools import` file")
    pools.add_argument("file", help="where to write the JSON (then: airflow pools import FILE)")
    ledger = commands.add_parser("ledger", help="the ledger database (jobs, spend, pending work, quantum value)")
    ledger_cmds = ledger.add_subparsers(dest="action", required=True)
    ledger_cmds.add_parser(
        "init", help="create the database (PostgreSQL) and the tables of QFLOW_LEDGER_URL if missing"
    )
    cluster = commands.add_parser(
        "cluster", help="the one-machine cluster: CeleryExecutor, PostgreSQL, Redis, SeaweedFS"
    )
    cluster_cmds = cluster.add_subparsers(dest="action", required=True)
    cluster_up = cluster_cmds.add_parser("up", help="start what is not running and wait until it is ready")
    cluster_up.add_argument("--fresh", action="store_true", help="drop its databases and state first")
    cluster_cmds.add_parser("down", help="stop every component (Airflow first, storage last)")
    cluster_cmds.add_parser("status", help="each component and its PID")
    dataset = commands.add_parser("dataset", help="published data sets: new versions that start runs")
    dataset_cmds = dataset.add_subparsers(dest="action", required=True)
    publish = dataset_cmds.add_parser(
        "publish", help="store FILE as a new version of data set NAME in S3, then announce it on Redis"
    )
    publish.add_argument("name", help="the data set (maxcut_graph, portfolio_prices, classifier_table)")
    publish.add_argument("file", help="a Parquet (or, where the data set takes it, CSV) file")
    publish.add_argument(
        "--no-announce",
        action="store_true",
        help="store only; announce it yourself (POST /api/v2/assets/events with the printed JSON as extra)",
    )
    history = dataset_cmds.add_parser("history", help="which run took which version (processed, superseded, ...)")
    history.add_argument("--dag-id")
    history.add_argument("--name")
    args = parser.parse_args(argv)
    if args.command == "dataset":
        return dataset_command(args)
    if args.command == "cluster":
        return cluster_command(args)
    if args.command == "ledger":
        from include.governance.ledger import default_ledger_url, init_ledger

        url = default_ledger_url()
        for line in init_ledger(url):
            print(f"{sa_url_safe(url)}: {line}")
        return 0
    if args.command == "emulator":
        return serve_emulator(args)
    if args.command == "pools":
        from include.governance.policy import airflow_pools_json, load_policy

        Path(args.file).write_text(json.dumps(airflow_pools_json(load_policy()), indent=2))
        return 0

    from include.store import lineage as lineage_mod
    from include.summary import format_summary, latest_summary_uri

    store = store_from_env()
    try:
        if args.command == "lineage" and args.action == "show":
            print(lineage_mod.render(lineage_mod.walk(store, args.uri)))
            return 0
        if args.command == "lineage":
            problems = lineage_mod.verify(store, args.uri)
            for problem in problems:
                print(f"MISMATCH {problem}", file=sys.stderr)
            if problems:
                return 1
            print(f"verified: every object in the lineage of {args.uri} matches its recorded SHA-256")
            return 0
        uri = getattr(args, "uri", None) or latest_summary_uri(store, args.dag_id)
        if uri is None:
            print(f"no summary found under s3://{store.bucket}/runs/{args.dag_id}/", file=sys.stderr)
            return 1
        print(uri if args.command == "latest" else format_summary(store, uri))
        return 0
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
