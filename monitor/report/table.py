"""The report as a plain-text table for a terminal or a CI log: failing columns first."""

from __future__ import annotations

from monitor.check import CheckReport, DatasetInfo, FeatureCheck
from monitor.report._text import number, printable

__all__ = ["render"]

_MAX_NAME = 40
_HEADERS = ("feature", "kind", "status", "test", "statistic", "p-value", "effect", "threshold", "n ref", "n cur", "detail")
_RIGHT = {4, 5, 6, 7, 8, 9}  # numerical columns are right-aligned


def _name(feature: str) -> str:
    shown = printable(feature)
    return shown if len(shown) <= _MAX_NAME else shown[: _MAX_NAME - 1] + "…"


def _row(f: FeatureCheck) -> tuple[str, ...]:
    r = f.result
    return (
        _name(f.feature),
        f.kind,
        f.status.upper() if f.failed else f.status,
        "-" if r is None else r.test,
        "-" if r is None else number(r.statistic),
        "-" if r is None else number(r.p_value),
        "-" if r is None else number(r.effect_size),
        "-" if r is None else number(r.threshold),
        number(f.n_reference),
        number(f.n_current),
        printable(f.message),
    )


def _dataset(label: str, info: DatasetInfo) -> str:
    return f"{label} {printable(info.path)} ({info.format}, {info.rows:,} rows, {info.columns} columns)"


def render(report: CheckReport) -> str:
    """Aligned columns, one line per column of the data, and a verdict line at the end."""
    rows = [_HEADERS, *(_row(f) for f in report.ranked())]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS) - 1)]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.rjust(w) if i in _RIGHT else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=False))]
        return "  ".join([*cells, row[-1]]).rstrip()

    failing = [f for f in report.features if f.failed]
    verdict = (
        f"DRIFT: {len(failing)} of {len(report.features)} columns fail the check"
        if failing
        else f"OK: no drift in {len(report.features)} columns"
    )
    rules = report.rules
    out = [
        _dataset("reference", report.reference),
        _dataset("current  ", report.current),
        "",
        line(rows[0]),
        "  ".join("-" * w for w in widths) + "  " + "-" * len(_HEADERS[-1]),
        *(line(row) for row in rows[1:]),
        "",
        f"rules: alpha {number(rules.drift_alpha)} ({rules.family_method}), {rules.reference_bins} reference bins, "
        f"window sample {rules.window_sample_size}; {report.elapsed_seconds:.1f} s",
        verdict,
    ]
    return "\n".join(out) + "\n"
