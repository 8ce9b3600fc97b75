"""The report as one self-contained HTML page: summary, table, and a plot per column.

Everything is inline (CSS and SVG); the page loads nothing from anywhere, so it can be kept
as a CI artifact and opened offline. Every name and message from the data is escaped.
"""

from __future__ import annotations

from html import escape

from monitor.check import CheckReport, DatasetInfo, FeatureCheck
from monitor.report._svg import plot
from monitor.report._text import number

__all__ = ["render"]

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 .3rem}h2{font-size:1.1rem;margin:0 0 .3rem}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:.8rem;font-size:.8rem;font-weight:600;vertical-align:middle}
.fail{background:#fde2e1;color:#a4161a}.pass{background:#e3f4e8;color:#1b6b35}.info{background:#eceff3;color:#555}
table{border-collapse:collapse;width:100%;margin:1rem 0 2rem}
th,td{padding:.3rem .5rem;border-bottom:1px solid #e5e5e5;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{font-weight:600;background:#fafafa}
section{border:1px solid #e5e5e5;border-radius:6px;padding:1rem;margin:0 0 1rem}
.meta{color:#555;margin:.2rem 0}.tick{font-size:11px;fill:#555}.note{font-size:11px;fill:#888}
a{color:#1f5fa8;text-decoration:none}
"""


def _badge(f: FeatureCheck) -> str:
    css = "fail" if f.failed else "pass" if f.status == "ok" else "info"
    return f'<span class="badge {css}">{escape(f.status)}</span>'


def _dataset(label: str, info: DatasetInfo) -> str:
    return f"<b>{label}</b> {escape(info.path)} ({info.format}, {info.rows:,} rows, {info.columns} columns)"


def _summary_row(index: int, f: FeatureCheck) -> str:
    r = f.result
    stats = (r.statistic, r.p_value, r.threshold) if r else (None, None, None)
    cells = [
        f'<td><a href="#f{index}">{escape(f.feature)}</a></td>' if _has_section(f) else f"<td>{escape(f.feature)}</td>",
        f"<td>{escape(f.kind)}</td>",
        f"<td>{_badge(f)}</td>",
        f"<td>{escape(r.test) if r else '-'}</td>",
        *(f'<td class="num">{number(v)}</td>' for v in stats),
        f'<td class="num">{number(f.n_reference)}</td>',
        f'<td class="num">{number(f.n_current)}</td>',
        f"<td>{escape(f.message)}</td>",
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def _has_section(f: FeatureCheck) -> bool:
    return f.status not in ("new", "skipped")  # nothing known about the column but its name


def _stats(f: FeatureCheck) -> str:
    parts = [f"nulls {number(f.nulls_reference)} → {number(f.nulls_current)}"]
    if f.mean_reference is not None:
        parts.insert(0, f"mean {number(f.mean_reference)} → {number(f.mean_current)}")
        parts.insert(1, f"std {number(f.std_reference)} → {number(f.std_current)}")
    return " · ".join(parts)


def _section(index: int, f: FeatureCheck) -> str:
    figure = (
        plot(f.histogram, f"{f.feature}: reference vs current") if f.histogram else '<p class="meta">not tested, so no plot</p>'
    )
    return (
        f'<section id="f{index}"><h2>{escape(f.feature)} {_badge(f)}</h2>'
        f'<p class="meta">{escape(f.kind)} · {escape(f.message)}</p>'
        f'<p class="meta">{escape(_stats(f))}</p>{figure}</section>'
    )


def render(report: CheckReport) -> str:
    ranked = report.ranked()
    failing = sum(1 for f in ranked if f.failed)
    verdict = (
        f'<span class="badge fail">DRIFT</span> {failing} of {len(ranked)} columns fail the check'
        if failing
        else f'<span class="badge pass">OK</span> no drift in {len(ranked)} columns'
    )
    rules = report.rules
    head = (
        "<tr><th>feature</th><th>kind</th><th>status</th><th>test</th><th>statistic</th>"
        "<th>p-value</th><th>threshold</th><th>n ref</th><th>n cur</th><th>detail</th></tr>"
    )
    rows = "".join(_summary_row(i, f) for i, f in enumerate(ranked))
    sections = "".join(_section(i, f) for i, f in enumerate(ranked) if _has_section(f))
    title = f"driftline check: {'DRIFT' if failing else 'OK'}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
        f"<h1>driftline check</h1><p>{verdict}</p>"
        f'<p class="meta">{_dataset("reference", report.reference)}<br>{_dataset("current", report.current)}</p>'
        f'<p class="meta">rules: alpha {number(rules.drift_alpha)} ({escape(rules.family_method)}), '
        f"{rules.reference_bins} reference bins, reference sample {rules.reference_sample_size}, "
        f"window sample {rules.window_sample_size}; {report.elapsed_seconds:.1f} s</p>"
        f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>{sections}</body></html>\n"
    )
