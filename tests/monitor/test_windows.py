"""Tests for monitor.windows: tumbling event-time windows with watermark and idle closing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from collectors.records import Column, InferenceBatch
from detectors.sketches import CategoricalReference, CategoricalWindow, NumericReference, NumericWindow
from monitor.statecodec import pack, unpack
from monitor.windows import ModelWindows, WindowSet

WIDTH = 60.0
LATENESS = 10.0
NEVER = 1e12  # an idle_close that never fires
CAPACITY = 32


def batch(timestamps: Sequence[float], colors: Sequence[str | None] | None = None) -> InferenceBatch:
    """Rows whose feature ``x`` equals their timestamp, so each window's rows can be told apart."""
    ts = np.asarray(timestamps, dtype=np.float64)
    n = ts.size
    features = {"x": Column("numeric", ts.copy())}
    if colors is not None:
        features["color"] = Column("categorical", np.asarray(colors, dtype=object))
    return InferenceBatch(
        model="m",
        version="v",
        timestamps=ts,
        prediction_ids=np.asarray([f"p{t}" for t in timestamps], dtype=object),
        predictions=Column("numeric", ts * 2),
        scores=np.full(n, np.nan),
        latencies=np.full(n, np.nan),
        features=features,
    )


def windows() -> ModelWindows:
    return ModelWindows(model="m", version="v", width=WIDTH, lateness=LATENESS)


def x_of(window: WindowSet) -> NumericWindow:
    feature = window.features["x"]
    assert isinstance(feature, NumericWindow)
    return feature


def test_rows_are_routed_to_tumbling_windows_by_event_time() -> None:
    mw = windows()
    mw.add(batch([125.0, 0.0, 59.9, 60.0, 119.99]), None, CAPACITY)
    assert sorted(mw.open) == [0.0, 60.0, 120.0]
    spans = {start: (w.start, w.end, w.n) for start, w in mw.open.items()}
    assert spans == {0.0: (0.0, 60.0, 2), 60.0: (60.0, 120.0, 2), 120.0: (120.0, 180.0, 1)}
    assert (x_of(mw.open[0.0]).minimum, x_of(mw.open[0.0]).maximum) == (0.0, 59.9)
    assert (x_of(mw.open[60.0]).minimum, x_of(mw.open[60.0]).maximum) == (60.0, 119.99)
    prediction = mw.open[120.0].features["ml.prediction"]
    assert isinstance(prediction, NumericWindow)
    assert prediction.mean == 250.0
    assert mw.watermark == 125.0
    assert mw.late == 0


def test_categorical_rows_follow_their_window() -> None:
    mw = windows()
    mw.add(batch([1.0, 61.0, 2.0, 62.0, 3.0], colors=["red", "blue", None, "blue", "red"]), None, CAPACITY)
    first, second = mw.open[0.0].features["color"], mw.open[60.0].features["color"]
    assert isinstance(first, CategoricalWindow)
    assert isinstance(second, CategoricalWindow)
    assert (first.counts, first.nulls) == ({"red": 2}, 1)
    assert (second.counts, second.nulls) == ({"blue": 2}, 0)


def test_reference_profiles_shape_the_windows() -> None:
    reference = {
        "x": NumericReference.from_values(np.arange(0.0, 60.0), n_bins=4),
        "color": CategoricalReference.from_values([f"c{i}" for i in range(1500)], max_categories=1200),
    }
    mw = windows()
    mw.add(batch([1.0, 20.0, 40.0, 59.0], colors=["c1", "c2", "c3", "c4"]), reference, CAPACITY)
    window = mw.open[0.0]
    x = x_of(window)
    assert x.edges is not None
    assert x.edges.tolist() == reference["x"].edges.tolist()
    assert x.bins is not None
    assert x.bins.tolist() == [1, 1, 1, 1]
    color = window.features["color"]
    assert isinstance(color, CategoricalWindow)
    assert color.max_distinct == 1200
    prediction = window.features["ml.prediction"]  # no reference: no bins
    assert isinstance(prediction, NumericWindow)
    assert prediction.bins is None


def test_window_closes_once_the_watermark_passes_end_plus_lateness() -> None:
    mw = windows()
    mw.add(batch([5.0, 30.0]), None, CAPACITY)
    assert mw.due(now=mw.last_seen, idle_close=NEVER) == []
    mw.add(batch([69.99]), None, CAPACITY)
    assert mw.due(now=mw.last_seen, idle_close=NEVER) == []  # 60 + 10 > 69.99
    # Within the allowed lateness a row for the earlier window still counts.
    mw.add(batch([50.0]), None, CAPACITY)
    assert mw.open[0.0].n == 3
    mw.add(batch([70.0]), None, CAPACITY)
    closed = mw.due(now=mw.last_seen, idle_close=NEVER)
    assert [(w.start, w.end, w.n) for w in closed] == [(0.0, 60.0, 3)]
    assert sorted(mw.open) == [60.0]
    assert mw.closed_until == 60.0
    assert mw.due(now=mw.last_seen, idle_close=NEVER) == []


def test_several_complete_windows_close_in_time_order() -> None:
    mw = windows()
    mw.add(batch([130.0, 10.0, 70.0]), None, CAPACITY)
    mw.add(batch([250.0]), None, CAPACITY)
    closed = mw.due(now=mw.last_seen, idle_close=NEVER)
    assert [w.start for w in closed] == [0.0, 60.0, 120.0]
    assert sorted(mw.open) == [240.0]
    assert mw.closed_until == 180.0


@pytest.mark.parametrize("lateness", [0.0, 10.0, 45.0])
def test_lateness_sets_the_close_point(lateness: float) -> None:
    mw = ModelWindows(model="m", version="v", width=WIDTH, lateness=lateness)
    mw.add(batch([1.0]), None, CAPACITY)
    mw.add(batch([WIDTH + lateness - 0.5]), None, CAPACITY)
    assert mw.due(now=mw.last_seen, idle_close=NEVER) == []
    mw.add(batch([WIDTH + lateness]), None, CAPACITY)
    assert [w.start for w in mw.due(now=mw.last_seen, idle_close=NEVER)] == [0.0]


def test_late_rows_after_a_final_close_are_counted_and_dropped() -> None:
    mw = windows()
    mw.add(batch([5.0, 75.0]), None, CAPACITY)
    assert [w.start for w in mw.due(now=mw.last_seen, idle_close=NEVER)] == [0.0]
    mw.add(batch([10.0, 65.0, 20.0]), None, CAPACITY)  # two rows for the closed window
    assert mw.late == 2
    assert sorted(mw.open) == [60.0]
    assert mw.open[60.0].n == 2
    assert (x_of(mw.open[60.0]).minimum, x_of(mw.open[60.0]).maximum) == (65.0, 75.0)
    mw.add(batch([59.0]), None, CAPACITY)  # a whole single-window batch, late
    assert mw.late == 3
    assert 0.0 not in mw.open


def test_early_close_is_not_final() -> None:
    mw = windows()
    mw.add(batch([10.0, 20.0]), None, CAPACITY)
    closed = mw.close_all()
    assert [(w.start, w.n) for w in closed] == [(0.0, 2)]
    assert mw.open == {}
    assert mw.closed_until == -math.inf
    mw.add(batch([15.0]), None, CAPACITY)
    assert mw.late == 0
    assert mw.open[0.0].n == 1  # a new, partial window for the same range
    assert x_of(mw.open[0.0]).n == 1


def test_idle_close_by_wall_clock_closes_everything_early() -> None:
    mw = windows()
    mw.add(batch([10.0, 40.0, 65.0]), None, CAPACITY)  # watermark 65: nothing complete
    idle = 30.0
    assert mw.due(now=mw.last_seen + idle - 0.001, idle_close=idle) == []
    closed = mw.due(now=mw.last_seen + idle, idle_close=idle)
    assert [(w.start, w.n) for w in closed] == [(0.0, 2), (60.0, 1)]
    assert mw.open == {}
    assert mw.closed_until == -math.inf  # idle closes are early closes
    mw.add(batch([11.0]), None, CAPACITY)
    assert (mw.late, mw.open[0.0].n) == (0, 1)


def test_idle_close_after_watermark_close_keeps_the_final_part_final() -> None:
    mw = windows()
    mw.add(batch([10.0, 70.0, 125.0]), None, CAPACITY)
    closed = mw.due(now=mw.last_seen + 100.0, idle_close=50.0)
    assert [w.start for w in closed] == [0.0, 60.0, 120.0]
    assert mw.closed_until == 60.0  # only [0, 60) was complete (60 + 10 <= 125; 120 + 10 > 125)
    mw.add(batch([30.0, 90.0]), None, CAPACITY)
    assert mw.late == 1
    assert sorted(mw.open) == [60.0]


def test_add_refreshes_last_seen() -> None:
    mw = windows()
    mw.last_seen = 0.0
    mw.add(batch([1.0]), None, CAPACITY)
    assert mw.last_seen > 1e9  # the wall clock, not event time


def test_empty_batch_changes_nothing() -> None:
    mw = windows()
    mw.add(batch([]), None, CAPACITY)
    assert (mw.open, mw.watermark, mw.late) == ({}, -math.inf, 0)


def test_summary_reports_counts_and_moments() -> None:
    mw = windows()
    mw.add(batch([1.0, 2.0, 3.0], colors=["a", "b", "a"]), None, CAPACITY)
    summary = mw.open[0.0].summary()
    assert summary["x"] == {
        "kind": "numeric",
        "n": 3,
        "nulls": 0,
        "mean": 2.0,
        "std": pytest.approx(0.816496580927726),
        "min": 1.0,
        "max": 3.0,
        "bins": None,  # no reference: no bin edges
    }
    assert summary["color"] == {"kind": "categorical", "n": 3, "nulls": 0, "top": {"a": 2, "b": 1}}


def test_summary_keeps_counts_on_the_reference_bins() -> None:
    reference = {"x": NumericReference.from_values(np.arange(0.0, 60.0), n_bins=4)}  # edges 14.75, 29.5, 44.25
    mw = windows()
    mw.add(batch([1.0, 20.0, 21.0, 59.0]), reference, CAPACITY)
    assert mw.open[0.0].summary()["x"]["bins"] == [1, 2, 0, 1]


def test_state_round_trip_continues_identically() -> None:
    reference = {"x": NumericReference.from_values(np.arange(0.0, 300.0), n_bins=5)}
    rng = np.random.default_rng(3)
    mw = windows()
    mw.add(batch(rng.uniform(0, 100, 200).round(3).tolist(), colors=rng.choice(["a", "b"], 200).tolist()), reference, CAPACITY)
    mw.add(batch([100.0]), reference, CAPACITY)
    mw.due(now=mw.last_seen, idle_close=NEVER)  # closes [0, 60) finally
    mw.add(batch([1.0, 2.0]), reference, CAPACITY)  # late
    state = unpack(pack(mw.state_dict()))
    restored = ModelWindows.from_state(state)
    assert pack(restored.state_dict()) == pack(mw.state_dict())
    assert (restored.late, restored.closed_until, restored.watermark) == (2, 60.0, 100.0)

    more = [
        batch(rng.uniform(60, 200, 300).round(3).tolist(), colors=rng.choice(["a", "c"], 300).tolist()),
        batch([10.0, 300.0]),
    ]
    for item in more:
        mw.add(item, reference, CAPACITY)
        restored.add(item, reference, CAPACITY)
    assert pack(restored.state_dict()) == pack(mw.state_dict())
    closed_a = mw.due(now=mw.last_seen, idle_close=NEVER)
    closed_b = restored.due(now=restored.last_seen, idle_close=NEVER)
    assert [pack(w.state_dict()) for w in closed_a] == [pack(w.state_dict()) for w in closed_b]
    assert [w.start for w in closed_a] == [60.0, 120.0, 180.0]


def test_state_round_trip_of_a_fresh_instance() -> None:
    state = unpack(pack(windows().state_dict()))
    assert (state["watermark"], state["closed_until"], state["open"]) == (None, None, [])
    restored = ModelWindows.from_state(state)
    assert (restored.watermark, restored.closed_until) == (-math.inf, -math.inf)
