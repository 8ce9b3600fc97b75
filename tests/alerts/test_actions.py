"""Rollback actions: Argo Rollouts abort against a fake Kubernetes API, HTTP calls, commands; dry runs call nothing."""

from __future__ import annotations

import json
import os
import ssl
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from http_fakes import Built, FakeReceiver, Reply

from alerts.actions import ArgoRolloutsAbort, CommandAction, HttpAction, build_action
from alerts.model import Alert

ALERT = Alert(
    fingerprint="fp-1",
    alertname="FeatureDrift",
    state="firing",
    severity="critical",
    labels={"model": "churn-model", "version": "v2", "namespace": "shop"},
    annotations={"summary": "income drifted"},
    starts_at=1_700_000_000.0,
    value=0.4,
)
TOKEN = "eyJhbGciOiJSUzI1NiJ9.sa-token"


@pytest.fixture
def built() -> Iterator[Built]:
    with Built() as builder:
        yield builder


@pytest.fixture
def kube() -> Iterator[FakeReceiver]:
    with FakeReceiver(Reply(200, {"content-type": "application/json"}, b'{"kind":"Rollout"}')) as fake:
        yield fake


def argo(built: Built, **spec: object) -> ArgoRolloutsAbort:
    action = built(build_action, "abort", {"type": "argo-rollouts", **spec})
    assert isinstance(action, ArgoRolloutsAbort)
    return action


def test_argo_abort_sends_the_status_patch_with_the_token(kube: FakeReceiver, built: Built) -> None:
    action = argo(built, api_url=kube.url, token=TOKEN, rollout="{{ labels.model }}", namespace="{{ labels.namespace }}")
    result = action.run(ALERT)
    assert result.ok, result.detail
    assert result.detail == "abort shop/churn-model: HTTP 200"
    [request] = kube.requests
    assert request.method == "PATCH"
    assert request.path == "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/churn-model/status"
    assert request.headers["content-type"] == "application/merge-patch+json"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.json() == {"status": {"abort": True}}


def test_argo_token_file_is_read_at_every_run(kube: FakeReceiver, built: Built, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first-token\n")
    action = argo(built, api_url=kube.url, token_file=str(token_file), rollout="{{ labels.model }}")
    assert action.run(ALERT).ok
    token_file.write_text("rotated-token\n")  # projected service-account tokens rotate
    assert action.run(ALERT).ok
    assert [r.headers["authorization"] for r in kube.requests] == ["Bearer first-token", "Bearer rotated-token"]
    assert kube.requests[0].path.endswith("/namespaces/default/rollouts/churn-model/status")


def test_argo_token_from_env(kube: FakeReceiver, built: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLBACK_TOKEN", "env-token")
    assert argo(built, api_url=kube.url, token_env="ROLLBACK_TOKEN", rollout="web").run(ALERT).ok
    assert kube.requests[0].headers["authorization"] == "Bearer env-token"


@pytest.mark.parametrize(
    ("reply", "retryable"), [(Reply(404, body=b"not found"), False), (Reply(403), False), (Reply(503), True)]
)
def test_argo_api_errors_are_classified(kube: FakeReceiver, built: Built, reply: Reply, retryable: bool) -> None:
    kube.script(reply)
    result = argo(built, api_url=kube.url, token=TOKEN, rollout="web").run(ALERT)
    assert (result.ok, result.retryable, result.status_code) == (False, retryable, reply.status)
    assert TOKEN not in result.detail


def test_argo_refuses_a_label_that_is_not_a_kubernetes_name(kube: FakeReceiver, built: Built) -> None:
    action = argo(built, api_url=kube.url, token=TOKEN, rollout="{{ labels.model }}")
    bad = Alert("fp", "X", "firing", "critical", {"model": "../../api/v1/secrets"}, {}, 0.0)
    result = action.run(bad)
    assert (result.ok, result.retryable) == (False, False)
    assert "is not a valid Kubernetes name" in result.detail
    missing = action.run(Alert("fp", "X", "firing", "critical", {}, {}, 0.0))
    assert "has no attribute 'model'" in missing.detail
    assert kube.requests == []


def test_argo_tls_checks_the_server_against_ca_file(built: Built, tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.crt"
    ca.cert_pem.write_to_path(str(ca_file))
    with FakeReceiver(tls=context) as server:
        assert server.url.startswith("https://")
        trusted = argo(built, api_url=server.url, token=TOKEN, rollout="web", ca_file=str(ca_file)).run(ALERT)
        assert trusted.ok, trusted.detail
        unknown = argo(built, api_url=server.url, token=TOKEN, rollout="web").run(ALERT)  # system CAs only
        assert (unknown.ok, unknown.retryable) == (False, True)
        assert "connection error" in unknown.detail
        insecure = argo(built, api_url=server.url, token=TOKEN, rollout="web", insecure_skip_tls_verify=True).run(ALERT)
        assert insecure.ok, insecure.detail
        assert len(server.requests) == 2


def fake_kubectl(tmp_path: Path) -> tuple[Path, Path]:
    """An executable that records its argv (one JSON list per line) instead of talking to a cluster."""
    log = tmp_path / "kubectl.log"
    script = tmp_path / "kubectl"
    script.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "print('rollout aborted')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


def test_argo_kubectl_mode_runs_the_plugin_as_argv(built: Built, tmp_path: Path) -> None:
    script, log = fake_kubectl(tmp_path)
    spec = {"mode": "kubectl", "kubectl": str(script), "rollout": "{{ labels.model }}", "namespace": "{{ labels.namespace }}"}
    action = argo(built, **spec, context="prod")
    result = action.run(ALERT)
    assert result.ok, result.detail
    assert result.detail == "exit 0: rollout aborted"
    assert [json.loads(line) for line in log.read_text().splitlines()] == [
        ["argo", "rollouts", "abort", "churn-model", "-n", "shop", "--context", "prod"]
    ]
    dry = action.run(ALERT, dry_run=True)
    assert dry.detail == f"dry run: would run {script} argo rollouts abort churn-model -n shop --context prod"
    assert len(log.read_text().splitlines()) == 1


def test_argo_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^policies.abort.action.rollout: Field required"):
        build_action("abort", {"type": "argo-rollouts"})
    with pytest.raises(ValueError, match=r"^policies.abort.action.token_env: give one of token, token_env, token_file"):
        build_action("abort", {"type": "argo-rollouts", "rollout": "r", "token": "t", "token_env": "T"})
    with pytest.raises(ValueError, match=r"^policies.abort.action.ca_file: '/nonexistent/ca.crt' is not a readable file"):
        build_action("abort", {"type": "argo-rollouts", "rollout": "r", "ca_file": "/nonexistent/ca.crt"})
    with pytest.raises(ValueError, match=r"^policies.abort.action.mode: Input should be 'api' or 'kubectl'"):
        build_action("abort", {"type": "argo-rollouts", "rollout": "r", "mode": "helm"})


def test_http_action_renders_url_headers_and_body(built: Built) -> None:
    with FakeReceiver(Reply(202)) as hook:
        spec = {
            "type": "http",
            "url": hook.url + "/rollback/{{ labels.model }}?version={{ labels.version | urlencode }}",
            "method": "PUT",
            "headers": {"x-alert": "{{ alert.alertname }}"},
            "body": '{"model": {{ labels.model | tojson }}, "value": {{ alert.value }}}',
            "bearer_token": "deploy-token",
        }
        action = built(build_action, "rollback", spec)
        assert isinstance(action, HttpAction)
        result = action.run(ALERT)
        assert result.ok, result.detail
        assert result.detail == f"PUT {hook.url}/rollback/churn-model?version=v2: HTTP 202"
        [request] = hook.requests
        assert (request.method, request.path) == ("PUT", "/rollback/churn-model?version=v2")
        assert request.headers["x-alert"] == "FeatureDrift"
        assert request.headers["authorization"] == "Bearer deploy-token"
        assert request.headers["content-type"] == "application/json"
        assert request.json() == {"model": "churn-model", "value": 0.4}
        hook.script(Reply(500))
        failed = action.run(ALERT)
        assert (failed.ok, failed.retryable, failed.status_code) == (False, True, 500)
        assert "deploy-token" not in failed.detail


def test_http_action_template_errors() -> None:
    with pytest.raises(ValueError, match=r"^policies.rb.action.headers.x: Value error, template syntax error"):
        build_action("rb", {"type": "http", "url": "http://x", "headers": {"x": "{% if %}"}})
    with pytest.raises(ValueError, match=r"^policies.rb.action.method: Input should be 'GET', 'POST'"):
        build_action("rb", {"type": "http", "url": "http://x", "method": "TRACE"})


def command(built: Built, argv: list[str], **spec: object) -> CommandAction:
    action = built(build_action, "cmd", {"type": "command", "argv": argv, **spec})
    assert isinstance(action, CommandAction)
    return action


def test_command_passes_alert_values_as_single_arguments_without_a_shell(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_VAR", "yes")
    monkeypatch.setenv("SECRET_VAR", "do-not-pass")
    marker = tmp_path / "pwned"
    hostile = Alert("fp", "X", "firing", "critical", {"model": f"m; touch {marker} $(touch {marker})"}, {}, 0.0)
    probe = "import json, os, sys; print(json.dumps({'argv': sys.argv[1:], 'env': sorted(os.environ)}))"
    action = command(
        built, [sys.executable, "-c", probe, "{{ labels.model }}", "--severity={{ alert.severity }}"], env=["ALLOWED_VAR"]
    )
    result = action.run(hostile)
    assert result.ok, result.detail
    out = json.loads(result.detail.removeprefix("exit 0: "))
    assert out["argv"] == [f"m; touch {marker} $(touch {marker})", "--severity=critical"]
    assert set(out["env"]) - {"LC_CTYPE"} == {"ALLOWED_VAR"}  # PATH not allowed here; Python may add LC_CTYPE itself
    assert not marker.exists()


def test_command_timeout_kills_the_process_group(built: Built, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    action = command(built, ["sh", "-c", f"sleep 30 & echo $! > {pid_file}; wait"], timeout_seconds=0.5)
    result = action.run(ALERT)
    assert (result.ok, result.retryable) == (False, True)
    assert result.detail == "timed out after 0.5 s (process group killed)"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the background sleep died with its group
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the command's child survived the timeout")


def test_command_exit_codes_and_missing_program(built: Built) -> None:
    failed = command(built, ["sh", "-c", "echo rollback refused >&2; exit 4"]).run(ALERT)
    assert (failed.ok, failed.retryable, failed.detail) == (False, False, "exit 4: rollback refused")
    missing = command(built, ["/nonexistent/rollback"]).run(ALERT)
    assert (missing.ok, missing.retryable, missing.detail) == (False, False, "'/nonexistent/rollback' not found")
    with pytest.raises(ValueError, match=r"^policies.cmd.action.argv: List should have at least 1 item"):
        build_action("cmd", {"type": "command", "argv": []})
    with pytest.raises(ValueError, match=r"^policies.cmd.action.argv: Input should be a valid list"):
        build_action("cmd", {"type": "command", "argv": "rm -rf /"})


def test_dry_run_calls_nothing(built: Built, kube: FakeReceiver, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    actions = [
        argo(built, api_url=kube.url, token=TOKEN, rollout="{{ labels.model }}", namespace="shop"),
        built(build_action, "rb", {"type": "http", "url": kube.url + "/rb/{{ labels.model }}", "body": "{}"}),
        command(built, ["touch", str(marker)], env=["PATH"]),
    ]
    details = [action.run(ALERT, dry_run=True) for action in actions]
    assert all(d.ok for d in details)
    assert [d.detail for d in details] == [
        f"dry run: would PATCH {kube.url}/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/churn-model/status"
        ' with {"status":{"abort":true}}',
        f"dry run: would POST {kube.url}/rb/churn-model (2-byte body)",
        f"dry run: would run touch {marker}",
    ]
    assert kube.requests == []
    assert not marker.exists()
