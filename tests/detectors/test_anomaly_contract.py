"""Every streaming anomaly scorer honours the contract of :mod:`detectors.anomaly.base`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import detectors.anomaly
from detectors.anomaly import AnomalyScorer
from monitor.statecodec import pack, unpack


def _all_scorers() -> list[type[AnomalyScorer]]:
    found, todo = [], list(AnomalyScorer.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if not getattr(cls, "__abstractmethods__", None):
            found.append(cls)
    return sorted(found, key=lambda c: c.__name__)


SCORERS = _all_scorers()

#: Invalid constructor arguments per scorer: each must raise ValueError naming the parameter.
BAD_PARAMS: dict[str, list[dict[str, Any]]] = {
    "SeasonalNoveltyScorer": [
        {"period": 0},
        {"period": float("inf")},
        {"season_length": 1},
        {"level_rate": 1.0},
        {"scale_rate": 0.0},
        {"profile_rate": -0.1},
        {"memory": 999},
        {"refractory": 0},
        {"margin": 1.0},
    ],
    "HalfSpaceTreesScorer": [{"n_trees": 0}, {"height": 0}, {"height": 17}, {"window_size": 5}, {"shingle": 0}, {"seed": 1.5}],
}

#: False alarms per point at the scorer's own threshold on i.i.d. Gaussian noise, as documented.
FALSE_ALARM_RATE = {"SeasonalNoveltyScorer": 1 / 400, "HalfSpaceTreesScorer": 1 / 400}


def _stream(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = 1_700_000_000.0 + 300.0 * np.arange(n)
    x = 5 + np.sin(2 * np.pi * t / 86400) + rng.normal(0, 0.3, n)
    x[int(0.25 * n)] += 6.0
    x[int(0.6 * n)] -= 5.0
    x[int(0.8 * n) :] += 3.0
    return x, t


def test_every_scorer_is_listed() -> None:
    names = {cls.__name__ for cls in SCORERS}
    assert names == set(BAD_PARAMS) == set(FALSE_ALARM_RATE)
    assert names <= set(detectors.anomaly.__all__)


@pytest.fixture(params=SCORERS, ids=lambda cls: cls.__name__)
def scorer_cls(request: pytest.FixtureRequest) -> type[AnomalyScorer]:
    return request.param  # type: ignore[no-any-return]


def test_scores_are_in_the_unit_interval_and_missing_values_score_zero(scorer_cls: type[AnomalyScorer]) -> None:
    x, t = _stream()
    x[[100, 1500]] = np.nan
    scores = scorer_cls().score_many(x, timestamps=t)
    assert scores.shape == x.shape
    assert np.all(np.isfinite(scores))
    assert scores.min() >= 0.0
    assert scores.max() <= 1.0
    assert scores[100] == scores[1500] == 0.0


def test_no_look_ahead(scorer_cls: type[AnomalyScorer]) -> None:
    x, t = _stream()
    other = x.copy()
    other[2000:] = np.random.default_rng(9).normal(50, 10, x.size - 2000)
    a = scorer_cls().score_many(x, timestamps=t)
    b = scorer_cls().score_many(other, timestamps=t)
    np.testing.assert_array_equal(a[:2000], b[:2000])
    assert not np.array_equal(a[2000:], b[2000:])


@pytest.mark.parametrize("timed", [True, False])
def test_score_many_equals_a_loop_of_score_one(scorer_cls: type[AnomalyScorer], timed: bool) -> None:
    x, t = _stream(1500)
    x[300] = np.nan
    batch = scorer_cls().score_many(x, timestamps=t if timed else None)
    one = scorer_cls()
    looped = [one.score_one(v, ts if timed else None) for v, ts in zip(x.tolist(), t.tolist(), strict=True)]
    np.testing.assert_array_equal(batch, looped)


def test_state_round_trips_through_the_checkpoint_codec(scorer_cls: type[AnomalyScorer]) -> None:
    x, t = _stream()
    whole = scorer_cls().score_many(x, timestamps=t)
    first = scorer_cls()
    head = first.score_many(x[:1700], timestamps=t[:1700])
    restored = scorer_cls.from_state(unpack(pack(first.state_dict())))
    tail = restored.score_many(x[1700:], timestamps=t[1700:])
    np.testing.assert_array_equal(np.concatenate([head, tail]), whole)
    # the saved state is a copy: scoring on does not change it
    saved = first.state_dict()
    snapshot = pack(saved)
    first.score_many(x[1700:], timestamps=t[1700:])
    assert pack(saved) == snapshot
    with pytest.raises(ValueError, match="state is for"):
        scorer_cls.from_state({**saved, "class": "Other"})


def test_clone_starts_afresh_with_the_same_parameters(scorer_cls: type[AnomalyScorer]) -> None:
    x, t = _stream(1200)
    used = scorer_cls()
    first = used.score_many(x, timestamps=t)
    clone = used.clone()
    assert clone.get_params() == used.get_params()
    np.testing.assert_array_equal(clone.score_many(x, timestamps=t), first)
    assert repr(clone).startswith(scorer_cls.__name__ + "(")


def test_invalid_parameters_are_rejected_by_name(scorer_cls: type[AnomalyScorer]) -> None:
    for kwargs in BAD_PARAMS[scorer_cls.__name__]:
        (name,) = kwargs
        with pytest.raises(ValueError, match=name):
            scorer_cls(**kwargs)


def test_memory_does_not_grow_with_the_stream(scorer_cls: type[AnomalyScorer]) -> None:
    rng = np.random.default_rng(4)
    t = 300.0 * np.arange(9000)
    x = rng.lognormal(0, 1, t.size)
    params = {"memory": 1000} if "memory" in scorer_cls().get_params() else {}
    scorer = scorer_cls(**params)
    scorer.score_many(x[:3000], timestamps=t[:3000])
    early = len(pack(scorer.state_dict()))
    scorer.score_many(x[3000:], timestamps=t[3000:])
    assert len(pack(scorer.state_dict())) < 1.1 * early


def test_false_alarms_on_stationary_noise_stay_within_the_documented_rate(scorer_cls: type[AnomalyScorer]) -> None:
    rng = np.random.default_rng(21)
    t = 300.0 * np.arange(12_000)
    scores = scorer_cls().score_many(rng.normal(0, 1, t.size), timestamps=t)
    alarms = int((scores[1000:] >= scorer_cls.threshold).sum())
    assert alarms <= FALSE_ALARM_RATE[scorer_cls.__name__] * 11_000


def test_a_large_spike_ranks_among_the_highest_scores(scorer_cls: type[AnomalyScorer]) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, 2500)
    x[2000] = 15.0
    scores = scorer_cls().score_many(x)
    assert scores[2000] >= np.quantile(scores[500:], 0.97)
