"""deploy/otel-collector: each config is internally consistent and its hops line up.

No Collector binary is available here (`otelcol-contrib validate` would be the real check), so
the structure is checked: every component a pipeline names is defined, every defined component
is used, Driftline is reached over OTLP/HTTP only, and the two scale-out tiers agree on ports.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from deploy_support import DEPLOY, load_yaml

COLLECTOR = DEPLOY / "otel-collector"
CONFIGS = sorted(COLLECTOR.glob("*.yaml"))
SECTIONS = ("receivers", "processors", "exporters")


def load(name: str) -> dict[str, Any]:
    config: dict[str, Any] = load_yaml(COLLECTOR / name)
    return config


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_pipelines_use_exactly_the_defined_components(path: Path) -> None:
    config = load_yaml(path)
    assert set(config) <= {"receivers", "processors", "exporters", "extensions", "connectors", "service"}
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"logs", "metrics"}  # Driftline only counts traces: do not ship them
    for section in SECTIONS:
        used = {component for pipeline in pipelines.values() for component in pipeline.get(section, [])}
        assert used == set(config.get(section, {})), f"{path.name} {section}: defined {set(config.get(section, {}))}, used {used}"
    for pipeline in pipelines.values():
        assert pipeline["receivers"]
        assert pipeline["exporters"]
        if "memory_limiter" in pipeline.get("processors", []):
            assert pipeline["processors"][0] == "memory_limiter"  # first, so it can refuse data early
    assert set(config["service"]["extensions"]) == set(config["extensions"])


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_driftline_is_reached_over_otlp_http_with_the_ingest_token(path: Path) -> None:
    config = load_yaml(path)
    for name, exporter in config["exporters"].items():
        kind = name.split("/")[0]
        assert kind in {"otlphttp", "loadbalancing"}, f"{path.name}: {name}"
        if kind == "otlphttp":
            url = urlsplit(exporter["endpoint"])
            assert (url.scheme, url.port, url.path) == ("http", 4318, "")  # the exporter appends /v1/<signal>
            assert exporter["headers"]["Authorization"] == "Bearer ${env:DRIFTLINE_INGEST_TOKEN}"
            assert exporter["retry_on_failure"]["enabled"] is True
    assert set(re.findall(r"\$\{env:(\w+)\}", path.read_text())) <= {"DRIFTLINE_INGEST_TOKEN"}


def test_gateway_forwards_to_one_driftline() -> None:
    config = load("config.yaml")
    assert list(config["exporters"]) == ["otlphttp/driftline"]
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}


def test_load_balancer_routes_by_service_to_the_shard_sidecars() -> None:
    balancer = load("loadbalancer.yaml")["exporters"]["loadbalancing"]
    assert balancer["routing_key"] == "service"  # one model server's events stay on one shard
    assert list(balancer["protocol"]) == ["otlp"]  # OTLP/gRPC: the only protocol this exporter has
    (resolver,) = balancer["resolver"].values()
    sidecar = load("shard-sidecar.yaml")
    grpc_port = int(sidecar["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].rsplit(":", 1)[1])
    assert resolver["ports"] == [grpc_port]
    assert re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+", resolver["service"]), "k8s resolver wants <service>.<namespace>"


def test_shard_sidecar_hands_over_on_loopback() -> None:
    sidecar = load("shard-sidecar.yaml")
    assert list(sidecar["receivers"]["otlp"]["protocols"]) == ["grpc"]
    (exporter,) = sidecar["exporters"].values()
    assert urlsplit(exporter["endpoint"]).hostname == "127.0.0.1"  # the Driftline in the same pod
