"""Inline SVG plots of reference vs current distributions: no scripts, no external files."""

from __future__ import annotations

from html import escape

from monitor.check import Histogram
from monitor.report._text import number

__all__ = ["plot"]

WIDTH, HEIGHT = 560, 210
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 12, 24, 46
REFERENCE_COLOUR, CURRENT_COLOUR = "#4e79a7", "#f28e2b"


def plot(histogram: Histogram, title: str) -> str:
    """An SVG element comparing the two distributions of ``histogram``."""
    top = max((*histogram.reference, *histogram.current, 1e-12)) * 1.1
    body = _numeric(histogram, top) if histogram.kind == "numeric" else _categorical(histogram, top)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f"{_axes(top)}{body}{_legend()}</svg>"
    )


def _y(share: float, top: float) -> float:
    return HEIGHT - _BOTTOM - share / top * (HEIGHT - _TOP - _BOTTOM)


def _axes(top: float) -> str:
    x0, x1, y0 = _LEFT, WIDTH - _RIGHT, HEIGHT - _BOTTOM
    parts = [f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#888"/>']
    for fraction in (0.0, 0.5, 1.0):
        share = top / 1.1 * fraction
        y = _y(share, top)
        parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end" class="tick">{share:.0%}</text>')
    return "".join(parts)


def _legend() -> str:
    x = WIDTH - _RIGHT - 170
    return (
        f'<rect x="{x}" y="6" width="12" height="10" fill="{REFERENCE_COLOUR}" fill-opacity="0.45"/>'
        f'<text x="{x + 16}" y="15" class="tick">reference</text>'
        f'<rect x="{x + 86}" y="6" width="12" height="10" fill="{CURRENT_COLOUR}" fill-opacity="0.45"/>'
        f'<text x="{x + 102}" y="15" class="tick">current</text>'
    )


def _numeric(h: Histogram, top: float) -> str:
    lo, hi = h.edges[0], h.edges[-1]
    span = (hi - lo) or 1.0

    def x(value: float) -> float:
        return _LEFT + (value - lo) / span * (WIDTH - _LEFT - _RIGHT)

    parts = []
    for shares, colour in ((h.reference, REFERENCE_COLOUR), (h.current, CURRENT_COLOUR)):
        points = [(x(lo), _y(0, top))]
        for i, share in enumerate(shares):
            points += [(x(h.edges[i]), _y(share, top)), (x(h.edges[i + 1]), _y(share, top))]
        points.append((x(hi), _y(0, top)))
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(f'<polygon points="{path}" fill="{colour}" fill-opacity="0.35" stroke="{colour}" stroke-width="1.5"/>')
    for i in range(5):
        value = lo + span * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(
            f'<text x="{x(value):.1f}" y="{HEIGHT - _BOTTOM + 16}" text-anchor="{anchor}" class="tick">'
            f"{escape(number(value))}</text>"
        )
    parts.append(
        f'<text x="{(WIDTH + _LEFT) / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle" class="note">'
        "share of sampled values per bin (central 99% of both samples)</text>"
    )
    return "".join(parts)


def _categorical(h: Histogram, top: float) -> str:
    n = max(len(h.labels), 1)
    group = (WIDTH - _LEFT - _RIGHT) / n
    bar = group * 0.38
    parts = []
    for i, label in enumerate(h.labels):
        left = _LEFT + i * group + group * 0.12
        for j, (shares, colour, who) in enumerate(
            ((h.reference, REFERENCE_COLOUR, "reference"), (h.current, CURRENT_COLOUR, "current"))
        ):
            y = _y(shares[i], top)
            parts.append(
                f'<rect x="{left + j * bar:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{HEIGHT - _BOTTOM - y:.1f}" '
                f'fill="{colour}" fill-opacity="0.7"><title>{escape(label)}: {who} {shares[i]:.1%}</title></rect>'
            )
        shown = label if len(label) <= 14 else label[:13] + "…"
        parts.append(
            f'<text x="{left + bar:.1f}" y="{HEIGHT - _BOTTOM + 14}" text-anchor="middle" class="tick">{escape(shown)}</text>'
        )
    parts.append(
        f'<text x="{(WIDTH + _LEFT) / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle" class="note">'
        "share of rows per category (reference's most frequent)</text>"
    )
    return "".join(parts)
