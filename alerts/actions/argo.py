"""Abort an Argo Rollouts canary: PATCH the Rollout's status subresource, or run the kubectl plugin.

``mode: api`` (default) sends what ``kubectl argo rollouts abort`` sends::

    PATCH {api_url}/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts/{rollout}/status
    Content-Type: application/merge-patch+json
    {"status":{"abort":true}}

with a bearer token taken, in this order, from ``token`` (config secret),
``token_env`` (an environment variable), ``token_file`` (read at every run, since
projected service-account tokens rotate) or the in-cluster service-account
token when Driftline runs in a pod. The server certificate is checked against
``ca_file`` (default: the in-cluster CA when present) unless
``insecure_skip_tls_verify`` is set. The service account needs ``patch`` on
``rollouts/status`` in the namespace.

``mode: kubectl`` runs ``kubectl argo rollouts abort ROLLOUT -n NAMESPACE`` as an
argv list (no shell), with ``--kubeconfig``/``--context`` when given.

``rollout`` and ``namespace`` are templates over the alert; what they render to
must be a valid Kubernetes name, so an alert label can never change the path.

References: https://argo-rollouts.readthedocs.io/en/stable/generated/kubectl-argo-rollouts/kubectl-argo-rollouts_abort/
"""

from __future__ import annotations

import os
import re
import shlex
import ssl
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import Field, HttpUrl, SecretStr

from alerts._http import attempt
from alerts._render import Template, TemplateStr
from alerts._spec import Spec, parse_spec
from alerts.actions.command import run_argv
from alerts.model import Alert, Result

__all__ = ["ABORT_PATCH", "ArgoRolloutsAbort", "ArgoSpec", "status_path"]

ABORT_PATCH = b'{"status":{"abort":true}}'
IN_CLUSTER = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # RFC 1123 subdomain, as Kubernetes names


def status_path(namespace: str, rollout: str) -> str:
    """The API path of a Rollout's status subresource; names are checked first.

    >>> status_path("shop", "churn-model")
    '/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/churn-model/status'
    >>> status_path("shop", "../secrets")
    Traceback (most recent call last):
    ...
    ValueError: rollout '../secrets' is not a valid Kubernetes name
    """
    for what, value in (("namespace", namespace), ("rollout", rollout)):
        if not _NAME.match(value):
            raise ValueError(f"{what} {value!r} is not a valid Kubernetes name")
    return f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts/{rollout}/status"


class ArgoSpec(Spec):
    """``policies.<name>.action`` for ``type: argo-rollouts``."""

    rollout: TemplateStr = Field(description="Rollout name (template), e.g. '{{ labels.model }}'.")
    namespace: TemplateStr = "default"
    mode: Literal["api", "kubectl"] = "api"
    api_url: HttpUrl = Field(HttpUrl("https://kubernetes.default.svc"), description="Kubernetes API server.")
    token: SecretStr | None = None
    token_env: str | None = None
    token_file: Path | None = None
    ca_file: Path | None = None
    insecure_skip_tls_verify: bool = False
    kubectl: str = Field("kubectl", description="kubectl binary (mode: kubectl); needs the argo-rollouts plugin.")
    kubeconfig: str | None = None
    context: str | None = None
    timeout_seconds: float = Field(15.0, gt=0, le=600)


class ArgoRolloutsAbort:
    """Aborts the Rollout an alert names."""

    def __init__(self, name: str, spec: ArgoSpec) -> None:
        self.name = name
        self.spec = spec
        self.rollout = Template(spec.rollout)
        self.namespace = Template(spec.namespace)
        self._client: httpx.Client | None = None
        if spec.mode == "api":
            ca = spec.ca_file or (IN_CLUSTER / "ca.crt" if (IN_CLUSTER / "ca.crt").exists() else None)
            verify: bool | ssl.SSLContext = True
            if spec.insecure_skip_tls_verify:
                verify = False
            elif ca is not None:
                verify = ssl.create_default_context(cafile=str(ca))
            self._client = httpx.Client(timeout=httpx.Timeout(spec.timeout_seconds), follow_redirects=False, verify=verify)

    @staticmethod
    def from_spec(name: str, spec: Mapping[str, Any]) -> ArgoRolloutsAbort:
        where = f"policies.{name}.action"
        parsed = parse_spec(ArgoSpec, spec, where)
        given = [key for key in ("token", "token_env", "token_file") if getattr(parsed, key) is not None]
        if len(given) > 1:
            raise ValueError(f"{where}.{given[1]}: give one of token, token_env, token_file (got {', '.join(given)})")
        for key in ("token_file", "ca_file"):
            path = getattr(parsed, key)
            if path is not None and not path.is_file():
                raise ValueError(f"{where}.{key}: {str(path)!r} is not a readable file")
        return ArgoRolloutsAbort(name, parsed)

    def _token(self) -> str | None:
        spec = self.spec
        if spec.token is not None:
            return spec.token.get_secret_value()
        if spec.token_env is not None:
            return os.environ.get(spec.token_env)
        path = spec.token_file or (IN_CLUSTER / "token")
        try:
            return path.read_text().strip()
        except OSError:
            return None

    def _kubectl_argv(self, namespace: str, rollout: str) -> list[str]:
        argv = [self.spec.kubectl, "argo", "rollouts", "abort", rollout, "-n", namespace]
        if self.spec.kubeconfig:
            argv += ["--kubeconfig", self.spec.kubeconfig]
        if self.spec.context:
            argv += ["--context", self.spec.context]
        return argv

    def run(self, alert: Alert, *, dry_run: bool = False) -> Result:
        try:
            namespace, rollout = self.namespace.render(alert), self.rollout.render(alert)
            path = status_path(namespace, rollout)
        except Exception as exc:  # an undefined label or a bad name: this alert cannot name a rollout
            return Result(ok=False, retryable=False, detail=f"cannot name the rollout: {exc}")
        if self.spec.mode == "kubectl":
            argv = self._kubectl_argv(namespace, rollout)
            if dry_run:
                return Result(ok=True, detail=f"dry run: would run {shlex.join(argv)}")
            env = {key: os.environ[key] for key in ("PATH", "HOME", "KUBECONFIG") if key in os.environ}
            return run_argv(argv, env=env, timeout_s=self.spec.timeout_seconds)
        url = str(self.spec.api_url).rstrip("/") + path
        if dry_run:
            return Result(ok=True, detail=f"dry run: would PATCH {url} with {ABORT_PATCH.decode()}")
        assert self._client is not None  # built in api mode
        headers = {"content-type": "application/merge-patch+json", "accept": "application/json"}
        token = self._token()
        if token:
            headers["authorization"] = f"Bearer {token}"
        result = attempt(self._client, "PATCH", url, content=ABORT_PATCH, headers=headers)
        return replace(result, detail=f"abort {namespace}/{rollout}: {result.detail}")

    def shutdown(self) -> None:
        if self._client is not None:
            self._client.close()
