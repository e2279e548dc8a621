"""The deployment files in deploy/: static checks of the Dockerfile, the compose file, the
example node, Prometheus' settings and the systemd unit, plus the image's health check run
against a local HTTP server."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tradeloop.config.node import NodeConfig, load_node_config
from tradeloop.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DATABASE_URL = "postgresql+psycopg://tradeloop:s3cretpw@db:5432/tradeloop"
SECRET_NAME = re.compile(r"PASSWORD|PASSPHRASE|SECRET|TOKEN|API_KEY", re.IGNORECASE)
VARIABLE_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?+][^}]*)?\}$")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+][^}]*)?\}")


# -- helpers --------------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, each starting with its FROM."""
    out: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions:
        if keyword == "FROM":
            out.append([])
        if out:
            out[-1].append((keyword, arguments))
    return out


def global_args(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """The ARG defaults declared before the first FROM."""
    out: dict[str, str] = {}
    for keyword, arguments in instructions:
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in arguments:
            name, _, value = arguments.partition("=")
            out[name.strip()] = value.strip()
    return out


def env_pairs(arguments: str) -> dict[str, str]:
    """The variables an ENV instruction sets (``KEY=value`` form)."""
    return dict(item.split("=", 1) for item in shlex.split(arguments))


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return value


def unit_sections(text: str) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit as section -> (key, value) pairs, in order, repeated keys kept."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            assert current not in sections, f"section [{current}] appears twice"
            sections[current] = []
            continue
        assert current is not None, f"{line!r} before any section"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        sections[current].append((key.strip(), value.strip()))
    return sections


def unit_values(sections: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [value for k, value in sections.get(section, []) if k == key]


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from strings_in(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from strings_in(inner)


def interpolate(text: str, values: dict[str, str]) -> str:
    """``text`` with each ``${NAME...}`` replaced as compose would, from ``values``."""
    return INTERPOLATION.sub(lambda m: values[m.group(1)], text)


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {str(k): "" if v is None else str(v) for k, v in environment.items()}


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions((DEPLOY / "Dockerfile").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final_stage(dockerfile: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return stages(dockerfile)[-1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def unit() -> dict[str, list[tuple[str, str]]]:
    return unit_sections((DEPLOY / "tradeloop.service").read_text(encoding="utf-8"))


@pytest.fixture
def example_node() -> NodeConfig:
    return load_node_config(DEPLOY / "node.example.toml",
                            {"TRADELOOP_DATABASE_URL": DATABASE_URL})


# -- the parsers themselves ----------------------------------------------------------------


def test_dockerfile_parser_joins_continuations_and_splits_stages() -> None:
    text = "ARG IMG=python:3.12-slim\nFROM ${IMG} AS a\nRUN one \\\n    # note\n    two\n" \
           "FROM ${IMG}\nUSER 1\n"
    instructions = dockerfile_instructions(text)
    assert instructions[2] == ("RUN", "one two")
    assert [len(stage) for stage in stages(instructions)] == [2, 2]
    assert global_args(instructions) == {"IMG": "python:3.12-slim"}


def test_unit_parser_keeps_repeated_keys() -> None:
    sections = unit_sections("[Service]\nA=1\nA=2\n# c\n[Install]\nB=3\n")
    assert unit_values(sections, "Service", "A") == ["1", "2"]
    assert unit_values(sections, "Install", "B") == ["3"]


# -- Dockerfile -----------------------------------------------------------------------------


def test_dockerfile_builds_in_one_stage_and_runs_in_another(
        dockerfile: list[tuple[str, str]]) -> None:
    built = stages(dockerfile)
    assert len(built) >= 2
    args = global_args(dockerfile)
    bases = [stage[0][1].split()[0] for stage in built]
    resolved = [re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), base)
                for base in bases]
    for image in resolved:
        name, _, tag = image.partition(":")
        assert name == "python" and tag.startswith("3.12-slim"), f"unpinned base {image}"
    final_copies = [arguments for keyword, arguments in built[-1] if keyword == "COPY"]
    assert any(arguments.startswith("--from=build ") for arguments in final_copies)


def test_runtime_stage_copies_the_environment_where_the_build_made_it(
        dockerfile: list[tuple[str, str]], final_stage: list[tuple[str, str]]) -> None:
    build_runs = " ".join(a for k, a in stages(dockerfile)[0] if k == "RUN")
    venv = re.search(r"-m venv (\S+)", build_runs)
    assert venv is not None
    copy = next(a for k, a in final_stage if k == "COPY" and a.startswith("--from="))
    assert copy.split()[1:] == [venv.group(1), venv.group(1)]
    assert "pip wheel --no-deps . -w /wheels" in build_runs
    assert "[postgres]" in build_runs
    path = next(env_pairs(a)["PATH"] for k, a in final_stage if k == "ENV" and "PATH=" in a)
    assert path.startswith(f"{venv.group(1)}/bin:")


def test_final_stage_runs_as_the_unprivileged_user(final_stage: list[tuple[str, str]]) -> None:
    users = [arguments for keyword, arguments in final_stage if keyword == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user == "10001"
    after = final_stage[[k for k, _ in final_stage].index("USER") + 1:]
    assert not any(keyword == "RUN" for keyword, _ in after), "RUN after USER: keep it root"
    setup = " ".join(a for k, a in final_stage if k == "RUN")
    assert "--uid 10001" in setup and "chown 10001:10001 /data" in setup


def test_final_stage_settings(final_stage: list[tuple[str, str]]) -> None:
    env: dict[str, str] = {}
    for keyword, arguments in final_stage:
        if keyword == "ENV":
            env.update(env_pairs(arguments))
    assert env["TRADELOOP_HOME"] == "/data"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    one = {keyword: arguments for keyword, arguments in final_stage}
    assert json.loads(one["VOLUME"]) == ["/data"]
    assert one["EXPOSE"] == "8080"
    assert one["STOPSIGNAL"] == "SIGINT"
    assert exec_form(one["ENTRYPOINT"]) == ["tradeloop"]
    assert exec_form(one["CMD"]) == ["paper", "/config/node.toml", "--api"]


def test_no_secret_goes_into_a_layer(dockerfile: list[tuple[str, str]]) -> None:
    assert not [a for k, a in dockerfile if k == "ADD"], "use COPY: ADD fetches and unpacks"
    for keyword, arguments in dockerfile:
        if keyword in ("ENV", "ARG", "LABEL"):
            for item in shlex.split(arguments):
                name = item.partition("=")[0]
                assert not SECRET_NAME.search(name), f"{keyword} {name}: secrets come at run time"
        if keyword == "COPY" and not arguments.startswith("--from="):
            sources = arguments.split()[:-1]
            assert set(sources) <= {"pyproject.toml", "README.md", "src"}, sources


def test_dockerignore_keeps_environments_history_and_secrets_out() -> None:
    patterns = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    for required in (".venv/", ".git/", "**/.env", "**/__pycache__/", ".pytest_cache/",
                     "build/", "dist/", "deploy/metrics_token"):
        assert required in patterns, required
    for needed in ("pyproject.toml", "README.md", "src", "src/", "!src"):
        assert needed not in patterns, f"{needed} is needed by the build"


class _Health(BaseHTTPRequestHandler):
    reply: tuple[int, dict[str, Any]] = (200, {"status": "ok", "running": True})

    def do_GET(self) -> None:
        status, body = self.reply if self.path == "/health" else (404, {"detail": "no"})
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _run_healthcheck(final_stage: list[tuple[str, str]], reply: tuple[int, dict[str, Any]],
                     **environment: str) -> int:
    healthcheck = next(a for k, a in final_stage if k == "HEALTHCHECK")
    command = exec_form(healthcheck[healthcheck.index("CMD ") + 4:])
    assert command[0] == "python"
    handler = type("Handler", (_Health,), {"reply": reply})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        done = subprocess.run([sys.executable, *command[1:]], check=False, capture_output=True,
                              env={"TRADELOOP_API__PORT": str(port), **environment},
                              timeout=60)
        return done.returncode
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_healthcheck_asks_health_without_curl(final_stage: list[tuple[str, str]]) -> None:
    healthcheck = next(a for k, a in final_stage if k == "HEALTHCHECK")
    assert "/health" in healthcheck and "urllib" in healthcheck and "curl" not in healthcheck
    assert "http://127.0.0.1:" in healthcheck
    assert "'8080'" in healthcheck  # the port by default


def test_healthcheck_passes_on_a_healthy_node(final_stage: list[tuple[str, str]]) -> None:
    assert _run_healthcheck(final_stage, (200, {"status": "ok", "running": True})) == 0


def test_healthcheck_ignores_a_proxy_in_the_environment(
        final_stage: list[tuple[str, str]]) -> None:
    dead = "http://127.0.0.1:9"  # discard port: nothing proxies there
    reply = (200, {"status": "ok"})
    assert _run_healthcheck(final_stage, reply, http_proxy=dead, HTTP_PROXY=dead) == 0


@pytest.mark.parametrize("reply", [(503, {"status": "ok"}), (200, {"status": "starting"})])
def test_healthcheck_fails_on_an_unhealthy_node(final_stage: list[tuple[str, str]],
                                                reply: tuple[int, dict[str, Any]]) -> None:
    assert _run_healthcheck(final_stage, reply) != 0


def test_healthcheck_fails_when_nothing_listens(final_stage: list[tuple[str, str]]) -> None:
    healthcheck = next(a for k, a in final_stage if k == "HEALTHCHECK")
    command = exec_form(healthcheck[healthcheck.index("CMD ") + 4:])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    port = server.server_address[1]
    server.server_close()  # the port is free again: nothing answers there
    done = subprocess.run([sys.executable, *command[1:]], check=False, capture_output=True,
                          env={"TRADELOOP_API__PORT": str(port)}, timeout=60)
    assert done.returncode != 0


# -- compose --------------------------------------------------------------------------------


def test_compose_has_the_node_the_database_and_optional_prometheus(
        compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"node", "db", "prometheus"}
    assert "profiles" not in services["node"] and "profiles" not in services["db"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["db"]["image"] == "postgres:16"
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", services["prometheus"]["image"])


def test_node_is_built_from_the_dockerfile_with_the_repository_as_context(
        compose: dict[str, Any]) -> None:
    build = compose["services"]["node"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"


def test_every_published_port_is_on_the_loopback(compose: dict[str, Any]) -> None:
    assert "ports" not in compose["services"]["db"], "only the node reaches the database"
    published = 0
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: write ports as \"IP:HOST:CONTAINER\""
            assert port.startswith("127.0.0.1:"), f"{name}: {port} is reachable from outside"
            published += 1
    assert compose["services"]["node"]["ports"] == ["127.0.0.1:8080:8080"]
    assert published >= 1


def test_node_waits_for_a_healthy_database(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["node"]["depends_on"]["db"]["condition"] == "service_healthy"
    test = services["db"]["healthcheck"]["test"]
    assert "pg_isready" in (test if isinstance(test, str) else " ".join(test))


def test_node_mounts_its_config_read_only_and_keeps_its_home_in_a_volume(
        compose: dict[str, Any]) -> None:
    node = compose["services"]["node"]
    volumes = node["volumes"]
    assert "./node.example.toml:/config/node.toml:ro" in volumes
    assert (DEPLOY / "node.example.toml").is_file()
    assert "node-data:/data" in volumes and "node-data" in compose["volumes"]
    assert node["read_only"] is True and node["cap_drop"] == ["ALL"]
    assert node["stop_signal"] == "SIGINT"


def test_secrets_come_from_an_uncommitted_env_file(compose: dict[str, Any]) -> None:
    env_file = compose["services"]["node"]["env_file"]
    assert env_file == [{"path": ".env", "required": False}]


def test_no_literal_password_anywhere_in_compose(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in environment_of(service).items():
            if SECRET_NAME.search(key):
                assert VARIABLE_REFERENCE.match(value), f"{name}: {key} must be ${{VAR}}"
    for text in strings_in(compose):
        if "://" in text:
            # every reference becomes one marker: a password that is not one is literal
            password = urlsplit(INTERPOLATION.sub("REFERENCE", text)).password
            assert password in (None, "REFERENCE"), f"literal password in {text!r}"


def test_node_database_url_matches_the_database_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    values = {"POSTGRES_PASSWORD": "abc123"}
    url = urlsplit(interpolate(environment_of(services["node"])["TRADELOOP_DATABASE_URL"],
                               values))
    db = {k: interpolate(v, values) for k, v in environment_of(services["db"]).items()}
    assert url.scheme == "postgresql+psycopg"
    assert (url.username, url.hostname, url.port) == (db["POSTGRES_USER"], "db", 5432)
    assert url.path == "/" + db["POSTGRES_DB"]
    assert url.password == db["POSTGRES_PASSWORD"] == "abc123"


def test_prometheus_scrapes_the_node_with_a_token_from_a_file(compose: dict[str, Any]) -> None:
    service = compose["services"]["prometheus"]
    mounts = service["volumes"]
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    token = next(m for m in mounts if isinstance(m, dict))
    assert token["read_only"] is True and token["bind"]["create_host_path"] is False
    settings = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    (job,) = settings["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": ["node:8080"]}]
    assert job["authorization"] == {"type": "Bearer", "credentials_file": token["target"]}


# -- the example node -----------------------------------------------------------------------


def test_example_node_loads_with_the_environment_compose_gives_it(
        example_node: NodeConfig) -> None:
    assert example_node.mode == "paper"
    assert example_node.database.url.get_secret_value() == DATABASE_URL
    api = example_node.api
    assert api.enabled and api.host == "0.0.0.0" and api.port == 8080
    assert api.behind_proxy is True and not api.tls_cert
    assert example_node.data.source == "synthetic"
    assert "s3cretpw" not in json.dumps(example_node.redacted(), default=str)


def test_example_node_loads_without_a_database_url() -> None:
    config = load_node_config(DEPLOY / "node.example.toml", {})
    assert config.database.url.get_secret_value() == ""  # SQLite under the home


def test_example_node_needs_a_token_to_listen_in_the_container(
        example_node: NodeConfig) -> None:
    from tradeloop.api.server import check_exposure

    with pytest.raises(ConfigError, match="token"):
        check_exposure(example_node.api, active_tokens=0)
    check_exposure(example_node.api, active_tokens=1)


def test_example_node_strategy_exists(example_node: NodeConfig) -> None:
    from tradeloop.services.strategies import resolve_strategy

    (spec,) = example_node.strategies
    strategy = resolve_strategy(spec.strategy)
    for param in spec.params:
        assert hasattr(strategy, param), f"{spec.strategy} has no parameter {param}"


# -- systemd --------------------------------------------------------------------------------


def test_unit_runs_the_node_as_its_own_user(unit: dict[str, list[tuple[str, str]]]) -> None:
    def one(key: str) -> str:
        (value,) = unit_values(unit, "Service", key)
        return value

    assert one("Type") == "simple"
    assert one("User") == "tradeloop"
    assert one("EnvironmentFile") == "/etc/tradeloop/tradeloop.env"
    assert one("ExecStart") == ("/opt/tradeloop/.venv/bin/tradeloop paper "
                                "/etc/tradeloop/node.toml --api")
    assert one("Restart") == "on-failure"
    assert int(one("RestartSec")) > 0
    assert int(one("TimeoutStopSec")) >= 10
    assert one("KillSignal") == "SIGINT"
    assert unit_values(unit, "Install", "WantedBy") == ["multi-user.target"]


def test_unit_is_hardened(unit: dict[str, list[tuple[str, str]]]) -> None:
    service = dict(unit["Service"])
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("PrivateTmp", "yes"), ("ProtectHome", "yes"),
                       ("PrivateDevices", "yes"), ("RestrictSUIDSGID", "yes")):
        assert service.get(key) == value, key
    assert service["CapabilityBoundingSet"] == ""


def test_unit_can_write_only_its_home(unit: dict[str, list[tuple[str, str]]]) -> None:
    writable = " ".join(unit_values(unit, "Service", "ReadWritePaths")).split()
    assert writable == ["/var/lib/tradeloop"]
    (working,) = unit_values(unit, "Service", "WorkingDirectory")
    environment = " ".join(unit_values(unit, "Service", "Environment")).split()
    assert working in writable
    assert f"TRADELOOP_HOME={working}" in environment
    assert unit_values(unit, "Service", "StateDirectory") == ["tradeloop"]


def test_unit_keys_are_in_their_sections(unit: dict[str, list[tuple[str, str]]]) -> None:
    # systemd ignores a key in the wrong section with a mere warning
    unit_only = {"StartLimitIntervalSec", "After", "Wants", "Requires", "Description"}
    for key, _ in unit["Service"]:
        assert key not in unit_only, f"{key} belongs in [Unit]"
    assert set(unit) == {"Unit", "Service", "Install"}


# -- documentation --------------------------------------------------------------------------


def test_readmes_point_to_the_deployment_files() -> None:
    guide = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for name in ("Dockerfile", "compose.yaml", "node.example.toml", "prometheus.yml",
                 "tradeloop.service"):
        assert f"`{name}`" in guide and (DEPLOY / name).is_file(), name
    assert "token create" in guide and "pg_dump" in guide
    main = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Deployment" in main and "deploy/README.md" in main
