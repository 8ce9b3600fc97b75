"""Tests for detectors.sketches: reference profiles and mergeable window state."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import pytest

from detectors.sketches import OTHER, CategoricalReference, CategoricalWindow, NumericReference, NumericWindow
from monitor.statecodec import pack, unpack


def json_round_trip(state: dict[str, Any]) -> dict[str, Any]:
    """References are stored as JSON: they must survive that, not just a dict copy."""
    loaded: dict[str, Any] = json.loads(json.dumps(state))
    return loaded


def checkpoint_round_trip(state: dict[str, Any]) -> dict[str, Any]:
    """Window state is checkpointed in the packed binary format: it must survive that."""
    loaded: dict[str, Any] = unpack(pack(state))
    return loaded


def seeded_data(seed: int, n: int, nulls: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.normal(3.0, 2.0, n)
    data[rng.choice(n, nulls, replace=False)] = np.nan
    return data


# --- NumericReference -----------------------------------------------------------


def test_reference_quantile_edges_and_counts_on_known_data() -> None:
    ref = NumericReference.from_values(np.arange(1, 101), n_bins=4)
    assert ref.edges.tolist() == [25.75, 50.5, 75.25]
    assert ref.counts.tolist() == [25, 25, 25, 25]
    assert (ref.n, ref.nulls) == (100, 0)
    assert ref.mean == 50.5
    assert ref.std == pytest.approx(28.866070047722118)
    assert ref.sample.tolist() == list(map(float, range(1, 101)))  # n <= sample_size: all of it


def test_reference_value_on_an_edge_goes_to_the_upper_bin() -> None:
    ref = NumericReference.from_values([1.0, 2.0, 3.0], n_bins=2)
    assert ref.edges.tolist() == [2.0]
    assert ref.counts.tolist() == [1, 2]


def test_reference_deciles_of_seeded_normal_hold_a_tenth_each() -> None:
    ref = NumericReference.from_values(np.random.default_rng(0).normal(size=10_000), n_bins=10, sample_size=500)
    assert ref.edges.size == 9
    assert np.all(np.diff(ref.edges) > 0)
    assert ref.counts.tolist() == [1000] * 10
    assert ref.edges[4] == pytest.approx(0.0, abs=0.05)  # the median of N(0, 1)


def test_reference_heavy_ties_collapse_edges() -> None:
    values = [0.0] * 90 + [float(i) for i in range(1, 11)]
    ref = NumericReference.from_values(values, n_bins=10)
    assert ref.edges.tolist() == pytest.approx([0.0, 0.1])  # eight tied quantiles collapse into one edge
    assert ref.counts.size == ref.edges.size + 1
    assert int(ref.counts.sum()) == 100
    assert ref.counts[1:].tolist() == [90, 10]


def test_reference_constant_column_has_one_edge() -> None:
    ref = NumericReference.from_values(np.full(50, 7.0), n_bins=20)
    assert ref.edges.tolist() == [7.0]
    assert int(ref.counts.sum()) == 50
    assert (ref.mean, ref.std) == (7.0, 0.0)


def test_reference_counts_nan_and_inf_as_nulls() -> None:
    ref = NumericReference.from_values([np.nan, np.inf, -np.inf, 1.0, 2.0, 3.0, 4.0], n_bins=2)
    assert (ref.n, ref.nulls) == (4, 3)
    assert int(ref.counts.sum()) == 4
    assert ref.mean == 2.5


def test_reference_sample_is_bounded_sorted_seeded_and_drawn_from_the_values() -> None:
    values = np.random.default_rng(4).exponential(size=3000)
    ref = NumericReference.from_values(values, sample_size=200, seed=9)
    assert ref.sample.size == 200
    assert np.all(np.diff(ref.sample) >= 0)
    assert np.isin(ref.sample, values).all()
    assert np.unique(ref.sample).size == 200  # without replacement
    again = NumericReference.from_values(values, sample_size=200, seed=9)
    assert again.sample.tolist() == ref.sample.tolist()
    other = NumericReference.from_values(values, sample_size=200, seed=10)
    assert other.sample.tolist() != ref.sample.tolist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_bins": 1}, "n_bins must be >= 2, got 1"),
        ({"sample_size": 0}, "sample_size must be >= 1, got 0"),
    ],
)
def test_reference_parameter_validation(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NumericReference.from_values([1.0, 2.0], **kwargs)


def test_reference_needs_a_finite_value() -> None:
    with pytest.raises(ValueError, match="at least one finite number"):
        NumericReference.from_values([np.nan, np.inf])


def test_reference_dict_round_trip() -> None:
    ref = NumericReference.from_values(seeded_data(1, 400, 20), n_bins=8, sample_size=50)
    back = NumericReference.from_dict(json_round_trip(ref.to_dict()))
    assert back.edges.tolist() == ref.edges.tolist()
    assert back.counts.tolist() == ref.counts.tolist()
    assert back.sample.tolist() == ref.sample.tolist()
    assert (back.n, back.nulls, back.mean, back.std) == (ref.n, ref.nulls, ref.mean, ref.std)
    assert back.counts.dtype == np.int64


# --- NumericWindow ----------------------------------------------------------------

EDGES = np.array([0.0, 2.0, 3.0, 4.0, 6.0])


def test_window_merge_equals_one_window_over_all_data() -> None:
    data = seeded_data(11, 5000, 200)
    whole = NumericWindow(edges=EDGES, capacity=256, seed=3)
    whole.update(data)
    a = NumericWindow(edges=EDGES, capacity=256, seed=1)
    for chunk in np.array_split(data[:1800], 4):
        a.update(chunk)
    b = NumericWindow(edges=EDGES, capacity=256, seed=2)
    b.update(data[1800:])
    a.merge(b)

    finite = data[~np.isnan(data)]
    assert (a.n, a.nulls) == (whole.n, whole.nulls) == (4800, 200)
    assert a.bins is not None
    assert whole.bins is not None
    assert a.bins.tolist() == whole.bins.tolist()
    assert a.bins.tolist() == np.bincount(np.searchsorted(EDGES, finite, side="right"), minlength=6).tolist()
    assert (a.minimum, a.maximum) == (whole.minimum, whole.maximum) == (finite.min(), finite.max())
    assert a.mean == pytest.approx(whole.mean, rel=1e-12)
    assert a.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert a.std == pytest.approx(whole.std, rel=1e-12)
    assert a.std == pytest.approx(finite.std(), rel=1e-12)


def test_window_merge_reservoir_keeps_the_smallest_keys_of_both() -> None:
    data = seeded_data(12, 3000, 0)
    a = NumericWindow(edges=None, capacity=100, seed=1)
    a.update(data[:1000])
    b = NumericWindow(edges=None, capacity=100, seed=2)
    b.update(data[1000:])
    pooled = sorted(zip(np.concatenate([a.keys, b.keys]).tolist(), np.concatenate([a.sample, b.sample]).tolist(), strict=True))
    a.merge(b)
    assert sorted(zip(a.keys.tolist(), a.sample.tolist(), strict=True)) == pooled[:100]
    assert a.sample.size == 100
    assert np.isin(a.sample, data).all()


@pytest.mark.parametrize(("capacity", "n"), [(64, 10), (64, 64), (64, 65), (64, 5000), (1, 3)])
def test_window_reservoir_keeps_min_capacity_n_values_from_the_inputs(capacity: int, n: int) -> None:
    data = np.random.default_rng(n).normal(size=n)
    window = NumericWindow(edges=None, capacity=capacity, seed=0)
    for chunk in np.array_split(data, 3):
        window.update(chunk)
    assert window.sample.size == window.keys.size == min(capacity, n)
    assert np.isin(window.sample, data).all()
    assert np.unique(window.sample).size == window.sample.size  # no input kept twice
    if n <= capacity:
        assert sorted(window.sample.tolist()) == sorted(data.tolist())


def test_window_reservoir_of_merged_small_windows_is_exactly_their_union() -> None:
    a = NumericWindow(edges=EDGES, capacity=10, seed=1)
    a.update(np.array([1.0, np.nan, 2.0, 3.0]))
    b = NumericWindow(edges=EDGES, capacity=10, seed=2)
    b.update(np.array([4.0, 5.0, np.nan]))
    a.merge(b)
    assert sorted(a.sample.tolist()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert (a.n, a.nulls) == (5, 2)


def test_window_reservoir_is_an_unbiased_sample() -> None:
    # Values 0..9999 in order: a sample biased to early or late rows would show in its mean.
    window = NumericWindow(edges=None, capacity=1000, seed=7)
    for chunk in np.array_split(np.arange(10_000, dtype=np.float64), 50):
        window.update(chunk)
    standard_error = 10_000 / np.sqrt(12) / np.sqrt(1000) * np.sqrt(1 - 1000 / 10_000)
    assert abs(window.sample.mean() - 4999.5) < 3 * standard_error


def test_window_state_round_trip_continues_identically() -> None:
    data = seeded_data(21, 900, 30)
    original = NumericWindow(edges=EDGES, capacity=64, seed=5)
    original.update(data[:300])
    restored = NumericWindow.from_state(checkpoint_round_trip(original.state_dict()))
    assert pack(restored.state_dict()) == pack(original.state_dict())
    for chunk in (data[300:600], data[600:]):
        original.update(chunk)
        restored.update(chunk)
    assert restored.sample.tolist() == original.sample.tolist()
    assert restored.keys.tolist() == original.keys.tolist()
    assert pack(restored.state_dict()) == pack(original.state_dict())


def test_window_state_round_trip_of_an_empty_window() -> None:
    empty = NumericWindow(edges=None, capacity=8, seed=0)
    empty.update(np.array([np.nan]))
    state = checkpoint_round_trip(empty.state_dict())
    assert (state["minimum"], state["maximum"], state["bins"]) == (None, None, None)
    restored = NumericWindow.from_state(state)
    assert (restored.minimum, restored.maximum, restored.nulls) == (np.inf, -np.inf, 1)
    restored.update(np.array([2.0, -1.0]))
    assert (restored.minimum, restored.maximum, restored.n) == (-1.0, 2.0, 2)


def test_window_merge_of_an_empty_window_changes_nothing() -> None:
    window = NumericWindow(edges=EDGES, capacity=8, seed=0)
    window.update(np.array([1.0, 5.0]))
    before = pack(window.state_dict())
    window.merge(NumericWindow(edges=EDGES, capacity=8, seed=1))
    assert pack(window.state_dict()) == before


def test_window_capacity_is_validated() -> None:
    with pytest.raises(ValueError, match="capacity must be >= 1, got 0"):
        NumericWindow(edges=None, capacity=0)


# --- CategoricalWindow ---------------------------------------------------------------


def test_categorical_window_overflows_new_categories_into_other() -> None:
    window = CategoricalWindow(max_distinct=3)
    window.update(np.array(["a", "b", "a", "c", "d", "e", "d", None], dtype=object))
    assert window.counts == {"a": 2, "b": 1, "c": 1, OTHER: 3}
    assert (window.n, window.nulls) == (7, 1)
    window.update(np.array(["a", "f", None, None], dtype=object))
    assert window.counts == {"a": 3, "b": 1, "c": 1, OTHER: 4}
    assert (window.n, window.nulls) == (9, 3)
    assert sum(window.counts.values()) == window.n


def test_categorical_window_merge_adds_counts() -> None:
    values = np.random.default_rng(2).choice(np.array(["x", "y", "z", None], dtype=object), size=500)
    whole = CategoricalWindow()
    whole.update(values)
    a, b = CategoricalWindow(), CategoricalWindow()
    a.update(values[:123])
    b.update(values[123:])
    a.merge(b)
    assert a.counts == whole.counts == dict(Counter(v for v in values.tolist() if v is not None))
    assert (a.n, a.nulls) == (whole.n, whole.nulls)
    assert a.n + a.nulls == 500


def test_categorical_window_merge_respects_max_distinct() -> None:
    a = CategoricalWindow(max_distinct=2)
    a.update(np.array(["a", "b"], dtype=object))
    b = CategoricalWindow(max_distinct=2)
    b.update(np.array(["c", "c", "a"], dtype=object))
    a.merge(b)
    assert a.counts == {"a": 2, "b": 1, OTHER: 2}
    assert a.n == 5


def test_categorical_window_state_round_trip() -> None:
    window = CategoricalWindow(max_distinct=2)
    window.update(np.array(["a", "b", "c", None], dtype=object))
    restored = CategoricalWindow.from_state(checkpoint_round_trip(window.state_dict()))
    assert restored == window
    restored.update(np.array(["d"], dtype=object))
    assert restored.counts == {"a": 1, "b": 1, OTHER: 2}


# --- CategoricalReference ---------------------------------------------------------------


def test_categorical_reference_keeps_the_top_categories_ties_by_name() -> None:
    ref = CategoricalReference.from_values(["b", "a", "b", "a", "c", "d", None, None], max_categories=2)
    assert ref.categories == ("a", "b")
    assert ref.counts.tolist() == [2, 2, 2]  # c and d pooled into OTHER
    assert (ref.n, ref.nulls) == (6, 2)


def test_categorical_reference_counts_nulls_from_a_generator() -> None:
    ref = CategoricalReference.from_values(v for v in ["a", None, "a", None, "b"])
    assert (ref.n, ref.nulls) == (3, 2)


def test_categorical_reference_align_lays_counts_on_its_categories() -> None:
    ref = CategoricalReference.from_values(["a", "a", "b", "c"], max_categories=2)
    assert ref.categories == ("a", "b")
    aligned = ref.align({"b": 1, "zzz": 2, "a": 3, OTHER: 4, "c": 5})
    assert aligned.tolist() == [3, 1, 11]
    assert aligned.dtype == np.int64
    assert ref.align({}).tolist() == [0, 0, 0]


def test_categorical_reference_validation_and_round_trip() -> None:
    with pytest.raises(ValueError, match="max_categories must be >= 1, got 0"):
        CategoricalReference.from_values(["a"], max_categories=0)
    with pytest.raises(ValueError, match="at least one non-null category"):
        CategoricalReference.from_values([None, None])
    ref = CategoricalReference.from_values(["a", "b", None, "c", "c"], max_categories=2)
    back = CategoricalReference.from_dict(json_round_trip(ref.to_dict()))
    assert (back.categories, back.counts.tolist(), back.n, back.nulls) == (ref.categories, ref.counts.tolist(), ref.n, ref.nulls)
