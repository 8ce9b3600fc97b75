"""Label matchers and durations, written the way Prometheus and Alertmanager write them.

A matcher is ``name OP "value"`` with ``OP`` one of ``=``, ``!=``, ``=~``, ``!~``
(regular expressions are anchored, as in PromQL). Rules, routes, policies and
silences all select alerts or series with lists of them; every matcher must hold.

>>> ms = parse_matchers(['model="fraud"', 'feature=~"inc.*"'])
>>> matches_all(ms, {"model": "fraud", "feature": "income"})
True
>>> matches_all(ms, {"model": "fraud", "feature": "age"})
False
>>> parse_duration("1h30m"), parse_duration("90s"), parse_duration(2.5)
(5400.0, 90.0, 2.5)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Matcher", "matches_all", "parse_duration", "parse_matcher", "parse_matchers"]

MatchOp = Literal["=", "!=", "=~", "!~"]
_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s]*))\s*$')
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label condition; an absent label matches as the empty string (as in Prometheus)."""

    name: str
    op: MatchOp
    value: str

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"matcher {self}: invalid regular expression {self.value!r}: {exc}") from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def parse_matcher(text: str) -> Matcher:
    """Parse ``name="value"`` (or ``!=``, ``=~``, ``!~``; quotes optional for simple values).

    >>> parse_matcher('severity=~"critical|error"')
    Matcher(name='severity', op='=~', value='critical|error')
    >>> parse_matcher("severity is critical")
    Traceback (most recent call last):
    ...
    ValueError: matcher 'severity is critical' must look like name="value" (operators =, !=, =~, !~)
    """
    found = _MATCHER.match(text)
    if found is None:
        raise ValueError(f'matcher {text!r} must look like name="value" (operators =, !=, =~, !~)')
    name, op, quoted, bare = found.groups()
    value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
    return Matcher(name, op, value)  # type: ignore[arg-type]


def parse_matchers(items: Iterable[str] | Mapping[str, str]) -> tuple[Matcher, ...]:
    """A list of matcher strings, or a mapping ``{label: value}`` meaning equality for each."""
    if isinstance(items, Mapping):
        return tuple(Matcher(str(k), "=", str(v)) for k, v in items.items())
    return tuple(parse_matcher(item) for item in items)


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher holds for ``labels`` (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``: a number of seconds, or units like ``30s``, ``5m``, ``1h30m``, ``2d``.

    >>> parse_duration("250ms")
    0.25
    >>> parse_duration("soon")
    Traceback (most recent call last):
    ...
    ValueError: duration 'soon' must be seconds or a string like 30s, 5m, 1h30m, 2d
    """
    if isinstance(value, bool):
        raise ValueError(f"duration {value!r} must be seconds or a string like 30s, 5m, 1h30m, 2d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            if not text or _DURATION_PART.sub("", text):
                raise ValueError(f"duration {value!r} must be seconds or a string like 30s, 5m, 1h30m, 2d") from None
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"duration {value!r} must not be negative")
    return seconds
