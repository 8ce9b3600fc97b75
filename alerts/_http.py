"""One HTTP delivery attempt, classified into a :class:`~alerts.model.Result`.

Notifiers and HTTP actions make exactly one attempt per call; the outbox decides
whether and when to retry from the result: 429, 5xx, connection errors and
timeouts are retryable (with the receiver's ``Retry-After`` when it sent one),
every other 4xx is not.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

import httpx

from alerts.model import Result

__all__ = ["attempt", "classify", "parse_retry_after"]

_SNIPPET = 200  # characters of a receiver's error body kept in Result.detail


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    Dates in the past give 0; anything unparseable gives ``None``.

    >>> parse_retry_after("120")
    120.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
    10.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0)
    0.0
    >>> parse_retry_after("soon") is None, parse_retry_after(None) is None
    (True, True)
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify(response: httpx.Response) -> Result:
    """The :class:`Result` of a response: 2xx ok; 429 and 5xx retryable; other codes final.

    >>> classify(httpx.Response(202)).ok
    True
    >>> r = classify(httpx.Response(503, headers={"Retry-After": "7"}, text="busy"))
    >>> r.ok, r.retryable, r.retry_after, r.detail
    (False, True, 7.0, 'HTTP 503: busy')
    >>> classify(httpx.Response(400, text="bad field")).retryable
    False
    """
    code = response.status_code
    if 200 <= code < 300:
        return Result(ok=True, status_code=code, detail=f"HTTP {code}")
    retryable = code == 429 or code >= 500
    snippet = response.text[:_SNIPPET].strip()
    return Result(
        ok=False,
        retryable=retryable,
        status_code=code,
        detail=f"HTTP {code}: {snippet}" if snippet else f"HTTP {code}",
        retry_after=parse_retry_after(response.headers.get("retry-after")) if retryable else None,
    )


def attempt(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Result:
    """Send one request and classify what came back; transport failures are retryable.

    The URL is never put into the result (Slack's and some webhooks' URLs are secrets).
    """
    try:
        response = client.request(method, url, content=content, headers=headers)
    except httpx.TimeoutException as exc:
        return Result(ok=False, retryable=True, detail=f"timeout: {type(exc).__name__}")
    except httpx.TransportError as exc:
        return Result(ok=False, retryable=True, detail=f"connection error: {type(exc).__name__}: {exc}")
    except httpx.HTTPError as exc:  # e.g. an undecodable response body: the outcome is unknown, so try again
        return Result(ok=False, retryable=True, detail=f"bad response: {type(exc).__name__}: {exc}")
    return classify(response)
