"""deploy/compose.yaml: the services, their health checks, profiles, files and wiring.

No Docker engine is available here, so the file is validated against the Compose Specification's
JSON schema (vendored in check-jsonschema) and checked structurally: every file it mounts exists,
every name one service uses for another resolves, images are pinned, ports stay on loopback, and
Driftline's commands parse with the real CLI parser.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from deploy_support import DEPLOY, load_yaml
from monitor.cli import build_parser

COMPOSE = load_yaml(DEPLOY / "compose.yaml")
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DRIFTLINE_IMAGE = "driftline:local"
#: Services with nothing to probe from inside: the Collector's image has no shell or HTTP client,
#: the simulator is a client.
UNPROBED = {"otel-collector", "simulator"}


def mounts(service: str) -> dict[str, Path]:
    """Container path → host path of the service's bind mounts (named volumes left out)."""
    found: dict[str, Path] = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            found[target] = (DEPLOY / source).resolve()
    return found


def host_file(service: str, container_path: str) -> Path:
    """The host file that appears at ``container_path`` in ``service``, through a file or folder mount."""
    path = PurePosixPath(container_path)
    for target, source in mounts(service).items():
        if path == PurePosixPath(target):
            return source
        if PurePosixPath(target) in path.parents:
            return source / path.relative_to(target)
    raise AssertionError(f"{service}: nothing is mounted at {container_path}")


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_compose_file_follows_the_compose_specification(tmp_path: Path) -> None:
    result = check_compose_schema(DEPLOY / "compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "compose.yaml"  # the schema check can fail: a misspelt key is reported
    broken.write_text((DEPLOY / "compose.yaml").read_text().replace("start_period:", "start_periode:", 1))
    result = check_compose_schema(broken)
    assert result.returncode != 0
    assert "start_periode" in result.stdout


def test_the_stack_has_every_component() -> None:
    assert set(SERVICES) == {"driftline", "dashboard", "otel-collector", "prometheus", "alertmanager", "grafana", "simulator"}
    assert set(COMPOSE["volumes"]) == {"driftline-data", "prometheus-data", "alertmanager-data", "grafana-data"}


def test_only_the_simulator_is_optional() -> None:
    assert {name: s.get("profiles") for name, s in SERVICES.items() if "profiles" in s} == {"simulator": ["demo"]}


@pytest.mark.parametrize("service", sorted(set(SERVICES) - UNPROBED))
def test_long_running_services_have_health_checks(service: str) -> None:
    check = SERVICES[service]["healthcheck"]
    assert check["test"][0] == "CMD"
    assert any("http://127.0.0.1:" in part for part in check["test"]), "probe the service itself"
    assert {"interval", "timeout", "retries"} <= set(check)


def test_driftline_and_dashboard_probe_their_own_endpoints() -> None:
    assert "/healthz'" in SERVICES["driftline"]["healthcheck"]["test"][-1]
    assert "/_stcore/health'" in SERVICES["dashboard"]["healthcheck"]["test"][-1]


def test_dependencies_wait_for_health_checks_that_exist() -> None:
    for name, service in SERVICES.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            if condition["condition"] == "service_healthy":
                assert "test" in SERVICES[dependency].get("healthcheck", {}), f"{name} waits on {dependency}, which has no check"
    assert SERVICES["dashboard"]["depends_on"]["driftline"]["condition"] == "service_healthy"


def test_referenced_files_exist() -> None:
    build = SERVICES["driftline"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    for name in SERVICES:
        for target, source in mounts(name).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"


def test_images_are_pinned_and_ports_stay_on_loopback() -> None:
    for name, service in SERVICES.items():
        image = service["image"]
        assert ":" in image, name
        assert not image.endswith(":latest"), name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
    assert {name for name, s in SERVICES.items() if s["image"] == DRIFTLINE_IMAGE} == {"driftline", "dashboard", "simulator"}


def test_driftline_commands_parse_with_the_cli() -> None:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, service in SERVICES.items():
        if service["image"] != DRIFTLINE_IMAGE:
            continue
        command = service["command"]
        if command[0] in commands.choices:
            parser.parse_args(command)  # exits (SystemExit 2) on a wrong option
        else:  # a contract command whose module is not in this tree yet
            assert command[0] == "dashboard", f"{name}: unknown command {command}"


def test_driftline_reads_the_shared_settings_file() -> None:
    command = SERVICES["driftline"]["command"]
    config = command[command.index("--config") + 1]
    assert host_file("driftline", config) == DEPLOY / "kubernetes" / "base" / "driftline.yaml"


def test_prometheus_finds_its_rules_and_reaches_driftline_and_alertmanager() -> None:
    command = SERVICES["prometheus"]["command"]
    config_path = next(arg.split("=", 1)[1] for arg in command if arg.startswith("--config.file="))
    config_file = host_file("prometheus", config_path)
    assert config_file == DEPLOY / "prometheus" / "prometheus.yml"
    config = load_yaml(config_file)
    for rule_file in config["rule_files"]:
        in_container = PurePosixPath(config_path).parent / rule_file
        assert host_file("prometheus", str(in_container)) == DEPLOY / "prometheus" / "rules.yml"
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "driftline"]
    assert job["static_configs"][0]["targets"] == ["driftline:4318"]
    (alertmanager,) = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanager.split(":")[0] in SERVICES
    config_path = next(a.split("=", 1)[1] for a in SERVICES["alertmanager"]["command"] if a.startswith("--config.file="))
    assert host_file("alertmanager", config_path) == DEPLOY / "alertmanager" / "alertmanager.yml"


def test_grafana_is_provisioned_with_the_datasource_and_the_dashboards() -> None:
    provisioning = host_file("grafana", "/etc/grafana/provisioning/datasources/driftline.yml")
    (datasource,) = load_yaml(provisioning)["datasources"]
    assert datasource["url"].removeprefix("http://").split(":")[0] in SERVICES
    providers = load_yaml(host_file("grafana", "/etc/grafana/provisioning/dashboards/driftline.yml"))["providers"]
    folder = host_file("grafana", providers[0]["options"]["path"])
    assert sorted(path.name for path in folder.glob("*.json")) == [
        "gpu-and-serving.json",
        "kpis-vs-model-health.json",
        "model-drift-overview.json",
    ]
    assert host_file("grafana", SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]).is_file()


def test_collector_forwards_to_the_driftline_service() -> None:
    config = load_yaml(host_file("otel-collector", "/etc/otelcol-contrib/config.yaml"))
    endpoint = config["exporters"]["otlphttp/driftline"]["endpoint"]
    assert endpoint == "http://driftline:4318"
    # the token the exporter's header reads from its environment is passed on by compose
    assert "DRIFTLINE_INGEST_TOKEN" in SERVICES["otel-collector"]["environment"]
