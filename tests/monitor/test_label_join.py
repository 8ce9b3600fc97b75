"""The label join buffer: in-order, out-of-order, duplicate, late and unknown labels; bounds; state."""

from __future__ import annotations

import numpy as np
import pytest

from collectors.records import Column, InferenceBatch, LabelBatch
from monitor.label_join import JoinBuffer, Joined
from monitor.statecodec import pack, unpack

WINDOW = 100.0


def predictions(ids: list[str], times: list[float], values: list[float], model: str = "m") -> InferenceBatch:
    n = len(ids)
    return InferenceBatch(
        model,
        "v1",
        np.array(times, dtype=np.float64),
        np.array(ids, dtype=object),
        Column("numeric", np.array(values, dtype=np.float64)),
        np.linspace(0.1, 0.9, n),
        np.full(n, np.nan),
    )


def labels(ids: list[str], times: list[float], values: list[str]) -> LabelBatch:
    column = Column("categorical", np.array(values, dtype=object))
    return LabelBatch(np.array(times, dtype=np.float64), np.array(ids, dtype=object), column)


def pairs(joined: Joined) -> list[tuple[float, str]]:
    return list(zip(joined.prediction_values.tolist(), joined.label_texts.tolist(), strict=True))


def test_in_order_labels_join_their_predictions() -> None:
    buffer = JoinBuffer(WINDOW, capacity=100)
    assert buffer.add_predictions(predictions(["a", "b", "c"], [0.0, 1.0, 2.0], [10.0, 11.0, 12.0])).size == 0
    joined = buffer.add_labels(labels(["c", "a"], [50.0, 60.0], ["x", "y"]))
    assert pairs(joined) == [(12.0, "x"), (10.0, "y")]
    assert joined.scores.tolist() == pytest.approx([0.9, 0.1])
    assert buffer.models[int(joined.model[0])] == ("m", "v1")
    assert buffer.counts == {"duplicate": 0, "expired": 0, "unjoined": 0}
    assert buffer.pending == 0


def test_a_label_before_its_prediction_waits_and_joins_when_it_arrives() -> None:
    buffer = JoinBuffer(WINDOW, capacity=100)
    assert buffer.add_labels(labels(["b", "a"], [5.0, 6.0], ["x", "y"])).size == 0
    assert buffer.pending == 2
    joined = buffer.add_predictions(predictions(["a", "z", "b"], [1.0, 2.0, 3.0], [10.0, 11.0, 12.0]))
    assert sorted(pairs(joined)) == [(10.0, "y"), (12.0, "x")]
    assert buffer.pending == 0
    assert buffer.counts == {"duplicate": 0, "expired": 0, "unjoined": 0}
    # Both predictions are labelled now: the same labels again are duplicates, not new pairs.
    assert buffer.add_labels(labels(["a", "b"], [7.0, 7.0], ["y", "x"])).size == 0
    assert buffer.counts["duplicate"] == 2


def test_duplicate_labels_count_once_in_a_batch_across_batches_and_while_waiting() -> None:
    buffer = JoinBuffer(WINDOW, capacity=100)
    buffer.add_predictions(predictions(["a"], [0.0], [1.0]))
    joined = buffer.add_labels(labels(["a", "a", "q", "q"], [1.0, 2.0, 3.0, 4.0], ["x", "y", "u", "v"]))
    assert pairs(joined) == [(1.0, "x")]  # the first label of a batch wins
    assert buffer.add_labels(labels(["a", "q"], [5.0, 6.0], ["z", "w"])).size == 0
    assert buffer.counts["duplicate"] == 4  # a and q repeated in the batch, then both again
    assert buffer.pending == 1
    assert pairs(buffer.add_predictions(predictions(["q"], [2.0], [7.0]))) == [(7.0, "u")]


def test_a_label_later_than_the_window_expires_and_is_not_joined() -> None:
    buffer = JoinBuffer(WINDOW, capacity=100)
    buffer.add_predictions(predictions(["a", "b"], [0.0, 50.0], [1.0, 2.0]))
    joined = buffer.add_labels(labels(["a", "b"], [150.0, 150.0], ["x", "y"]))  # a: 150 s late, b: 100 s
    assert pairs(joined) == [(2.0, "y")]
    assert buffer.counts == {"duplicate": 0, "expired": 1, "unjoined": 0}
    # A late label that came before its prediction expires too when the prediction arrives.
    buffer.add_labels(labels(["c"], [400.0], ["x"]))
    assert buffer.add_predictions(predictions(["c"], [250.0], [3.0])).size == 0
    assert buffer.counts["expired"] == 2
    assert buffer.pending == 0


def test_a_label_for_an_unknown_prediction_is_unjoined_once_the_window_has_passed() -> None:
    buffer = JoinBuffer(WINDOW, capacity=100)
    buffer.add_labels(labels(["ghost"], [10.0], ["x"]))
    buffer.advance(110.0)  # exactly the window: it may still come
    assert (buffer.pending, buffer.counts["unjoined"]) == (1, 0)
    buffer.add_predictions(predictions(["other"], [110.5], [1.0]))  # events move the join clock too
    assert (buffer.pending, buffer.counts["unjoined"]) == (0, 1)
    assert buffer.add_predictions(predictions(["ghost"], [111.0], [1.0])).size == 0


def test_predictions_stay_twice_the_window_so_that_late_labels_count_as_expired() -> None:
    buffer = JoinBuffer(WINDOW, capacity=100)
    buffer.add_predictions(predictions(["a", "b"], [0.0, 0.0], [1.0, 2.0]))
    buffer.advance(199.0)
    buffer.add_labels(labels(["a"], [199.0], ["x"]))
    assert buffer.counts["expired"] == 1
    buffer.advance(201.0)  # b is gone now: its label is for an unknown id
    assert buffer.entries == 0
    buffer.add_labels(labels(["b"], [201.0], ["x"]))
    assert (buffer.counts["expired"], buffer.pending) == (1, 1)


def test_a_full_buffer_evicts_the_oldest_predictions_and_counts_those_never_labelled() -> None:
    buffer = JoinBuffer(WINDOW, capacity=3)
    buffer.add_predictions(predictions(["a", "b", "c"], [0.0, 1.0, 2.0], [1.0, 2.0, 3.0]))
    buffer.add_labels(labels(["a"], [3.0], ["x"]))
    buffer.add_predictions(predictions(["d", "e"], [4.0, 5.0], [4.0, 5.0]))  # overwrites a (labelled) and b
    assert (buffer.entries, buffer.evicted) == (3, 1)
    assert buffer.add_labels(labels(["b"], [6.0], ["x"])).size == 0
    assert buffer.pending == 1  # b is unknown now
    assert pairs(buffer.add_labels(labels(["c", "e"], [6.0, 6.0], ["y", "z"]))) == [(3.0, "y"), (5.0, "z")]
    # Waiting labels are bounded by the same capacity: the oldest gives up, unjoined.
    buffer.add_labels(labels(["u1", "u2", "u3"], [7.0, 7.0, 7.0], ["x", "x", "x"]))
    assert (buffer.pending, buffer.counts["unjoined"]) == (3, 1)


def test_the_buffer_wraps_many_times_and_still_finds_the_newest_predictions() -> None:
    buffer = JoinBuffer(WINDOW, capacity=1500)
    for start in range(0, 10_000, 700):
        ids = [f"p{i}" for i in range(start, start + 700)]
        buffer.add_predictions(predictions(ids, [start / 1000] * 700, list(map(float, range(start, start + 700)))))
    assert buffer.entries == 1500
    newest = [f"p{i}" for i in range(9000, 9800)]
    joined = buffer.add_labels(labels(newest, [10.0] * 800, ["x"] * 800))
    assert joined.prediction_values.tolist() == list(map(float, range(9000, 9800)))
    assert buffer.add_labels(labels(["p100"], [10.0], ["x"])).size == 0  # long evicted


def test_state_round_trip_continues_exactly_as_the_original() -> None:
    rng = np.random.default_rng(3)

    def stream(buffer: JoinBuffer, start: int) -> list[tuple[float, str]]:
        out = []
        for step in range(start, start + 10):
            ids = [f"p{i}" for i in range(step * 50, step * 50 + 50)]
            out += pairs(buffer.add_predictions(predictions(ids, [float(step)] * 50, rng.normal(size=50).tolist())))
            chosen = rng.integers(0, (step + 1) * 50 + 20, size=40)  # some not sent yet, some repeated
            out += pairs(buffer.add_labels(labels([f"p{i}" for i in chosen], [step + 0.5] * 40, ["x"] * 40)))
        return out

    original = JoinBuffer(WINDOW, capacity=400)
    stream(original, 0)
    copy = JoinBuffer.from_state(unpack(pack(original.state_dict())), WINDOW, 400)
    state = rng.bit_generator.state
    expected = stream(original, 10)
    rng.bit_generator.state = state
    assert stream(copy, 10) == expected
    assert copy.counts == original.counts
    assert (copy.pending, copy.entries, copy.evicted) == (original.pending, original.entries, original.evicted)


def test_an_event_stamped_far_ahead_moves_the_join_clock_only_to_the_horizon() -> None:
    buffer = JoinBuffer(WINDOW, capacity=100)
    buffer.add_predictions(predictions(["a"], [0.0], [1.0]))
    buffer.add_labels(labels(["ghost"], [1.0], ["x"]))
    buffer.add_labels(labels(["typo"], [9e9], ["x"]), horizon=50.0)  # a client clock gone wrong
    assert buffer.clock == 50.0
    assert (buffer.entries, buffer.pending, buffer.counts["unjoined"]) == (1, 2, 0)  # nothing expired early
    assert pairs(buffer.add_labels(labels(["a"], [2.0], ["y"]))) == [(1.0, "y")]
