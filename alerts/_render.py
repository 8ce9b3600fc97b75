"""How alerts are written out: JSON documents, RFC 3339 times and sandboxed templates.

Templates (action URLs, bodies, headers, command arguments) are Jinja2 rendered in
its sandbox with undefined names as errors, so a config can read an alert's
labels and annotations but cannot reach Python internals.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import AfterValidator

from alerts.model import Alert

__all__ = ["Template", "TemplateStr", "alert_document", "json_bytes", "rfc3339"]

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def rfc3339(ts: float) -> str:
    """Unix seconds as an RFC 3339 UTC timestamp with milliseconds.

    >>> rfc3339(1700000000.25)
    '2023-11-14T22:13:20.250Z'
    """
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays (as evidence may hold) as Python values; anything else as text."""
    to_python = getattr(value, "tolist", None)  # numpy scalars and arrays alike
    return to_python() if callable(to_python) else str(value)


def json_bytes(document: Any) -> bytes:
    """Compact UTF-8 JSON of ``document``; values JSON cannot hold (numpy numbers, say) are converted.

    >>> import numpy as np
    >>> json_bytes({"p": np.float64(0.5), "n": np.int64(3), "edges": np.array([1, 2])})
    b'{"p":0.5,"n":3,"edges":[1,2]}'
    """
    return json.dumps(document, separators=(",", ":"), default=_jsonable).encode()


def alert_document(alert: Alert) -> dict[str, Any]:
    """The alert as a JSON-ready mapping (what webhooks carry and templates see as ``alert``).

    >>> a = Alert("f1", "FeatureDrift", "firing", "critical", {"model": "m"}, {"summary": "s"}, 1700000000.0)
    >>> doc = alert_document(a)
    >>> doc["fingerprint"], doc["starts_at"], doc["ends_at"], doc["labels"]
    ('f1', '2023-11-14T22:13:20.000Z', None, {'model': 'm'})
    """
    return {
        "fingerprint": alert.fingerprint,
        "alertname": alert.alertname,
        "state": alert.state,
        "severity": alert.severity,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "starts_at": rfc3339(alert.starts_at),
        "ends_at": None if alert.ends_at is None else rfc3339(alert.ends_at),
        "value": alert.value,
        "generator_url": alert.generator_url,
        "evidence": dict(alert.evidence),
    }


class Template:
    """A Jinja2 template over one alert: ``alert``, ``labels`` and ``annotations`` are in scope.

    Syntax errors surface when the template is built (at start-up); undefined
    names when it is rendered.

    >>> a = Alert("f1", "FeatureDrift", "firing", "critical", {"model": "churn"}, {}, 0.0)
    >>> Template("/rollback/{{ labels.model }}?why={{ alert.alertname | urlencode }}").render(a)
    '/rollback/churn?why=FeatureDrift'
    >>> Template("{{ labels.team }}").render(a)
    Traceback (most recent call last):
    ...
    jinja2.exceptions.UndefinedError: 'dict object' has no attribute 'team'
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._template = _ENV.from_string(source)

    @staticmethod
    def check(source: str) -> str | None:
        """The syntax error in ``source``, or ``None`` when it compiles."""
        try:
            _ENV.parse(source)
        except TemplateError as exc:
            return str(exc)
        return None

    def render(self, alert: Alert) -> str:
        doc = alert_document(alert)
        return self._template.render(alert=doc, labels=doc["labels"], annotations=doc["annotations"])


def _check_template(source: str) -> str:
    error = Template.check(source)
    if error is not None:
        raise ValueError(f"template syntax error: {error}")
    return source


TemplateStr = Annotated[str, AfterValidator(_check_template)]
"""A spec field holding a template: its syntax is checked when the config is validated."""
