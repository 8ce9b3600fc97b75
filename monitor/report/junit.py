"""The report as JUnit XML: one test case per column, a failure for each that fails the check.

CI systems (GitHub Actions test reporters, GitLab ``artifacts:reports:junit``, Jenkins) show
each column as a test: drift, a type change, a missing column or all-null data is a
``<failure>`` whose ``type`` is the status; columns only in the current file and reserved
columns are ``<skipped>``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from monitor.check import CheckReport, FeatureCheck
from monitor.report._text import number

__all__ = ["render"]

# Characters XML 1.0 cannot carry at all, not even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _details(f: FeatureCheck) -> str:
    r = f.result
    lines = [f"status: {f.status}", f"kind: {f.kind}", f"detail: {f.message}"]
    if r is not None:
        lines += [
            f"test: {r.test}",
            f"statistic: {number(r.statistic)}",
            f"p_value: {number(r.p_value)}",
            f"effect_size: {number(r.effect_size)}",
            f"threshold: {number(r.threshold)}",
        ]
    lines += [f"n_reference: {number(f.n_reference)}", f"n_current: {number(f.n_current)}"]
    return "\n".join(lines)


def render(report: CheckReport) -> str:
    failures = sum(1 for f in report.features if f.failed)
    skipped = sum(1 for f in report.features if f.status in ("new", "skipped"))
    counts = {
        "tests": str(len(report.features)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{report.elapsed_seconds:.3f}",
    }
    root = ET.Element("testsuites", {"name": "driftline check", **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": _clean(f"driftline check {report.current.path} against {report.reference.path}"),
            **counts,
            "timestamp": datetime.now(UTC).replace(microsecond=0).isoformat(),
        },
    )
    properties = ET.SubElement(suite, "properties")
    rules = report.rules
    for name, value in (
        ("reference", report.reference.path),
        ("current", report.current.path),
        ("reference_rows", str(report.reference.rows)),
        ("current_rows", str(report.current.rows)),
        ("drift_alpha", str(rules.drift_alpha)),
        ("family_method", rules.family_method),
        ("reference_bins", str(rules.reference_bins)),
        ("window_sample_size", str(rules.window_sample_size)),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": _clean(value)})
    for f in report.features:
        case = ET.SubElement(suite, "testcase", {"classname": "driftline.check", "name": _clean(f.feature), "time": "0"})
        if f.failed:
            failure = ET.SubElement(case, "failure", {"type": f.status, "message": _clean(f"{f.status}: {f.message}")})
            failure.text = _clean(_details(f))
        elif f.status in ("new", "skipped"):
            ET.SubElement(case, "skipped", {"message": _clean(f.message)})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
