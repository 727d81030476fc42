"""Static checks of the distributed deployment: docker-compose.yaml and the Dockerfile.

No Docker engine runs here, so these tests parse the files and check that the parts agree with
each other: one image for every qflow service, built from this repo; a CeleryExecutor cluster wired
to services that exist; a SeaweedFS cluster (master, volume servers, filer, S3 gateway) started in
order; and a `qflow_s3` connection that reaches the S3 gateway with the keys, port and bucket it
actually uses. Variables are interpolated the way Compose does (`${NAME:-default}`), from their
defaults unless a test passes its own values.

And the compose file against `make up-cluster` (include/deploy/cluster.py): the same shape —
executor, databases, broker, Celery config, ledger, connections, pools, S3 settings, triggerer,
worker and volume server counts, SeaweedFS replication — read out of both through
`deployment_settings`, so that the two deployments cannot drift apart.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from include.deploy.cluster import SEAWEEDFS_REPLICATION, Cluster, ClusterConfig, deployment_settings

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
LOCK_FILE = REPO / "requirements.lock"

THIRD_PARTY_SERVICES = {"postgres", "redis"}  # official images of their own
S3_SERVICE = "seaweedfs-s3"  # the S3 gateway, named as make up-cluster's component
# The SeaweedFS services, named as make up-cluster's components, each running `weed <role>`.
SEAWEEDFS_SERVICES = {
    "seaweedfs-master": "master",
    "seaweedfs-volume-1": "volume",
    "seaweedfs-volume-2": "volume",
    "seaweedfs-filer": "filer",
    S3_SERVICE: "s3",
}
AIRFLOW_COMMANDS = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-worker": ["celery", "worker"],
    "airflow-triggerer": ["triggerer"],
}
JOB_SERVICE = "qflow-jobservice"
EXPECTED_SERVICES = {
    *THIRD_PARTY_SERVICES,
    *SEAWEEDFS_SERVICES,
    "seaweedfs-init",
    JOB_SERVICE,
    "airflow-init",
    *AIRFLOW_COMMANDS,
}
S3_CONN_VAR = "AIRFLOW_CONN_QFLOW_S3"
WEED_DEFAULT_S3_PORT = "8333"  # `weed s3 -port` default
KEY_VARS = {"login": "AWS_ACCESS_KEY_ID", "password": "AWS_SECRET_ACCESS_KEY"}

Compose = dict[str, Any]

# --- Compose-style interpolation -----------------------------------------------------------------

_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str, env: Mapping[str, str] | None = None) -> str:
    """Substitute `${NAME:-default}`, `${NAME-default}`, `${NAME}` and `$NAME` as Compose does;
    `$$` is a literal `$`. Unset names without a default become ""."""
    env = env or {}

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["named"]
        value = env.get(name)
        if match["op"] == ":-" and not value:
            return match["default"]
        if match["op"] == "-" and value is None:
            return match["default"]
        return value or ""

    return _VAR.sub(substitute, text)


def interpolate_all(node: Any, env: Mapping[str, str] | None = None) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: interpolate_all(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_all(item, env) for item in node]
    return node


def test_interpolate_follows_compose_rules() -> None:
    assert interpolate("${A:-x}/${B-y}/${C}/$D/$$E", {}) == "x/y///$E"
    assert interpolate("${A:-x}/${B-y}/${C}/$D", {"A": "1", "B": "", "C": "3", "D": "4"}) == "1//3/4"
    assert interpolate("${A:-x}", {"A": ""}) == "x", "`:-` must also replace an empty value"


# --- Reading the files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_compose() -> Compose:
    """docker-compose.yaml as YAML (anchors and `<<` merges resolved), not yet interpolated."""
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict) and isinstance(loaded.get("services"), dict), (
        f"{COMPOSE_FILE.name} has no `services:` mapping"
    )
    # A JSON round trip un-shares the objects YAML aliases share, so one service can be edited alone.
    unshared: Compose = json.loads(json.dumps(loaded))
    return unshared


@pytest.fixture(scope="module")
def dockerfile_text() -> str:
    assert DOCKERFILE.is_file(), f"{DOCKERFILE} is missing: the compose file builds its image from it"
    return DOCKERFILE.read_text()


def services_of(compose: Compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


def airflow_services(compose: Compose) -> list[str]:
    return sorted(name for name in services_of(compose) if name.startswith("airflow-"))


def env_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a dict (Compose also accepts a list of NAME=value)."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {str(key): "" if value is None else str(value) for key, value in environment.items()}


def args_of(value: Any) -> list[str]:
    """`command`/`entrypoint` as an argument list (the string form is split like a shell would)."""
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(item) for item in value]


def weed_command(args: Sequence[str]) -> tuple[str, dict[str, str]] | None:
    """The role (`master`, `volume`, `filer`, `s3`, ...) and the `-name=value` / `-name value` flags
    of the `weed` command in an argument list; None when it runs no `weed`."""
    weeds = [i for i, arg in enumerate(args) if Path(arg).name == "weed"]
    if not weeds or weeds[0] + 1 >= len(args):
        return None
    role = args[weeds[0] + 1]
    flags: dict[str, str] = {}
    rest = list(args[weeds[0] + 2 :])
    for i, arg in enumerate(rest):
        if not arg.startswith("-"):
            continue
        name, sep, value = arg.lstrip("-").partition("=")
        if not sep:
            following = rest[i + 1] if i + 1 < len(rest) else ""
            value = "true" if not following or following.startswith("-") else following
        flags[name] = value
    return role, flags


def weed_of(service: Mapping[str, Any], name: str) -> tuple[str, dict[str, str]]:
    """What `weed` command a service runs (entrypoint + command), or fail saying it runs none."""
    args = args_of(service.get("entrypoint")) + args_of(service.get("command"))
    command = weed_command(args)
    assert command, f"the {name} service does not run `weed <role>` (entrypoint + command: {args})"
    return command


def weed_flags(service: Mapping[str, Any], name: str = S3_SERVICE) -> dict[str, str]:
    return weed_of(service, name)[1]


def seaweedfs_roles(compose: Compose) -> dict[str, tuple[str, dict[str, str]]]:
    """Every service that runs `weed`: name -> (role, flags)."""
    out = {}
    for name, service in services_of(compose).items():
        command = weed_command(args_of(service.get("entrypoint")) + args_of(service.get("command")))
        if command:
            out[name] = command
    return out


def replicas_of(service: Mapping[str, Any]) -> int:
    """How many containers Compose starts for a service (`deploy.replicas`, else `scale`, else 1)."""
    deploy = service.get("deploy") or {}
    return int(deploy.get("replicas", service.get("scale", 1)))


def container_ports(service: Mapping[str, Any]) -> set[str]:
    """Container-side ports a service exposes or publishes (short and long syntax)."""
    ports: set[str] = {str(port).split("/")[0] for port in service.get("expose") or []}
    for entry in service.get("ports") or []:
        target = entry.get("target") if isinstance(entry, dict) else str(entry).rsplit(":", 1)[-1]
        ports.add(str(target).split("/")[0])
    return ports


def s3_connection(service: Mapping[str, Any], name: str) -> dict[str, Any]:
    raw = env_of(service).get(S3_CONN_VAR)
    assert raw, f"{name} has no {S3_CONN_VAR}: its tasks could not reach the artifact store"
    try:
        conn = json.loads(raw)
    except json.JSONDecodeError as error:
        pytest.fail(f"{S3_CONN_VAR} of {name} is not valid JSON ({error}): {raw!r}")
    assert isinstance(conn, dict) and isinstance(conn.get("extra"), dict), (
        f"{S3_CONN_VAR} of {name} must be a JSON object with an `extra` object: {raw!r}"
    )
    return conn


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    if pending:
        logical.append(pending)
    return [(parts[0].upper(), parts[1] if len(parts) > 1 else "") for parts in (s.split(None, 1) for s in logical)]


# --- (a) services --------------------------------------------------------------------------------


def test_compose_defines_the_expected_services(raw_compose: Compose) -> None:
    present = set(services_of(raw_compose))
    missing = sorted(EXPECTED_SERVICES - present)
    assert not missing, f"docker-compose.yaml lacks the services {missing} (it has {sorted(present)})"


# --- (b) one image, built from this repo ---------------------------------------------------------


def test_every_qflow_service_runs_the_one_image_built_from_this_repo(raw_compose: Compose) -> None:
    services = services_of(interpolate_all(raw_compose))
    images = {name: svc.get("image") for name, svc in services.items() if name not in THIRD_PARTY_SERVICES}
    assert images, "no Airflow/SeaweedFS services found"
    unset = sorted(name for name, image in images.items() if not image)
    assert not unset, f"services {unset} set no `image:`; every qflow service must run the qflow image"
    distinct = set(images.values())
    assert len(distinct) == 1, f"Airflow/SeaweedFS services must share one image, found {images}"
    image = distinct.pop()
    assert not str(image).startswith("apache/airflow"), (
        f"services run the upstream image {image!r}, which lacks qflow's code and dependencies"
    )

    builds = {name: svc["build"] for name, svc in services.items() if "build" in svc}
    no_build = sorted(set(airflow_services(raw_compose)) - set(builds))
    assert not no_build, f"Airflow services {no_build} have no `build:`, so {image!r} would not be built"
    for name, build in builds.items():
        context = build if isinstance(build, str) else build.get("context", ".")
        assert (COMPOSE_FILE.parent / context).resolve() == REPO, (
            f"{name} builds {image!r} from {context!r}, not from this repo's root"
        )
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert dockerfile == "Dockerfile", f"{name} builds from {dockerfile!r}, not ./Dockerfile"


# --- (c) the Celery cluster ----------------------------------------------------------------------


def test_every_airflow_service_uses_the_celery_executor(raw_compose: Compose) -> None:
    services = services_of(interpolate_all(raw_compose))
    names = airflow_services(raw_compose)
    assert set(AIRFLOW_COMMANDS) <= set(names), f"Airflow services missing: {set(AIRFLOW_COMMANDS) - set(names)}"
    executors = {name: env_of(services[name]).get("AIRFLOW__CORE__EXECUTOR") for name in names}
    wrong = {name: value for name, value in executors.items() if value != "CeleryExecutor"}
    assert not wrong, f"AIRFLOW__CORE__EXECUTOR must be CeleryExecutor on every Airflow service: {wrong}"


@pytest.mark.parametrize(
    "variable",
    ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND"],
)
def test_airflow_services_share_db_and_broker_on_compose_hosts(raw_compose: Compose, variable: str) -> None:
    services = services_of(interpolate_all(raw_compose))
    names = airflow_services(raw_compose)
    envs = {name: env_of(services[name]) for name in names}
    values = {name: env.get(variable) for name, env in envs.items()}
    assert len(set(values.values())) == 1, f"{variable} differs between Airflow services: {values}"
    url = next(iter(values.values()))
    assert url, f"{variable} is not set on the Airflow services"
    host = urlsplit(url).hostname
    assert host in services, f"{variable}={url!r} names host {host!r}, which is no service in the file"
    assert host not in names and host != S3_SERVICE, f"{variable} points at {host!r}, not a DB/broker service"


def test_airflow_services_reach_the_api_server_and_share_its_secrets(raw_compose: Compose) -> None:
    services = services_of(interpolate_all(raw_compose))
    envs = {name: env_of(services[name]) for name in airflow_services(raw_compose)}
    for variable in ("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "AIRFLOW__API_AUTH__JWT_SECRET"):
        values = {name: env.get(variable) for name, env in envs.items()}
        assert len(set(values.values())) == 1 and all(values.values()), (
            f"{variable} must be set, and the same, on every Airflow service: {values}"
        )
    url = urlsplit(envs["airflow-apiserver"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert url.hostname == "airflow-apiserver", f"the execution API URL targets {url.hostname!r}"
    assert str(url.port) in container_ports(services["airflow-apiserver"]), (
        f"the execution API URL uses port {url.port}, which airflow-apiserver does not publish"
    )
    assert url.path.rstrip("/") == "/execution", f"the execution API lives under /execution/, not {url.path!r}"


def test_airflow_services_wait_for_their_dependencies(raw_compose: Compose) -> None:
    services = services_of(raw_compose)
    required = {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        S3_SERVICE: "service_healthy",
        "airflow-init": "service_completed_successfully",
    }
    assert "healthcheck" in services[S3_SERVICE], f"{S3_SERVICE} needs a healthcheck to be waited for"
    for name in AIRFLOW_COMMANDS:
        depends_on = services[name].get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions, got {depends_on}"
        conditions = {dep: (depends_on.get(dep) or {}).get("condition") for dep in required}
        assert conditions == required, f"{name} must wait for {required}, but waits for {conditions}"


# --- (c2) the SeaweedFS cluster ------------------------------------------------------------------

# Flags that differ by design between a container and a process beside others on one machine:
# addresses, ports and directories. Every other flag must be make up-cluster's.
PLACEMENT_FLAGS = {"ip", "ip.bind", "port", "port.grpc", "dir", "mdir", "defaultStoreDir", "master", "mserver", "filer"}
WEED_DEFAULT_PORTS = {"master": "9333", "volume": "8080", "filer": "8888", "s3": WEED_DEFAULT_S3_PORT}
# What each role waits for, healthy: the master, then the volume servers, the filer, the S3 gateway.
ROLE_WAITS_FOR = {"master": set(), "volume": {"master"}, "filer": {"master", "volume"}, "s3": {"filer"}}
# Where each stateful role keeps its data (the S3 gateway keeps none).
ROLE_DATA_FLAG = {"master": "mdir", "volume": "dir", "filer": "defaultStoreDir"}


@pytest.fixture(scope="module")
def cluster_weed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, dict[str, str]]]:
    """make up-cluster's SeaweedFS components: name -> (role, flags), as Cluster.components() runs them."""
    cluster = Cluster(ClusterConfig(state_dir=tmp_path_factory.mktemp("cluster-weed")))
    return {comp.name: command for comp in cluster.components() if (command := weed_command(comp.argv))}


def test_seaweedfs_services_mirror_make_up_cluster(
    raw_compose: Compose, cluster_weed: dict[str, tuple[str, dict[str, str]]]
) -> None:
    services = services_of(interpolate_all(raw_compose))
    compose_weed = seaweedfs_roles(raw_compose)
    assert set(compose_weed) == set(cluster_weed), (
        f"docker-compose.yaml runs `weed` as {sorted(compose_weed)}, make up-cluster as {sorted(cluster_weed)}"
    )
    assert {name: role for name, (role, _) in cluster_weed.items()} == SEAWEEDFS_SERVICES, (
        "make up-cluster's SeaweedFS components changed: update SEAWEEDFS_SERVICES and the compose file"
    )
    for name, (role, flags) in compose_weed.items():
        cluster_role, cluster_flags = cluster_weed[name]
        assert role == cluster_role, f"{name} runs `weed {role}`, make up-cluster's runs `weed {cluster_role}`"
        ours = {k: v for k, v in flags.items() if k not in PLACEMENT_FLAGS}
        theirs = {k: v for k, v in cluster_flags.items() if k not in PLACEMENT_FLAGS}
        assert ours == theirs, f"{name} runs `weed {role}` with {ours}, make up-cluster's {name} with {theirs}"
        assert replicas_of(services[name]) == 1, (
            f"{name} must run once: each SeaweedFS server is one identity (-ip) with its own data"
        )


def test_seaweedfs_services_start_in_order_and_find_each_other(raw_compose: Compose) -> None:
    compose = interpolate_all(raw_compose)
    services = services_of(compose)
    roles = seaweedfs_roles(compose)
    by_role: dict[str, list[str]] = {}
    for name, (role, _) in roles.items():
        by_role.setdefault(role, []).append(name)
    assert set(by_role) == set(ROLE_WAITS_FOR), f"the SeaweedFS roles are {by_role}, expected {set(ROLE_WAITS_FOR)}"
    assert len(by_role["master"]) == 1 and len(by_role["filer"]) == 1, f"one master and one filer: {by_role}"

    def address(role: str) -> str:
        name = by_role[role][0]
        return f"{name}:{roles[name][1].get('port', WEED_DEFAULT_PORTS[role])}"

    data_volumes: dict[str, str] = {}
    for name, (role, flags) in roles.items():
        service = services[name]
        port = flags.get("port", WEED_DEFAULT_PORTS[role])
        check = " ".join(args_of((service.get("healthcheck") or {}).get("test")))
        assert f"http://localhost:{port}/" in check, (
            f"{name} needs a healthcheck on its own port {port} to be waited for, has {check!r}"
        )
        depends_on = service.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions, got {depends_on}"
        waits = {dep for dep, spec in depends_on.items() if (spec or {}).get("condition") == "service_healthy"}
        required = {dep for needed in ROLE_WAITS_FOR[role] for dep in by_role[needed]}
        assert required <= waits, f"{name} (`weed {role}`) must wait for healthy {sorted(required)}, waits for {waits}"
        assert flags.get("ip.bind") == "0.0.0.0", f"{name} must listen on 0.0.0.0 to be reachable: {flags}"
        if role != "s3":
            # What a server tells the others to call it by: its service name.
            assert flags.get("ip") == name, f"{name} must advertise itself as -ip={name}, not {flags.get('ip')!r}"
        if role in ("volume", "filer"):
            master = flags.get("master") or flags.get("mserver")
            assert master == address("master"), f"{name} registers with {master!r}, the master is {address('master')}"
        if role == "s3":
            assert flags.get("filer") == address("filer"), (
                f"{name} reads through filer {flags.get('filer')!r}, the filer is {address('filer')}"
            )
        if role in ROLE_DATA_FLAG:
            data = flags.get(ROLE_DATA_FLAG[role], "")
            mounts = {
                str(v).split(":")[1]: str(v).split(":")[0]
                for v in service.get("volumes") or []
                if str(v).split(":")[0] in (compose.get("volumes") or {})
            }
            volume = next((src for dst, src in mounts.items() if (data + "/").startswith(dst.rstrip("/") + "/")), None)
            assert volume, f"{name} keeps its data in {data!r}, not on a named volume ({mounts}): lost on removal"
            assert volume not in data_volumes, f"{name} and {data_volumes.get(volume)} share the volume {volume!r}"
            data_volumes[volume] = name


def test_seaweedfs_replication_fits_the_volume_servers(raw_compose: Compose) -> None:
    """Replication `xyz` puts copies in x other data centers, y other racks and z other servers of
    the rack: the volume servers must be in one rack and at least z + 1 of them, or no write succeeds."""
    roles = seaweedfs_roles(interpolate_all(raw_compose))
    master = next(flags for role, flags in roles.values() if role == "master")
    filer = next(flags for role, flags in roles.values() if role == "filer")
    replication = master.get("defaultReplication", "000")
    assert filer.get("defaultReplicaPlacement", replication) == replication, (
        f"the filer writes at replication {filer.get('defaultReplicaPlacement')!r}, the master's is {replication!r}"
    )
    assert re.fullmatch(r"\d{3}", replication), f"replication {replication!r} is not three digits"
    volumes = [flags for role, flags in roles.values() if role == "volume"]
    placements = {(flags.get("dataCenter"), flags.get("rack")) for flags in volumes}
    assert len(placements) == 1, f"the volume servers are spread over {placements}; make up-cluster uses one rack"
    assert replication[:2] == "00", f"replication {replication!r} needs other data centers or racks than one rack"
    assert len(volumes) >= int(replication[2]) + 1, (
        f"replication {replication!r} needs {int(replication[2]) + 1} volume servers in the rack, "
        f"there are {len(volumes)}"
    )


# --- (d) the qflow_s3 connection and SeaweedFS ---------------------------------------------------


def test_s3_connection_targets_the_seaweedfs_service_and_its_s3_port(raw_compose: Compose) -> None:
    services = services_of(interpolate_all(raw_compose))
    assert S3_SERVICE in services, f"no {S3_SERVICE} service"
    role, flags = weed_of(services[S3_SERVICE], S3_SERVICE)
    assert role == "s3", f"{S3_SERVICE} must run the S3 gateway (`weed s3`), runs `weed {role}`"
    s3_port = flags.get("port", WEED_DEFAULT_S3_PORT)
    assert s3_port in container_ports(services[S3_SERVICE]), (
        f"SeaweedFS listens for S3 on {s3_port} but {S3_SERVICE} does not expose it"
    )
    for name in airflow_services(raw_compose):
        endpoint = s3_connection(services[name], name)["extra"].get("endpoint_url", "")
        url = urlsplit(endpoint)
        assert url.hostname == S3_SERVICE, f"{name}: {S3_CONN_VAR} endpoint {endpoint!r} is not {S3_SERVICE}"
        assert str(url.port) == s3_port, f"{name}: {S3_CONN_VAR} uses port {url.port}, SeaweedFS S3 {s3_port}"
        env_endpoint = env_of(services[name]).get("QFLOW_S3_ENDPOINT")
        assert env_endpoint == endpoint, f"{name}: QFLOW_S3_ENDPOINT={env_endpoint!r} but the conn uses {endpoint!r}"


@pytest.mark.parametrize("env", [{}, {"QFLOW_S3_BUCKET": "probe-bucket"}], ids=["defaults", "overridden"])
def test_s3_connection_bucket_is_the_bucket_seaweedfs_init_creates(raw_compose: Compose, env: dict[str, str]) -> None:
    """The S3 gateway makes no bucket of its own: seaweedfs-init creates the one the connection uses,
    through the gateway, before any Airflow service starts."""
    services = services_of(interpolate_all(raw_compose, env))
    init = services.get("seaweedfs-init")
    assert init, "no seaweedfs-init service: nothing creates the artifact bucket"
    script = " ".join(args_of(init.get("entrypoint")) + args_of(init.get("command")))
    assert "create_bucket" in script, f"seaweedfs-init does not create the bucket: {script!r}"
    init_env = env_of(init)
    ensured = init_env.get("QFLOW_S3_BUCKET")
    assert ensured == env.get("QFLOW_S3_BUCKET", "qflow"), f"seaweedfs-init ignores $QFLOW_S3_BUCKET: {ensured!r}"
    assert (init.get("depends_on") or {}).get(S3_SERVICE, {}).get("condition") == "service_healthy", (
        f"seaweedfs-init must wait for a healthy {S3_SERVICE}"
    )
    for name in airflow_services(raw_compose):
        conn = s3_connection(services[name], name)
        bucket = conn["extra"].get("bucket")
        assert bucket == ensured, f"{name}: {S3_CONN_VAR} uses bucket {bucket!r}; seaweedfs-init creates {ensured!r}"
        env_bucket = env_of(services[name]).get("QFLOW_S3_BUCKET")
        assert env_bucket == bucket, f"{name}: QFLOW_S3_BUCKET={env_bucket!r} but the conn uses {bucket!r}"
        endpoint, used = init_env.get("QFLOW_S3_ENDPOINT"), conn["extra"].get("endpoint_url")
        assert endpoint == used, f"seaweedfs-init creates the bucket at {endpoint!r}, {name} reads it at {used!r}"


@pytest.mark.parametrize(
    "env",
    [{}, {"AWS_ACCESS_KEY_ID": "probe-key", "AWS_SECRET_ACCESS_KEY": "probe-secret"}],
    ids=["defaults", "overridden"],
)
def test_s3_connection_keys_are_the_keys_seaweedfs_accepts(raw_compose: Compose, env: dict[str, str]) -> None:
    services = services_of(interpolate_all(raw_compose, env))
    s3_env = env_of(services[S3_SERVICE])
    for variable in KEY_VARS.values():
        assert s3_env.get(variable), f"{S3_SERVICE} gets no {variable}, so it would not check S3 keys"
        if env:
            assert s3_env[variable] == env[variable], f"{S3_SERVICE} ignores ${variable}: {s3_env[variable]!r}"
    for name in airflow_services(raw_compose):
        conn = s3_connection(services[name], name)
        for field, variable in KEY_VARS.items():
            assert conn.get(field) == s3_env[variable], (
                f"{name}: {S3_CONN_VAR} {field} is {conn.get(field)!r}, but {S3_SERVICE} gets "
                f"{variable}={s3_env[variable]!r}; both must come from ${variable}"
            )
    if "seaweedfs-init" in services:
        init_env = env_of(services["seaweedfs-init"])
        for variable in KEY_VARS.values():
            assert init_env.get(variable) == s3_env[variable], f"seaweedfs-init uses another {variable}"


# --- (d2) the local quantum job service ----------------------------------------------------------


def test_job_service_serves_on_its_port_keeps_jobs_on_a_volume_and_airflow_finds_it(
    raw_compose: Compose,
) -> None:
    compose = interpolate_all(raw_compose)
    services = services_of(compose)
    assert JOB_SERVICE in services, f"no {JOB_SERVICE} service"
    service = services[JOB_SERVICE]
    args = args_of(service.get("entrypoint")) + args_of(service.get("command"))
    assert "qflow" in args and args[args.index("qflow") + 1 : args.index("qflow") + 3] == [
        "emulator",
        "serve",
    ], f"{JOB_SERVICE} must run `qflow emulator serve`, runs {args}"
    flags = {arg: args[i + 1] for i, arg in enumerate(args[:-1]) if arg.startswith("--")}
    port = flags.get("--port", "8790")
    assert flags.get("--host") == "0.0.0.0", f"{JOB_SERVICE} must listen on 0.0.0.0 to be reachable: {flags}"
    assert port in container_ports(service), f"{JOB_SERVICE} listens on {port} but does not expose it"
    db = flags.get("--db", "")
    mounts = [str(v).split(":")[1] for v in service.get("volumes") or [] if str(v).split(":")[0] in compose["volumes"]]
    assert any(db.startswith(mount.rstrip("/") + "/") for mount in mounts), (
        f"{JOB_SERVICE} keeps jobs in {db!r}, not on a named volume ({mounts}): lost on restart"
    )
    assert "healthcheck" in service, f"{JOB_SERVICE} needs a healthcheck"
    for name in airflow_services(raw_compose):
        url = urlsplit(env_of(services[name]).get("QFLOW_JOBSERVICE_URL", ""))
        assert (url.hostname, str(url.port)) == (JOB_SERVICE, port), (
            f"{name}: QFLOW_JOBSERVICE_URL must be http://{JOB_SERVICE}:{port}, is {url.geturl()!r}"
        )


# --- (d3) the shared ledger database --------------------------------------------------------------

LEDGER_VAR = "QFLOW_LEDGER_URL"
LEDGER_DATABASE = "qflow_ledger"


def test_every_airflow_service_shares_one_ledger_on_the_postgres_service(raw_compose: Compose) -> None:
    """Without QFLOW_LEDGER_URL every container keeps its own SQLite ledger, off any volume: the
    worker's spend ledger would not be the triggerer's, and a restart would forget every job."""
    services = services_of(interpolate_all(raw_compose))
    names = airflow_services(raw_compose)
    values = {name: env_of(services[name]).get(LEDGER_VAR) for name in names}
    unset = sorted(name for name, value in values.items() if not value)
    assert not unset, f"{LEDGER_VAR} is not set on {unset}: each would keep its own SQLite ledger"
    assert len(set(values.values())) == 1, f"{LEDGER_VAR} differs between Airflow services: {values}"
    url = urlsplit(next(iter(values.values())) or "")
    assert url.scheme.startswith("postgresql"), f"{LEDGER_VAR} must be a PostgreSQL URL, is {url.geturl()!r}"
    assert url.hostname == "postgres" and "postgres" in services, (
        f"{LEDGER_VAR} names host {url.hostname!r}, not the postgres service"
    )
    assert url.path.lstrip("/") == LEDGER_DATABASE, f"{LEDGER_VAR} uses database {url.path!r}, not {LEDGER_DATABASE}"
    postgres = env_of(services["postgres"])
    assert (url.username, url.password) == (postgres.get("POSTGRES_USER"), postgres.get("POSTGRES_PASSWORD")), (
        f"{LEDGER_VAR} logs in as {url.username!r}, which the postgres service does not create"
    )
    init_script = " ".join(args_of(services["airflow-init"].get("command")))
    assert "qflow ledger init" in init_script, (
        f"airflow-init does not create the {LEDGER_DATABASE} database (`qflow ledger init`): {init_script!r}"
    )


# --- (d4) the commit baked into the image ----------------------------------------------------------


def test_the_image_records_the_commit_it_is_built_from(raw_compose: Compose, dockerfile_text: str) -> None:
    """No .git in the image: QFLOW_GIT_SHA must come in as a build argument and stay as ENV, or
    every manifest says code version "unknown"."""
    services = services_of(interpolate_all(raw_compose, {"QFLOW_GIT_SHA": "probe-sha"}))
    builds = {name: svc["build"] for name, svc in services.items() if "build" in svc}
    assert builds, "no service builds the image"
    for name, build in builds.items():
        args = (build.get("args") or {}) if isinstance(build, dict) else {}
        if isinstance(args, list):
            args = dict(item.split("=", 1) if "=" in item else (item, "") for item in args)
        assert args.get("QFLOW_GIT_SHA") == "probe-sha", (
            f"{name}: build.args does not pass $QFLOW_GIT_SHA (got {args}); "
            "use `QFLOW_GIT_SHA: ${QFLOW_GIT_SHA:-}` under build.args"
        )
    instructions = dockerfile_instructions(dockerfile_text)
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    final_stage = instructions[last_from:]
    arg_at = [i for i, (op, args) in enumerate(final_stage) if op == "ARG" and args.split("=")[0] == "QFLOW_GIT_SHA"]
    assert arg_at, "the Dockerfile's final stage declares no `ARG QFLOW_GIT_SHA`"
    env_at = [
        i
        for i, (op, args) in enumerate(final_stage)
        if op == "ENV" and re.match(r"QFLOW_GIT_SHA[= ]\$\{?QFLOW_GIT_SHA\}?$", args)
    ]
    assert env_at and env_at[-1] > arg_at[0], (
        "the Dockerfile must keep the build argument at run time: `ENV QFLOW_GIT_SHA=${QFLOW_GIT_SHA}` after the ARG"
    )


# --- (e) the Dockerfile --------------------------------------------------------------------------


def test_dockerfile_extends_airflow_and_installs_the_lock_and_the_project(dockerfile_text: str) -> None:
    instructions = dockerfile_instructions(dockerfile_text)
    froms = [args for op, args in instructions if op == "FROM"]
    pinned = re.search(r"^apache-airflow==(\S+)$", LOCK_FILE.read_text(), re.MULTILINE)
    assert pinned, "requirements.lock pins no apache-airflow version"
    assert froms and froms[0].startswith(f"apache/airflow:{pinned[1]}-"), (
        f"the Dockerfile must build FROM apache/airflow:{pinned[1]}-pythonX.Y (the Airflow in the lock), not {froms}"
    )

    copied: list[str] = []
    user = "root"
    lock_installed = project_installed = False
    for op, args in instructions:
        if op == "USER":
            user = args.split(":")[0]
        elif op == "COPY":
            sources = [a for a in shlex.split(args) if not a.startswith("--")][:-1]
            for source in sources:
                assert "*" in source or "[" in source or (REPO / source).exists(), (
                    f"the Dockerfile copies {source!r}, which is not in the repo"
                )
            copied += [source.rstrip("/") for source in sources]
        elif op == "RUN" and "pip install" in args:
            assert user == "airflow", f"`pip install` must run as USER airflow (the image's docs), not {user}"
            words = shlex.split(args)
            if "-r" in words and words[words.index("-r") + 1] == "requirements.lock":
                assert "requirements.lock" in copied, "requirements.lock is installed before it is copied in"
                lock_installed = True
            elif "." in words:
                assert "pyproject.toml" in copied, "the project is pip-installed before pyproject.toml is copied"
                project_installed = True
    assert lock_installed, "the Dockerfile never runs `pip install -r requirements.lock`"
    assert project_installed, "the Dockerfile never pip-installs the project itself (`pip install ... .`)"
    missing = sorted({"requirements.lock", "pyproject.toml", "include", "operators", "dags"} - set(copied))
    assert not missing, f"the Dockerfile does not copy {missing} into the image"


# --- (f) what each Airflow service runs ----------------------------------------------------------


def test_airflow_services_run_their_components(raw_compose: Compose) -> None:
    services = services_of(raw_compose)
    for name, expected in AIRFLOW_COMMANDS.items():
        command = args_of(services[name].get("command"))
        assert command == expected, f"{name} must run `{' '.join(expected)}`, runs {command}"
        assert "entrypoint" not in services[name], (
            f"{name} overrides the image's entrypoint, which would not start `airflow {' '.join(expected)}`"
        )
    init_script = " ".join(args_of(services["airflow-init"].get("command")))
    assert "airflow db migrate" in init_script, f"airflow-init does not migrate the DB: {init_script!r}"
    assert "mkdir" in init_script, f"airflow-init does not create the shared directories: {init_script!r}"


# --- (g) the same shape as `make up-cluster` -----------------------------------------------------

# Values both deployments take from the environment. Each parity check runs with them at their
# defaults and with every one overridden, so that a deployment that hard-codes one is caught.
PROBES: dict[str, dict[str, str]] = {
    "defaults": {},
    "overridden": {
        "AWS_ACCESS_KEY_ID": "probe-key",
        "AWS_SECRET_ACCESS_KEY": "probe-secret",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "QFLOW_S3_BUCKET": "probe-bucket",
    },
}
# What else of the shell make up-cluster would carry into its environment (and the compose file does
# not): cleared before the cluster's environment is built.
SHELL_VARS = {"QFLOW_POLICY_FILE", "QFLOW_CLUSTER_POSTGRES", "QFLOW_CLUSTER_REDIS", "QFLOW_LEDGER_URL"}
# The set-up steps both deployments run before Airflow starts, in this order (`qflow` is include.cli).
INIT_STEPS = {("airflow", "db"), ("qflow", "ledger"), ("qflow", "pools"), ("airflow", "pools")}
POOLS_FILE = "<pools file>"


def init_steps(commands: Sequence[Sequence[str]]) -> list[str]:
    """The set-up steps among commands (`airflow db migrate`, `qflow ledger init`, `qflow pools F`,
    `airflow pools import F`), with the file `qflow pools` writes named POOLS_FILE wherever it recurs."""
    steps: list[list[str]] = []
    for command in commands:
        words = list(command)
        while words and (re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]) or words[0] == "/entrypoint"):
            words = words[1:]
        if len(words) >= 3 and Path(words[0]).name.startswith("python") and words[1:3] == ["-m", "include.cli"]:
            words = ["qflow", *words[3:]]
        if words:
            words[0] = Path(words[0]).name
        if len(words) >= 2 and (words[0], words[1]) in INIT_STEPS:
            steps.append(words)
    written = [words[2] for words in steps if words[:2] == ["qflow", "pools"] and len(words) > 2]
    return [" ".join(POOLS_FILE if written and word == written[0] else word for word in words) for words in steps]


def compose_init_commands(service: Mapping[str, Any]) -> list[list[str]]:
    """The commands of airflow-init's shell script, one per line (lines that are not whole commands,
    such as those of an inline `python -c '...'`, are skipped)."""
    commands = []
    for line in " ".join(args_of(service.get("command"))[-1:]).splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if words:
            commands.append(words)
    return commands


def write_pools(policy_file: str | None, out: Path) -> Any:
    """Run `qflow pools OUT` (include.cli) with that policy file, and read what it wrote."""
    from include.cli import main

    with pytest.MonkeyPatch.context() as mp:
        if policy_file:
            mp.setenv("QFLOW_POLICY_FILE", policy_file)
        else:
            mp.delenv("QFLOW_POLICY_FILE", raising=False)
        assert main(["pools", str(out)]) == 0, "qflow pools failed"
    return json.loads(out.read_text())


def s3_shape(airflow_env: Mapping[str, str], gateway_env: Mapping[str, str], reaches_gateway: bool) -> dict[str, Any]:
    raw = airflow_env.get(S3_CONN_VAR)
    assert raw, f"no {S3_CONN_VAR}"
    conn = json.loads(raw)
    extra = conn.get("extra") or {}
    return {
        "bucket": extra.get("bucket"),
        "QFLOW_S3_BUCKET": airflow_env.get("QFLOW_S3_BUCKET"),
        "region": extra.get("region_name"),
        "AWS_DEFAULT_REGION": airflow_env.get("AWS_DEFAULT_REGION"),
        "addressing_style": ((extra.get("config_kwargs") or {}).get("s3") or {}).get("addressing_style"),
        "login": conn.get("login"),
        "password": conn.get("password"),
        "gateway_keys": [gateway_env.get("AWS_ACCESS_KEY_ID"), gateway_env.get("AWS_SECRET_ACCESS_KEY")],
        "QFLOW_S3_ENDPOINT is the connection's": airflow_env.get("QFLOW_S3_ENDPOINT") == extra.get("endpoint_url"),
        "the endpoint reaches the gateway": reaches_gateway,
    }


def shape(
    airflow_env: Mapping[str, str],
    *,
    triggerers: int,
    workers: int,
    volumes: int,
    weed: Mapping[str, tuple[str, dict[str, str]]],
    s3: dict[str, Any],
    init: list[str],
    pools: Any,
) -> dict[str, Any]:
    """deployment_settings plus what it takes as given: the replication each SeaweedFS server is
    started with (deployment_settings reports the constant), the worker slots, S3, set-up and pools."""
    try:
        settings = deployment_settings(airflow_env, triggerers=triggerers, workers=workers, volumes=volumes)
    except (KeyError, ValueError) as error:
        raise AssertionError(f"the Airflow environment lacks or garbles {error}") from error
    settings["seaweedfs_replication"] = {
        "master": next((f.get("defaultReplication") for role, f in weed.values() if role == "master"), None),
        "filer": next((f.get("defaultReplicaPlacement") for role, f in weed.values() if role == "filer"), None),
    }
    return {
        **settings,
        "worker_concurrency": airflow_env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY"),
        "s3": s3,
        "init": init,
        "pools": pools,
    }


def compose_shape(compose: Compose, probe: Mapping[str, str], workdir: Path) -> dict[str, Any]:
    """The compose file's shape: every Airflow service's environment (they must agree), with replicas
    counted from `deploy.replicas`."""
    services = services_of(interpolate_all(compose, probe))
    names = airflow_services(compose)
    counts = {
        kind: sum(replicas_of(services[n]) for n in names if args_of(services[n].get("command")) == command)
        for kind, command in (("triggerers", ["triggerer"]), ("workers", ["celery", "worker"]))
    }
    weed = seaweedfs_roles({"services": services})
    volumes = sum(replicas_of(services[name]) for name, (role, _) in weed.items() if role == "volume")
    s3_role = next((name for name, (role, _) in weed.items() if role == "s3"), None)
    assert s3_role, "docker-compose.yaml runs no S3 gateway (`weed s3`)"
    gateway_port = weed[s3_role][1].get("port", WEED_DEFAULT_S3_PORT)
    init = compose_init_commands(services["airflow-init"])
    workdir.mkdir(parents=True, exist_ok=True)
    policy = env_of(services["airflow-init"]).get("QFLOW_POLICY_FILE")
    if policy and policy.startswith("/opt/qflow/"):
        policy = str(REPO / policy.removeprefix("/opt/qflow/"))
    pools = write_pools(policy, workdir / "pools.json")
    shapes = {}
    for name in names:
        env = env_of(services[name])
        endpoint = urlsplit(json.loads(env.get(S3_CONN_VAR) or "{}").get("extra", {}).get("endpoint_url", ""))
        reaches = endpoint.hostname == s3_role and str(endpoint.port) == gateway_port
        shapes[name] = shape(
            env,
            **counts,
            volumes=volumes,
            weed=weed,
            s3=s3_shape(env, env_of(services[s3_role]), reaches),
            init=init_steps(init),
            pools=pools,
        )
    distinct = {json.dumps(value, sort_keys=True) for value in shapes.values()}
    assert len(distinct) == 1, f"the Airflow services of docker-compose.yaml disagree with each other: {shapes}"
    return shapes[names[0]]


def cluster_shape(state_dir: Path, probe: Mapping[str, str]) -> dict[str, Any]:
    """make up-cluster's shape: Cluster.env() and Cluster.components() as it builds them, and the
    set-up commands Cluster.start() runs (recorded, with nothing started: no PostgreSQL, Redis or
    process is needed)."""
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("AIRFLOW_CONN_") or key in SHELL_VARS or key in PROBES["overridden"]:
                mp.delenv(key)
        for key, value in probe.items():
            mp.setenv(key, value)
        cluster = Cluster(ClusterConfig(state_dir=state_dir))
        config, env, components = cluster.config, cluster.env(), cluster.components()
        ran: list[list[str]] = []
        spawned: list[str] = []

        def run(*argv: str, log_name: str) -> None:
            ran.append(list(argv))

        def spawn(name: str) -> int:
            spawned.append(name)
            return 0

        mp.setattr(cluster, "preflight", list)
        mp.setattr(cluster, "prepare_databases", lambda fresh=False: [])
        mp.setattr(cluster, "spawn", spawn)
        mp.setattr(cluster, "wait_ready", lambda timeout=300, only=None: None)
        mp.setattr(cluster, "ensure_bucket", lambda: None)
        mp.setattr(cluster, "run", run)
        cluster.start(say=lambda _line: None)
        weed = {c.name: cmd for c in components if c.name in spawned and (cmd := weed_command(c.argv))}
        triggerers = sum(1 for c in components if c.name in spawned and c.argv[1:] == ("triggerer",))
        workers = sum(1 for c in components if c.name in spawned and c.argv[1:3] == ("celery", "worker"))
        volumes = sum(1 for role, _ in weed.values() if role == "volume")
        assert (triggerers, workers, volumes) == (config.triggerers, config.workers, len(config.ports.volumes)), (
            f"make up-cluster starts {triggerers} triggerers, {workers} workers and {volumes} volume servers, "
            f"its config says {config.triggerers}, {config.workers} and {len(config.ports.volumes)}"
        )
        s3_name, (_, s3_flags) = next((n, cmd) for n, cmd in weed.items() if cmd[0] == "s3")
        gateway_env = {**env, **next(c.env for c in components if c.name == s3_name)}
        endpoint = urlsplit(json.loads(env[S3_CONN_VAR])["extra"].get("endpoint_url", ""))
        reaches = endpoint.hostname == s3_flags.get("ip.bind") and str(endpoint.port) == s3_flags.get("port")
        steps = init_steps(ran)
        written = next((argv[-1] for argv in ran if argv[1:4] == ["-m", "include.cli", "pools"]), None)
        assert written, f"make up-cluster never runs `qflow pools` (it runs {ran})"
        pools = write_pools(env.get("QFLOW_POLICY_FILE"), state_dir / "pools-written.json")
        return shape(
            env,
            triggerers=config.triggerers,
            workers=config.workers,
            volumes=len(config.ports.volumes),
            weed=weed,
            s3=s3_shape(env, gateway_env, reaches),
            init=steps,
            pools=pools,
        )


def assert_same_shape(compose: Mapping[str, Any], cluster: Mapping[str, Any]) -> None:
    differ = sorted(key for key in compose.keys() | cluster.keys() if compose.get(key) != cluster.get(key))
    assert not differ, (
        "docker-compose.yaml and make up-cluster disagree on "
        + ", ".join(differ)
        + ":\n"
        + "\n".join(
            f"  {key}: compose {compose.get(key)!r}\n  {' ' * len(key)}  make up-cluster {cluster.get(key)!r}"
            for key in differ
        )
    )


@pytest.fixture(scope="module")
def cluster_shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return {probe: cluster_shape(tmp_path_factory.mktemp(f"cluster-{probe}"), PROBES[probe]) for probe in PROBES}


@pytest.mark.parametrize("probe", list(PROBES))
def test_compose_and_make_up_cluster_have_the_same_shape(
    raw_compose: Compose, cluster_shapes: dict[str, dict[str, Any]], probe: str, tmp_path: Path
) -> None:
    compose = compose_shape(raw_compose, PROBES[probe], tmp_path)
    cluster = cluster_shapes[probe]
    assert_same_shape(compose, cluster)
    # Equal, and what both should be (so that both drifting the same way is caught too).
    values = {**{"QFLOW_S3_BUCKET": "qflow", "AWS_DEFAULT_REGION": "us-east-1"}, **PROBES[probe]}
    keys = [values.get("AWS_ACCESS_KEY_ID", "qflow"), values.get("AWS_SECRET_ACCESS_KEY", "qflow-dev-secret")]
    for side, found in (("compose", compose), ("make up-cluster", cluster)):
        assert found["executor"] == "CeleryExecutor", f"{side} runs {found['executor']}"
        assert found["celery_config"] == "operators.executors.warm_celery.CELERY_CONFIG", f"{side}: cold workers"
        assert (found["triggerers"], found["workers"], found["seaweedfs_volumes"]) == (2, 2, 2), side
        assert found["seaweedfs_replication"] == {"master": SEAWEEDFS_REPLICATION, "filer": SEAWEEDFS_REPLICATION}
        assert found["ledger"]["database"] == LEDGER_DATABASE and found["ledger"]["driver"].startswith("postgresql")
        pools_steps = [f"qflow pools {POOLS_FILE}", f"airflow pools import {POOLS_FILE}"]
        assert found["pools"] and found["init"][-2:] == pools_steps, f"{side}: {found['init']}"
        s3 = found["s3"]
        assert s3["bucket"] == s3["QFLOW_S3_BUCKET"] == values["QFLOW_S3_BUCKET"], f"{side}: {s3}"
        assert s3["region"] == s3["AWS_DEFAULT_REGION"] == values["AWS_DEFAULT_REGION"], f"{side}: {s3}"
        assert [s3["login"], s3["password"]] == s3["gateway_keys"] == keys, f"{side}: the gateway takes other keys"
        assert s3["addressing_style"] == "path" and s3["the endpoint reaches the gateway"], f"{side}: {s3}"
        assert s3["QFLOW_S3_ENDPOINT is the connection's"], f"{side}: {s3}"


def set_airflow_env(compose: Compose, variable: str, value: str | None) -> None:
    """Set (None: remove) one variable on every Airflow service, as editing x-airflow-common would."""
    for name in airflow_services(compose):
        environment = compose["services"][name]["environment"]
        if value is None:
            environment.pop(variable, None)
        else:
            environment[variable] = value


def assert_drift_caught(
    broken: Compose, cluster_shapes: dict[str, dict[str, Any]], match: str, tmp: Path, probe: str = "defaults"
) -> None:
    with pytest.raises(AssertionError, match=match):
        assert_same_shape(compose_shape(broken, PROBES[probe], tmp), cluster_shapes[probe])


def replace_arg(compose: Compose, service: str, old: str, new: str) -> None:
    command = compose["services"][service]["command"]
    assert old in command, f"{service} runs {command}, without {old}"
    command[command.index(old)] = new


def test_mutations_are_caught(
    raw_compose: Compose, cluster_shapes: dict[str, dict[str, Any]], cluster_weed: dict[str, Any], tmp_path: Path
) -> None:
    """The checks above are not vacuous: breaking the file in the ways they guard against fails them."""
    broken = copy.deepcopy(raw_compose)
    broken["services"]["airflow-worker"]["image"] = "apache/airflow:3.3.2"
    with pytest.raises(AssertionError, match="share one image"):
        test_every_qflow_service_runs_the_one_image_built_from_this_repo(broken)

    broken = copy.deepcopy(raw_compose)
    broken["services"]["airflow-scheduler"]["environment"]["AIRFLOW__CELERY__BROKER_URL"] = "redis://cache:6379/0"
    with pytest.raises(AssertionError, match="differs between Airflow services"):
        test_airflow_services_share_db_and_broker_on_compose_hosts(broken, "AIRFLOW__CELERY__BROKER_URL")

    broken = copy.deepcopy(raw_compose)
    broken["services"][S3_SERVICE]["environment"]["AWS_SECRET_ACCESS_KEY"] = "${S3_SECRET:-other}"
    with pytest.raises(AssertionError, match="AWS_SECRET_ACCESS_KEY"):
        test_s3_connection_keys_are_the_keys_seaweedfs_accepts(broken, {})

    broken = copy.deepcopy(raw_compose)
    broken["services"][JOB_SERVICE]["volumes"] = []
    with pytest.raises(AssertionError, match="named volume"):
        test_job_service_serves_on_its_port_keeps_jobs_on_a_volume_and_airflow_finds_it(broken)

    broken = copy.deepcopy(raw_compose)
    broken["services"]["airflow-triggerer"]["environment"]["QFLOW_JOBSERVICE_URL"] = "http://localhost:8790"
    with pytest.raises(AssertionError, match="QFLOW_JOBSERVICE_URL"):
        test_job_service_serves_on_its_port_keeps_jobs_on_a_volume_and_airflow_finds_it(broken)

    broken = copy.deepcopy(raw_compose)
    del broken["services"]["airflow-worker"]["environment"][LEDGER_VAR]
    with pytest.raises(AssertionError, match=r"QFLOW_LEDGER_URL is not set on \['airflow-worker'\]"):
        test_every_airflow_service_shares_one_ledger_on_the_postgres_service(broken)

    broken = copy.deepcopy(raw_compose)
    broken["services"]["airflow-triggerer"]["environment"][LEDGER_VAR] = "sqlite:////tmp/ledger.sqlite"
    with pytest.raises(AssertionError, match="differs between Airflow services"):
        test_every_airflow_service_shares_one_ledger_on_the_postgres_service(broken)

    broken = copy.deepcopy(raw_compose)
    for service in broken["services"].values():
        if isinstance(service.get("build"), dict):
            service["build"].pop("args", None)
    dockerfile = DOCKERFILE.read_text()
    with pytest.raises(AssertionError, match=r"build\.args does not pass"):
        test_the_image_records_the_commit_it_is_built_from(broken, dockerfile)
    without_env = re.sub(r"^ENV QFLOW_GIT_SHA.*$", "", dockerfile, flags=re.MULTILINE)
    with pytest.raises(AssertionError, match="keep the build argument at run time"):
        test_the_image_records_the_commit_it_is_built_from(raw_compose, without_env)

    broken = copy.deepcopy(raw_compose)
    broken["services"]["airflow-worker"]["command"] = "celery flower"
    with pytest.raises(AssertionError, match="airflow-worker must run"):
        test_airflow_services_run_their_components(broken)

    # The SeaweedFS cluster.
    broken = copy.deepcopy(raw_compose)
    replace_arg(broken, "seaweedfs-filer", "-defaultReplicaPlacement=001", "-defaultReplicaPlacement=000")
    with pytest.raises(AssertionError, match="seaweedfs-filer runs `weed filer` with"):
        test_seaweedfs_services_mirror_make_up_cluster(broken, cluster_weed)
    with pytest.raises(AssertionError, match="the filer writes at replication '000'"):
        test_seaweedfs_replication_fits_the_volume_servers(broken)

    broken = copy.deepcopy(raw_compose)
    broken["services"]["seaweedfs-volume-2"]["volumes"] = ["seaweedfs-volume-1:/data"]
    with pytest.raises(AssertionError, match="share the volume 'seaweedfs-volume-1'"):
        test_seaweedfs_services_start_in_order_and_find_each_other(broken)

    broken = copy.deepcopy(raw_compose)
    del broken["services"][S3_SERVICE]["depends_on"]
    with pytest.raises(AssertionError, match=f"{S3_SERVICE} \\(`weed s3`\\) must wait for healthy"):
        test_seaweedfs_services_start_in_order_and_find_each_other(broken)

    broken = copy.deepcopy(raw_compose)
    replace_arg(broken, "seaweedfs-volume-1", "-ip=seaweedfs-volume-1", "-ip=localhost")
    with pytest.raises(AssertionError, match="must advertise itself as -ip=seaweedfs-volume-1"):
        test_seaweedfs_services_start_in_order_and_find_each_other(broken)

    broken = copy.deepcopy(raw_compose)
    replace_arg(broken, "seaweedfs-master", "-defaultReplication=001", "-defaultReplication=002")
    replace_arg(broken, "seaweedfs-filer", "-defaultReplicaPlacement=001", "-defaultReplicaPlacement=002")
    with pytest.raises(AssertionError, match="needs 3 volume servers in the rack, there are 2"):
        test_seaweedfs_replication_fits_the_volume_servers(broken)

    broken = copy.deepcopy(raw_compose)
    del broken["services"]["seaweedfs-init"]["command"]
    with pytest.raises(AssertionError, match="seaweedfs-init does not create the bucket"):
        test_s3_connection_bucket_is_the_bucket_seaweedfs_init_creates(broken, {})

    # Drift from make up-cluster.
    broken = copy.deepcopy(raw_compose)
    broken["services"]["airflow-triggerer"]["deploy"]["replicas"] = 1
    assert_drift_caught(broken, cluster_shapes, r"disagree on triggerers", tmp_path / "1")

    broken = copy.deepcopy(raw_compose)
    del broken["services"]["airflow-worker"]["deploy"]
    assert_drift_caught(broken, cluster_shapes, r"disagree on workers", tmp_path / "2")

    broken = copy.deepcopy(raw_compose)
    set_airflow_env(broken, "AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    assert_drift_caught(broken, cluster_shapes, r"disagree on executor", tmp_path / "3")

    broken = copy.deepcopy(raw_compose)
    set_airflow_env(broken, LEDGER_VAR, "postgresql+psycopg2://airflow:airflow@postgres/ledger")
    assert_drift_caught(broken, cluster_shapes, r"disagree on ledger", tmp_path / "4")

    broken = copy.deepcopy(raw_compose)
    set_airflow_env(
        broken, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2://airflow:airflow@postgres/airflow"
    )
    assert_drift_caught(broken, cluster_shapes, r"disagree on metadata_db", tmp_path / "5")

    broken = copy.deepcopy(raw_compose)
    replace_arg(broken, "seaweedfs-master", "-defaultReplication=001", "-defaultReplication=000")
    assert_drift_caught(broken, cluster_shapes, r"disagree on seaweedfs_replication", tmp_path / "6")

    broken = copy.deepcopy(raw_compose)
    del broken["services"]["seaweedfs-volume-2"]
    assert_drift_caught(broken, cluster_shapes, r"disagree on seaweedfs_volumes", tmp_path / "7")

    broken = copy.deepcopy(raw_compose)
    set_airflow_env(broken, "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS", None)
    assert_drift_caught(broken, cluster_shapes, r"disagree on celery_config", tmp_path / "8")

    broken = copy.deepcopy(raw_compose)
    script = broken["services"]["airflow-init"]["command"][-1]
    broken["services"]["airflow-init"]["command"][-1] = re.sub(r"^.*airflow pools import.*$", "", script, flags=re.M)
    assert_drift_caught(broken, cluster_shapes, r"disagree on init", tmp_path / "9")

    broken = copy.deepcopy(raw_compose)
    broken["services"]["airflow-init"]["command"][-1] = script.replace(
        "airflow pools import /tmp/qflow-pools.json", "airflow pools import /tmp/other-pools.json"
    )
    assert_drift_caught(broken, cluster_shapes, r"disagree on init", tmp_path / "10")

    broken = copy.deepcopy(raw_compose)
    set_airflow_env(broken, "QFLOW_POLICY_FILE", "/opt/qflow/tests/no-such-policy.yaml")
    with pytest.raises(Exception, match=r"no-such-policy\.yaml"):
        compose_shape(broken, {}, tmp_path / "11")

    # A region or key hard-coded in the compose file agrees at the defaults; the probe catches it.
    broken = copy.deepcopy(raw_compose)
    for name in airflow_services(broken):
        env = broken["services"][name]["environment"]
        env[S3_CONN_VAR] = env[S3_CONN_VAR].replace("${AWS_DEFAULT_REGION:-us-east-1}", "us-east-1")
    assert_same_shape(compose_shape(broken, {}, tmp_path / "12"), cluster_shapes["defaults"])
    assert_drift_caught(broken, cluster_shapes, r"disagree on connections, s3", tmp_path / "13", "overridden")

    broken = copy.deepcopy(raw_compose)
    broken["services"][S3_SERVICE]["environment"]["AWS_SECRET_ACCESS_KEY"] = "qflow-dev-secret"
    assert_drift_caught(broken, cluster_shapes, r"disagree on s3:", tmp_path / "14", "overridden")
