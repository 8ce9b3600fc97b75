"""Formatting helpers shared by the renderers."""

from __future__ import annotations

import math
import re

__all__ = ["number", "printable"]

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def number(value: float | int | None) -> str:
    """A statistic for people: ``-`` for none, 4 significant digits, tiny values in e-notation.

    Examples
    --------
    >>> number(None), number(0.123456), number(3.2e-7), number(0), number(12345678)
    ('-', '0.1235', '3.2e-07', '0', '12345678')
    """
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.2g}"
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"


def printable(text: str) -> str:
    r"""``text`` with control characters shown as escapes, safe for a terminal or a log line.

    Examples
    --------
    >>> printable("a\tb\x1b[31m")
    'a\\tb\\x1b[31m'
    """
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
