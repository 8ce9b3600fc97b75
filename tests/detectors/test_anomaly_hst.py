"""HalfSpaceTreesScorer: the river adapter's scaling, seeding and state."""

from __future__ import annotations

import numpy as np

from detectors.anomaly import HalfSpaceTreesScorer


def test_a_spike_scores_near_the_top_and_the_seed_pins_the_trees() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.0, 1000)
    x[900] = 12.0
    scores = HalfSpaceTreesScorer().score_many(x)
    assert round(float(scores[900]), 3) == 0.994  # pinned: default seed 42
    assert scores[900] > np.quantile(scores[300:], 0.9)  # a weak ranking: one feature, random cuts
    np.testing.assert_array_equal(scores, HalfSpaceTreesScorer(seed=42).score_many(x))
    assert not np.array_equal(scores, HalfSpaceTreesScorer(seed=4).score_many(x))


def test_the_first_value_only_starts_the_range_and_an_unbuilt_state_round_trips() -> None:
    scorer = HalfSpaceTreesScorer()
    assert scorer.score_one(3.0) == 0.0
    restored = HalfSpaceTreesScorer.from_state(scorer.state_dict())
    assert restored.state_dict() == scorer.state_dict()
    np.testing.assert_array_equal(restored.score_many([1.0, 2.0, 5.0]), scorer.score_many([1.0, 2.0, 5.0]))


def test_shingles_score_only_once_enough_values_arrived() -> None:
    scores = HalfSpaceTreesScorer(shingle=3, window_size=10).score_many(np.arange(40.0))
    assert scores[:3].tolist() == [0.0, 0.0, 0.0]
    assert scores[25:].max() > 0.0
