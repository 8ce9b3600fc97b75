"""The soak benchmark's machinery, run for a few seconds: a functional check, no timing asserted."""

from __future__ import annotations

import pytest

from bench.soak import Plan, soak


@pytest.mark.slow
def test_a_short_soak_counts_every_event_and_reports_each_interval() -> None:
    report = soak(Plan(duration_s=3.0, warmup_s=1.0, interval_s=1.0, window_s=1.0, events_per_s=1000, records_per_request=100))
    summary = report.results["summary"]
    assert summary["events_acknowledged"] == 3000  # 30 requests of 100 on a 0.1 s schedule
    assert summary["events_counted"] == 3000
    assert summary["counted_exactly_once"] is True
    assert [i["start_s"] for i in report.results["intervals"]] == [0.0, 1.0, 2.0]
    assert sum(i["requests"] for i in report.results["intervals"]) == 30
    assert summary["rss_after_warmup_mib"] > 0
    assert summary["rss_end_mib"] > 0
    assert any(line.startswith("resident memory:") for line in report.text)
