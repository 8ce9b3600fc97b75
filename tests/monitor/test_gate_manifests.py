"""The shipped progressive-delivery manifests point at the gate as the server routes it.

No Kubernetes, Argo Rollouts or Flagger is available to the tests, so the
manifests are checked statically: they parse, and the URLs, JSON path and
payload fields they use are the ones the gate serves and reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from monitor.api import create_app
from monitor.settings import Settings
from support import ROOT

DIR = ROOT / "deploy" / "progressive-delivery"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DIR / name).read_text())
    return document


def routes(tmp_path: Path) -> set[tuple[str, str]]:
    """(METHOD, path) pairs of the server's OpenAPI document."""
    app = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'x.db'}"))  # type: ignore[call-arg]
    return {(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item}


def test_analysis_template_uses_the_gate_with_the_ok_json_path(tmp_path: Path) -> None:
    template = load("analysis-template.yaml")
    assert (template["apiVersion"], template["kind"]) == ("argoproj.io/v1alpha1", "AnalysisTemplate")
    [metric] = template["spec"]["metrics"]
    web = metric["provider"]["web"]
    assert web["jsonPath"] == "{$.ok}"
    assert web["url"] == "{{args.driftline-url}}/api/v1/gates/{{args.model}}?version={{args.canary-version}}"
    assert (metric["successCondition"], metric["failureCondition"]) == ("result == true", "result == false")
    declared = {arg["name"] for arg in template["spec"]["args"]}
    assert {"model", "canary-version", "driftline-url", "read-token"} <= declared
    assert ("GET", "/api/v1/gates/{model}") in routes(tmp_path)


def test_flagger_canary_calls_the_flagger_endpoint_with_a_version(tmp_path: Path) -> None:
    canary = load("flagger-canary.yaml")
    assert (canary["apiVersion"], canary["kind"]) == ("flagger.app/v1beta1", "Canary")
    [hook] = canary["spec"]["analysis"]["webhooks"]
    assert hook["type"] == "rollout"
    assert hook["url"].endswith("/api/v1/gates/churn/flagger")
    assert set(hook["metadata"]) == {"version", "baseline"}
    assert all(isinstance(value, str) for value in hook["metadata"].values())  # Flagger metadata is map[string]string
    assert ("POST", "/api/v1/gates/{model}/flagger") in routes(tmp_path)
