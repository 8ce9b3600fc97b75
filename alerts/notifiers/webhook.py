"""Generic webhook, signed per the Standard Webhooks specification.

Each request carries three headers:

* ``webhook-id`` — the notification's idempotency key (:attr:`Notification.id`),
  the same on every retry, so a receiver can drop duplicates;
* ``webhook-timestamp`` — unix seconds of this attempt;
* ``webhook-signature`` — ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one
  per configured secret, space-separated, so a receiver accepts the request
  during a key rotation whichever of the secrets it holds.

Secrets are written ``whsec_<base64>`` (the spec's format); the HMAC key is the
decoded bytes. The body is JSON ``{"type", "timestamp", "data"}`` with the alerts
under ``data.alerts``.

References: https://www.standardwebhooks.com/ (spec.md, "Signature scheme").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, Field, HttpUrl, SecretStr

from alerts._render import alert_document, json_bytes, rfc3339
from alerts._spec import Spec, parse_spec
from alerts.model import Notification, Result
from alerts.notifiers._base import HttpNotifier

__all__ = ["WebhookNotifier", "WebhookSpec", "decode_secret", "payload", "sign"]

_PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (24 to 64 bytes, as the spec recommends).

    >>> len(decode_secret("whsec_" + "A" * 32))
    24
    >>> decode_secret("hunter2")
    Traceback (most recent call last):
    ...
    ValueError: must be written whsec_<base64>
    """
    if not secret.startswith(_PREFIX):
        raise ValueError(f"must be written {_PREFIX}<base64>")
    try:
        key = base64.b64decode(secret[len(_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError(f"the part after {_PREFIX} must be valid base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"must decode to 24-64 bytes, got {len(key)}")
    return key


def sign(msg_id: str, timestamp: int, body: bytes, keys: Sequence[bytes]) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` signature per key.

    >>> sign("msg_1", 1700000000, b'{"a":1}', [b"k" * 24])
    'v1,bYr7Rz93bX8WqNI5XVthzq7NE/LcYrDkos9dgSLYHOc='
    >>> len(sign("msg_1", 1700000000, b"{}", [b"k" * 24, b"j" * 24]).split(" "))
    2
    """
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii") for key in keys)


def payload(batch: Notification) -> dict[str, Any]:
    """The JSON document a webhook receives for ``batch``.

    ``data.status`` is ``firing`` while any alert of the group fires.

    >>> from alerts.model import Alert
    >>> a = Alert("f1", "FeatureDrift", "resolved", "warning", {}, {}, 0.0, ends_at=60.0)
    >>> doc = payload(Notification("n1", "ops", "g", (a,), 120.0))
    >>> doc["type"], doc["data"]["status"], doc["data"]["alerts"][0]["ends_at"]
    ('alert.resolved', 'resolved', '1970-01-01T00:01:00.000Z')
    """
    status = "firing" if any(a.state == "firing" for a in batch.alerts) else "resolved"
    return {
        "type": f"alert.{status}",
        "timestamp": rfc3339(batch.created_at),
        "data": {
            "id": batch.id,
            "receiver": batch.receiver,
            "group_key": batch.group_key,
            "status": status,
            "alerts": [alert_document(a) for a in batch.alerts],
        },
    }


def _check_secret(value: SecretStr) -> SecretStr:
    decode_secret(value.get_secret_value())
    return value


WebhookSecret = Annotated[SecretStr, AfterValidator(_check_secret)]


class WebhookSpec(Spec):
    """``receivers.<name>`` for ``type: webhook``."""

    url: HttpUrl
    secret: WebhookSecret | None = Field(None, description="whsec_… signing secret.")
    secrets: list[WebhookSecret] = Field([], description="Several secrets during a key rotation; each signs the request.")
    headers: dict[str, str] = Field({}, description="Extra request headers (not secret).")
    timeout_seconds: float = Field(10.0, gt=0, le=300)

    def keys(self) -> list[bytes]:
        secrets = ([self.secret] if self.secret is not None else []) + list(self.secrets)
        return [decode_secret(s.get_secret_value()) for s in secrets]


class WebhookNotifier(HttpNotifier):
    """POSTs each notification as signed JSON to one URL.

    ``clock`` gives the ``webhook-timestamp`` (receivers reject stale ones, by
    default beyond five minutes), taken afresh at each attempt.
    """

    def __init__(self, name: str, spec: WebhookSpec, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(name, timeout_s=spec.timeout_seconds)
        self.url = str(spec.url)
        self._keys = spec.keys()
        self._headers = dict(spec.headers)
        self._clock = clock

    @staticmethod
    def from_spec(name: str, spec: Mapping[str, Any]) -> WebhookNotifier:
        parsed = parse_spec(WebhookSpec, spec, f"receivers.{name}")
        if parsed.secret is None and not parsed.secrets:
            raise ValueError(f"receivers.{name}.secret: a whsec_ signing secret is required (outbound webhooks are signed)")
        return WebhookNotifier(name, parsed)

    def send(self, batch: Notification) -> Result:
        body = json_bytes(payload(batch))
        timestamp = int(self._clock())
        headers = {
            **self._headers,
            "content-type": "application/json",
            "webhook-id": batch.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(batch.id, timestamp, body, self._keys),
        }
        return self._post(self.url, body, headers)
