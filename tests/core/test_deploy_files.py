"""The deployment files under ``deploy/`` parse, and what they name exists in triops: the
commands they run, the settings their environment sets, the paths their probes hit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
import yaml

from triops.cli.main import app as cli_app
from triops.core.settings import Settings
from triops.server.app import ROUTERS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
#: Read by botocore for S3 artifacts, not by triops' settings.
AWS_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE"}
SETTINGS_VARIABLES = {f"TRIOPS_{name.upper()}" for name in Settings.model_fields}
APP_PATHS = {getattr(route, "path", None) for router in ROUTERS for route in router.routes}


def _known_variable(name: str) -> bool:
    return name in SETTINGS_VARIABLES or name in AWS_VARIABLES


def _runs_a_triops_command(argv: list[str]) -> bool:
    """``argv`` is ``triops`` and a command path the CLI has."""
    assert argv[0] == "triops", argv
    command = typer.main.get_command(cli_app)
    for word in argv[1:]:
        if word.startswith("-"):
            break
        assert hasattr(command, "commands"), f"{argv}: {word!r} follows a leaf command"
        command = command.commands.get(word)
        assert command is not None, f"{argv}: triops has no command {word!r}"
    return True


def test_the_probe_paths_exist_in_the_app():
    assert {"/readyz", "/healthz"} <= APP_PATHS


def test_compose_runs_two_replicas_after_a_one_shot_migration():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "triops-1", "triops-2"} <= set(services)

    migrate = services["migrate"]
    assert migrate["command"] == ["triops", "db", "upgrade"]
    assert _runs_a_triops_command(migrate["command"])
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"

    replicas = [services["triops-1"], services["triops-2"]]
    host_ports = set()
    for replica in replicas:
        assert replica["image"] == migrate["image"]
        assert _runs_a_triops_command(replica["command"]) and replica["command"][1] == "up"
        assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        env = replica["environment"]
        assert all(_known_variable(name) for name in env), sorted(env)
        # One store, one Redis, one artifact root for both: what makes them replicas.
        assert env["TRIOPS_STORE"] == migrate["environment"]["TRIOPS_STORE"]
        assert env["TRIOPS_STORE"].startswith("postgresql+psycopg://")
        assert env["TRIOPS_REDIS_URL"].startswith("redis://redis:")
        assert env["TRIOPS_HOST"] == "0.0.0.0"
        assert f"artifacts:{env['TRIOPS_ARTIFACTS']}" in replica["volumes"]
        probe = " ".join(replica["healthcheck"]["test"])
        path = re.search(rf":{env['TRIOPS_PORT']}(/\w+)", probe).group(1)
        assert path in APP_PATHS
        host_ports.update(port.split(":")[0] for port in replica["ports"])
        assert all(port.endswith(f":{env['TRIOPS_PORT']}") for port in replica["ports"])
    assert len(host_ports) == 2
    assert {"pgdata", "artifacts"} <= set(compose["volumes"])


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict]:
    found = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def _env_sources(manifests, container: dict) -> set[str]:
    names = set()
    for source in container["envFrom"]:
        if "configMapRef" in source:
            names |= set(manifests[("ConfigMap", source["configMapRef"]["name"])]["data"])
        else:
            names |= set(manifests[("Secret", source["secretRef"]["name"])]["stringData"])
    return names


def test_kubernetes_deployment_probes_and_environment(manifests):
    deployment = manifests[("Deployment", "triops")]
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"] == deployment["spec"]["selector"]["matchLabels"]
    (container,) = pod["spec"]["containers"]
    assert _runs_a_triops_command(container["command"]) and container["command"][1] == "up"

    env = _env_sources(manifests, container)
    assert all(_known_variable(name) for name in env), sorted(env)
    assert {"TRIOPS_STORE", "TRIOPS_REDIS_URL", "TRIOPS_ADMIN_KEY", "TRIOPS_HOST",
            "TRIOPS_ARTIFACTS"} <= env
    config = manifests[("ConfigMap", "triops-config")]["data"]
    secret = manifests[("Secret", "triops-secrets")]["stringData"]
    assert "TRIOPS_STORE" in secret and "TRIOPS_ADMIN_KEY" in secret  # never in the ConfigMap
    assert config["TRIOPS_HOST"] == "0.0.0.0"
    assert config["TRIOPS_ARTIFACTS"].startswith("s3://")  # shared by pods on any node

    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports["http"] == int(config["TRIOPS_PORT"])
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}

    service = manifests[("Service", "triops")]
    assert service["spec"]["selector"] == pod["metadata"]["labels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_kubernetes_migration_job(manifests):
    job = manifests[("Job", "triops-migrate")]
    deployment = manifests[("Deployment", "triops")]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    (server,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["triops", "db", "upgrade"]
    assert _runs_a_triops_command(container["command"])
    assert container["image"] == server["image"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
    # The same store as the replicas it migrates for.
    assert "TRIOPS_STORE" in _env_sources(manifests, container)
    assert container["envFrom"] == server["envFrom"]
