"""Renderers for a :class:`monitor.check.CheckReport`: terminal table, JSON, JUnit XML, HTML.

Each renderer is a pure function ``render(report) -> str``; :func:`render` picks one by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from monitor.check import CheckReport
from monitor.report import html_page, json_format, junit, table

__all__ = ["FORMATS", "Format", "render", "suffix_format"]

Format = Literal["table", "json", "junit", "html"]
FORMATS: tuple[Format, ...] = ("table", "json", "junit", "html")

_RENDERERS: dict[str, Callable[[CheckReport], str]] = {
    "table": table.render,
    "json": json_format.render,
    "junit": junit.render,
    "html": html_page.render,
}
_SUFFIXES: dict[str, Format] = {".json": "json", ".xml": "junit", ".html": "html", ".htm": "html", ".txt": "table"}


def render(report: CheckReport, format: Format) -> str:
    """The report as text in ``format`` (one of :data:`FORMATS`)."""
    try:
        renderer = _RENDERERS[format]
    except KeyError:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {format!r}") from None
    return renderer(report)


def suffix_format(filename: str) -> Format | None:
    """The format a report file's suffix asks for (``.xml`` is JUnit), if any.

    Examples
    --------
    >>> suffix_format("reports/drift.xml"), suffix_format("drift.HTML"), suffix_format("drift.out")
    ('junit', 'html', None)
    """
    dot = filename.rfind(".")
    return _SUFFIXES.get(filename[dot:].lower()) if dot >= 0 else None
