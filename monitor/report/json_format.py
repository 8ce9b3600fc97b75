"""The report as one JSON object with stable keys.

Top level: ``drift_detected``, ``exit_code``, ``reference`` and ``current`` (``path``,
``format``, ``rows``, ``columns``), ``settings``, ``summary`` (``columns``, ``tested``,
``failing``, ``by_status``), ``features`` and ``elapsed_seconds``. Each feature carries the
API's drift-result fields (``feature``, ``test``, ``statistic``, ``p_value``, ``effect_size``,
``threshold``, ``drift_detected``, ``n_reference``, ``n_current``) plus ``kind``, ``status``,
null counts, numerical moments and ``message``; a key whose value does not apply is ``null``,
never absent. Features are sorted by name so that reports diff cleanly.
"""

from __future__ import annotations

import json

from monitor.check import CheckReport

__all__ = ["render"]


def render(report: CheckReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
