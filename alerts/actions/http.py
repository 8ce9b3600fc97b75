"""Call an HTTP endpoint when a policy fires: templated URL, headers and body.

Templates see the alert as ``alert``, ``labels`` and ``annotations`` (see
:class:`alerts._render.Template`). A bearer token comes from the config (a
secret) or from an environment variable named in it; it is never rendered into
results. 2xx is success; 429, 5xx and transport errors are retryable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

import httpx
from pydantic import Field, SecretStr

from alerts._http import attempt
from alerts._render import Template, TemplateStr
from alerts._spec import Spec, parse_spec
from alerts.model import Alert, Result

__all__ = ["HttpAction", "HttpActionSpec"]


class HttpActionSpec(Spec):
    """``policies.<name>.action`` for ``type: http``."""

    url: TemplateStr = Field(description="Template of the URL, e.g. https://deploy.internal/rollback/{{ labels.model }}.")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, TemplateStr] = {}
    body: TemplateStr | None = Field(None, description="Template of the request body.")
    content_type: str = "application/json"
    bearer_token: SecretStr | None = None
    bearer_token_env: str | None = Field(None, description="Environment variable holding the bearer token.")
    timeout_seconds: float = Field(10.0, gt=0, le=300)


class HttpAction:
    """One templated HTTP request per alert."""

    def __init__(self, name: str, spec: HttpActionSpec) -> None:
        self.name = name
        self.method = spec.method
        self.url = Template(spec.url)
        self.headers = {key: Template(value) for key, value in spec.headers.items()}
        self.body = None if spec.body is None else Template(spec.body)
        self.content_type = spec.content_type
        self._token = spec.bearer_token
        self._token_env = spec.bearer_token_env
        self._client = httpx.Client(timeout=httpx.Timeout(spec.timeout_seconds), follow_redirects=False)

    @staticmethod
    def from_spec(name: str, spec: Mapping[str, Any]) -> HttpAction:
        parsed = parse_spec(HttpActionSpec, spec, f"policies.{name}.action")
        if parsed.bearer_token is not None and parsed.bearer_token_env is not None:
            raise ValueError(f"policies.{name}.action.bearer_token_env: give bearer_token or bearer_token_env, not both")
        return HttpAction(name, parsed)

    def _bearer(self) -> str | None:
        if self._token is not None:
            return self._token.get_secret_value()
        if self._token_env is not None:
            return os.environ.get(self._token_env)
        return None

    def run(self, alert: Alert, *, dry_run: bool = False) -> Result:
        try:
            url = self.url.render(alert)
            headers = {key: value.render(alert) for key, value in self.headers.items()}
            body = None if self.body is None else self.body.render(alert)
        except Exception as exc:  # an undefined label, say: the policy cannot run for this alert
            return Result(ok=False, retryable=False, detail=f"template error: {exc}")
        if not url.startswith(("http://", "https://")):
            return Result(ok=False, retryable=False, detail=f"rendered URL {url!r} is not http(s)")
        if dry_run:
            size = "no body" if body is None else f"{len(body.encode())}-byte body"
            return Result(ok=True, detail=f"dry run: would {self.method} {url} ({size})")
        if body is not None:
            headers.setdefault("content-type", self.content_type)
        token = self._bearer()
        if token:
            headers["authorization"] = f"Bearer {token}"
        result = attempt(self._client, self.method, url, content=None if body is None else body.encode(), headers=headers)
        return Result(
            result.ok, result.retryable, f"{self.method} {url}: {result.detail}", result.status_code, result.retry_after
        )

    def shutdown(self) -> None:
        self._client.close()
