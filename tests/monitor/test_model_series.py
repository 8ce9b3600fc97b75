"""Model-side series (predictions, latency and its percentiles, score) written from inference batches."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.model_series import LATENCY, LATENCY_QUANTILES, PREDICTIONS, SCORE, ModelSeries, bucket_reduce
from monitor.series import Bucket, SeriesRollup, merge_buckets
from monitor.statecodec import pack, unpack

LABELS = '{"model":"credit-risk","version":"v2"}'


def _seeded(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, 180.0, n)  # three one-minute buckets
    latency = rng.lognormal(np.log(0.02), 0.6, n)
    latency[rng.random(n) < 0.1] = np.nan  # events without ml.latency
    score = rng.random(n)
    score[rng.random(n) < 0.05] = np.nan
    return t, latency, score


def _collect(rollup: SeriesRollup) -> dict[tuple[str, float], Bucket]:
    rollup.close_all()
    out: dict[tuple[str, float], Bucket] = {}
    for bucket in rollup.take_closed():
        assert bucket.labels == LABELS
        key = (bucket.name, bucket.start)
        out[key] = merge_buckets(out[key], bucket) if key in out else bucket
    return out


@pytest.mark.parametrize("batches", [1, 7])
def test_series_match_numpy_per_bucket_however_the_events_are_batched(batches: int) -> None:
    t, latency, score = _seeded(3000, seed=11)
    rollup = SeriesRollup(resolution=60, lateness=600)  # nothing closes early
    series = ModelSeries()
    for part in np.array_split(np.arange(t.size), batches):
        series.observe(rollup, "credit-risk", "v2", t[part], latency[part], score[part])
    got = _collect(rollup)
    for start in (0.0, 60.0, 120.0):
        in_bucket = (t >= start) & (t < start + 60)
        lat = latency[in_bucket & np.isfinite(latency)]
        sc = score[in_bucket & np.isfinite(score)]
        assert got[(PREDICTIONS, start)].count == int(in_bucket.sum())
        assert got[(LATENCY, start)].count == lat.size
        assert got[(LATENCY, start)].sum == pytest.approx(lat.sum())
        assert (got[(LATENCY, start)].min, got[(LATENCY, start)].max) == (lat.min(), lat.max())
        assert got[(SCORE, start)].sum / got[(SCORE, start)].count == pytest.approx(sc.mean())
        for name, q in LATENCY_QUANTILES.items():
            exact = np.quantile(lat, q, method="lower")
            assert got[(name, start)].last == pytest.approx(exact, rel=0.0101), name


def test_late_batch_for_an_open_bucket_moves_its_percentiles() -> None:
    rollup = SeriesRollup(resolution=60, lateness=60)
    series = ModelSeries()
    series.observe(rollup, "credit-risk", "v2", np.array([10.0, 20.0]), np.array([0.01, 0.01]), np.array([0.5, 0.5]))
    # Older timestamps, same bucket, much slower: p99 must now reflect them.
    series.observe(rollup, "credit-risk", "v2", np.array([5.0, 6.0, 7.0]), np.array([2.0, 2.0, 2.0]), np.full(3, np.nan))
    p99 = _collect(rollup)[(f"{LATENCY}.p99", 0.0)]
    assert p99.last == pytest.approx(2.0, rel=0.01)
    assert p99.last_t == 20.0


def test_histograms_round_trip_through_the_checkpoint_and_expire_with_the_watermark() -> None:
    t, latency, score = _seeded(500, seed=3)
    rollup = SeriesRollup(resolution=60, lateness=600)
    series = ModelSeries()
    series.observe(rollup, "credit-risk", "v2", t[:250], latency[:250], score[:250])
    restored = ModelSeries.from_state(unpack(pack(series.state_dict())))
    restored.observe(rollup, "credit-risk", "v2", t[250:], latency[250:], score[250:])
    got = _collect(rollup)
    lat = latency[(t < 60) & np.isfinite(latency)]
    assert got[(f"{LATENCY}.p50", 0.0)].last == pytest.approx(np.quantile(lat, 0.5, method="lower"), rel=0.0101)
    assert len(restored.state_dict()["starts"]) == 3
    # An event 60 (resolution) + 600 (lateness) past the last bucket's end drops every histogram before it.
    restored.observe(rollup, "credit-risk", "v2", np.array([840.0]), np.array([0.1]), np.array([0.1]))
    assert restored.state_dict()["starts"].tolist() == [840.0]


def test_a_batch_without_latencies_or_scores_writes_only_predictions() -> None:
    rollup = SeriesRollup(resolution=60, lateness=0)
    ModelSeries().observe(rollup, "credit-risk", "v2", np.array([1.0, 2.0]), np.full(2, np.nan), np.full(2, np.nan))
    assert {name for name, _ in _collect(rollup)} == {PREDICTIONS}


@pytest.mark.parametrize("spread", [30.0, 300.0])  # one bucket (no sort) and several
def test_bucket_reduce_keeps_the_last_of_the_newest_values_on_ties(spread: float) -> None:
    rng = np.random.default_rng(8)
    t = np.round(rng.uniform(0.0, spread, 500))  # many equal timestamps
    v = rng.normal(size=500)
    groups = bucket_reduce(t, v, 60)
    for row, start in enumerate(groups.starts.tolist()):
        members = np.flatnonzero(np.floor(t / 60) * 60 == start)
        newest = members[t[members] == t[members].max()][-1]
        assert groups.counts[row] == members.size
        assert (groups.lasts[row], groups.last_ts[row]) == (v[newest], t[newest])
        assert groups.sums[row] == pytest.approx(v[members].sum())
        assert (groups.group_of[members] == row).all()
