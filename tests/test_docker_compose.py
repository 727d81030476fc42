"""Static checks of the distributed deployment: docker-compose.yaml and the Dockerfile.

No Docker engine runs here, so these tests parse the files and check that the parts agree with
each other: one image for every qflow service, built from this repo; a CeleryExecutor cluster wired
to services that exist; and a `qflow_s3` connection that reaches the SeaweedFS service with the
keys, port and bucket that service actually uses. Variables are interpolated the way Compose does
(`${NAME:-default}`), from their defaults unless a test passes its own values.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
LOCK_FILE = REPO / "requirements.lock"

THIRD_PARTY_SERVICES = {"postgres", "redis"}  # official images of their own
S3_SERVICE = "seaweedfs"
AIRFLOW_COMMANDS = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-worker": ["celery", "worker"],
    "airflow-triggerer": ["triggerer"],
}
JOB_SERVICE = "qflow-jobservice"
EXPECTED_SERVICES = {*THIRD_PARTY_SERVICES, S3_SERVICE, JOB_SERVICE, "airflow-init", *AIRFLOW_COMMANDS}
S3_CONN_VAR = "AIRFLOW_CONN_QFLOW_S3"
WEED_DEFAULT_S3_PORT = "8333"  # `weed mini|server -s3.port` default
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


def weed_flags(service: Mapping[str, Any]) -> dict[str, str]:
    """The `-name=value` / `-name value` flags of the `weed` command a service runs."""
    args = args_of(service.get("entrypoint")) + args_of(service.get("command"))
    weeds = [i for i, arg in enumerate(args) if Path(arg).name == "weed"]
    assert weeds, f"the {S3_SERVICE} service does not run `weed` (entrypoint + command: {args})"
    flags: dict[str, str] = {}
    rest = args[weeds[0] + 1 :]
    for i, arg in enumerate(rest):
        if not arg.startswith("-"):
            continue
        name, sep, value = arg.lstrip("-").partition("=")
        if not sep:
            following = rest[i + 1] if i + 1 < len(rest) else ""
            value = "true" if not following or following.startswith("-") else following
        flags[name] = value
    return flags


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


# --- (d) the qflow_s3 connection and SeaweedFS ---------------------------------------------------


def test_s3_connection_targets_the_seaweedfs_service_and_its_s3_port(raw_compose: Compose) -> None:
    services = services_of(interpolate_all(raw_compose))
    assert S3_SERVICE in services, f"no {S3_SERVICE} service"
    s3_port = weed_flags(services[S3_SERVICE]).get("s3.port", WEED_DEFAULT_S3_PORT)
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


def test_s3_connection_bucket_is_the_bucket_seaweedfs_creates(raw_compose: Compose) -> None:
    services = services_of(interpolate_all(raw_compose))
    created = [b for b in weed_flags(services[S3_SERVICE]).get("bucket", "").split(",") if b]
    assert created, f"{S3_SERVICE} creates no bucket (no -bucket=... flag)"
    if "seaweedfs-init" in services:
        ensured = env_of(services["seaweedfs-init"]).get("QFLOW_S3_BUCKET")
        assert ensured in created, f"seaweedfs-init ensures bucket {ensured!r}, SeaweedFS creates {created}"
    for name in airflow_services(raw_compose):
        bucket = s3_connection(services[name], name)["extra"].get("bucket")
        assert bucket in created, f"{name}: {S3_CONN_VAR} uses bucket {bucket!r}; SeaweedFS creates {created}"
        env_bucket = env_of(services[name]).get("QFLOW_S3_BUCKET")
        assert env_bucket == bucket, f"{name}: QFLOW_S3_BUCKET={env_bucket!r} but the conn uses {bucket!r}"


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


def test_mutations_are_caught(raw_compose: Compose) -> None:
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
