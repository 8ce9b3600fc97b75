"""Quality metrics against scikit-learn on the same seeded data, and the per-window label monitor."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from collectors.records import Column, InferenceBatch, LabelBatch
from monitor.labels import LabelConfig, LabelMonitor, QualityWindow, quality_points
from monitor.quality import class_names, classification_metrics, expected_calibration_error, regression_metrics, roc_auc
from monitor.statecodec import pack, unpack


def sklearn_ece(outcome: np.ndarray, probability: np.ndarray, bins: int = 10) -> float:
    """ECE from scikit-learn's calibration curve, weighted by the size of each non-empty bin."""
    observed, predicted = calibration_curve(outcome, probability, n_bins=bins, strategy="uniform")
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, bins + 1)[1:-1], probability), minlength=bins)
    weights = counts[counts > 0] / probability.size
    return float(np.sum(weights * np.abs(observed - predicted)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_classification_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2000
    truth = rng.random(n) < 0.3
    scores = np.clip(np.where(truth, rng.beta(4, 2, n), rng.beta(2, 4, n)), 0, 1).round(3)  # rounded: ties happen
    predicted = scores >= 0.5
    y_true = np.where(truth, "fraud", "ok").astype(object)
    y_pred = np.where(predicted, "fraud", "ok").astype(object)
    ours = classification_metrics(y_true, y_pred, scores, positive="fraud")
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-12)
    assert ours["precision"] == pytest.approx(skm.precision_score(y_true, y_pred, pos_label="fraud"), abs=1e-12)
    assert ours["recall"] == pytest.approx(skm.recall_score(y_true, y_pred, pos_label="fraud"), abs=1e-12)
    assert ours["f1"] == pytest.approx(skm.f1_score(y_true, y_pred, pos_label="fraud"), abs=1e-12)
    assert ours["roc_auc"] == pytest.approx(skm.roc_auc_score(truth, scores), abs=1e-12)
    assert ours["calibration_error"] == pytest.approx(sklearn_ece(truth, scores), abs=1e-12)
    assert 0.1 < ours["calibration_error"] < 0.3  # a beta-score model is far from calibrated


def test_multiclass_uses_macro_averages_like_sklearn() -> None:
    rng = np.random.default_rng(4)
    classes = np.array(["cat", "dog", "emu", "yak"], dtype=object)
    y_true = classes[rng.integers(0, 4, 1500)]
    y_pred = np.where(rng.random(1500) < 0.7, y_true, classes[rng.integers(0, 3, 1500)])  # "yak" is never mistaken for
    ours = classification_metrics(y_true, y_pred, np.full(1500, np.nan), positive=None)
    assert set(ours) == {"accuracy", "precision", "recall", "f1"}
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-12)
    for name, function in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert ours[name] == pytest.approx(function(y_true, y_pred, average="macro", zero_division=0), abs=1e-12)


def test_regression_matches_sklearn() -> None:
    rng = np.random.default_rng(5)
    y_true = rng.gamma(2.0, 50.0, 3000)
    y_pred = y_true * rng.lognormal(0.0, 0.2, 3000) + rng.normal(0, 5, 3000)
    ours = regression_metrics(y_true, y_pred)
    assert ours["mae"] == pytest.approx(skm.mean_absolute_error(y_true, y_pred), rel=1e-12)
    assert ours["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y_true, y_pred)), rel=1e-12)
    assert ours["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y_true, y_pred), rel=1e-12)


def test_roc_auc_and_calibration_edge_cases_match_sklearn() -> None:
    outcome = np.array([True, False, True, False, True])
    tied = np.array([0.5, 0.5, 0.5, 0.5, 0.5])
    assert roc_auc(outcome, tied) == skm.roc_auc_score(outcome, tied) == 0.5
    edges = np.array([0.0, 0.1, 0.2, 1.0, 0.9])  # values on bin edges go to the lower bin, as in sklearn
    assert expected_calibration_error(outcome, edges) == pytest.approx(sklearn_ece(outcome, edges), abs=1e-12)


def test_score_metrics_are_left_out_when_they_are_undefined() -> None:
    y = np.array(["1", "1", "1"], dtype=object)
    assert "roc_auc" not in classification_metrics(y, y, np.array([0.2, 0.9, 0.5]), positive="1")  # one class only
    out_of_range = classification_metrics(np.array(["1", "0"], dtype=object), y[:2], np.array([3.5, -1.0]), positive="1")
    assert "calibration_error" not in out_of_range
    assert out_of_range["roc_auc"] == 1.0


def test_class_names_make_booleans_and_integers_one_class() -> None:
    assert class_names(np.array([1.0, 0.0])).tolist() == class_names(np.array(["true", "false"], dtype=object)).tolist()


# -- the per-window monitor ----------------------------------------------------------------------------
def inference(ids: np.ndarray, times: np.ndarray, predicted: Column, scores: np.ndarray, model: str = "m") -> InferenceBatch:
    return InferenceBatch(model, "v1", times, ids, predicted, scores, np.full(ids.size, np.nan))


def test_window_metrics_equal_sklearn_on_the_pairs_that_joined_in_it() -> None:
    rng = np.random.default_rng(6)
    monitor = LabelMonitor(LabelConfig(window=600.0, capacity=10_000, quality_window=60.0))
    n = 900
    ids = np.array([f"r{i}" for i in range(n)], dtype=object)
    times = np.arange(n) * 0.1  # predictions over [0, 90)
    truth = rng.random(n) < 0.4
    scores = np.clip(np.where(truth, rng.normal(0.7, 0.15, n), rng.normal(0.35, 0.15, n)), 0, 1)
    predicted = (scores >= 0.5).astype(np.float64)
    closed: list[QualityWindow] = []
    for chunk in range(0, n, 100):  # 10 s of predictions, then their labels 5 s after each
        part = slice(chunk, chunk + 100)
        batch = inference(ids[part], times[part], Column("numeric", predicted[part]), scores[part])
        closed += monitor.add_predictions(batch, now=0.0)
        label = Column("categorical", np.where(truth[part], "true", "false").astype(object))
        closed += monitor.add_labels(LabelBatch(times[part] + 5.0, ids[part], label), now=0.0)
    # Pairs count in the window of the join clock after their batch: 14.9, 24.9 ... 54.9 for
    # the first five; the sixth batch moves it to 64.9 and closes [0, 60) before it is scored.
    [window] = closed
    assert (window.window_start, window.window_end, window.task) == (0.0, 60.0, "classification")
    joined_in_window = slice(0, 500)
    assert window.n == 500
    t, p, s = truth[joined_in_window], scores[joined_in_window] >= 0.5, scores[joined_in_window]
    assert window.metrics["accuracy"] == pytest.approx(skm.accuracy_score(t, p), abs=1e-12)
    assert window.metrics["precision"] == pytest.approx(skm.precision_score(t, p), abs=1e-12)
    assert window.metrics["recall"] == pytest.approx(skm.recall_score(t, p), abs=1e-12)
    assert window.metrics["f1"] == pytest.approx(skm.f1_score(t, p), abs=1e-12)
    assert window.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(t, s), abs=1e-12)
    assert window.metrics["calibration_error"] == pytest.approx(sklearn_ece(t, s), abs=1e-12)
    assert monitor.outcomes() == {"joined": n, "invalid": 0, "duplicate": 0, "expired": 0, "unjoined": 0}
    names, label_sets, stamps, values = quality_points([window])
    assert set(names) == {"driftline.model.quality"}
    assert set(stamps.tolist()) == {0.0}
    assert (
        dict(zip(label_sets, values.tolist(), strict=True))['{"metric":"f1","model":"m","version":"v1"}'] == window.metrics["f1"]
    )
    [status] = monitor.statuses()
    assert (status.latest, status.open_n, status.drift_detected) == (window, 400, False)


def test_ddm_alarms_when_the_error_rate_jumps_and_the_state_survives_a_checkpoint() -> None:
    rng = np.random.default_rng(7)
    config = LabelConfig(window=600.0, capacity=100_000, quality_window=50.0)
    monitor = LabelMonitor(config)
    n = 4000
    ids = np.array([f"q{i}" for i in range(n)], dtype=object)
    times = np.arange(n) * 0.05  # 200 s of predictions, labels 1 s later
    predicted = rng.random(n) < 0.5
    wrong = np.where(np.arange(n) < 2000, rng.random(n) < 0.1, rng.random(n) < 0.4)  # errors rise at 100 s
    truth = predicted ^ wrong
    windows: list[QualityWindow] = []
    restored_once = False
    for chunk in range(0, n, 200):
        part = slice(chunk, chunk + 200)
        windows += monitor.add_predictions(
            inference(ids[part], times[part], Column("numeric", predicted[part].astype(float)), np.full(200, np.nan)), now=0.0
        )
        windows += monitor.add_labels(
            LabelBatch(times[part] + 1.0, ids[part], Column("numeric", truth[part].astype(float))), now=0.0
        )
        if chunk == 2400 and not restored_once:  # a checkpoint and restart mid-stream
            monitor = LabelMonitor.from_state(unpack(pack(monitor.state_dict())), config, now=0.0)
            restored_once = True
    windows += monitor.tick(now=100.0)
    assert [w.window_start for w in windows] == [0.0, 50.0, 100.0, 150.0, 200.0]
    assert [w.task for w in windows] == ["classification"] * 5  # 0/1 predictions and labels
    assert [w.drift_detected for w in windows] == [False, False, True, False, False]  # alarm at the 2385th pair
    # Each chunk of 200 pairs joins at the join clock of its newest label: 10 c + 10.95 for chunk c.
    window_of_pair = np.repeat(np.floor((np.arange(20) * 10 + 10.95) / 50), 200)
    expected = [1 - wrong[window_of_pair == k].mean() for k in range(5)]
    assert [w.metrics["accuracy"] for w in windows] == pytest.approx(expected, abs=1e-12)
    [status] = monitor.statuses()
    assert status.alarms == 1
    assert 100.0 <= (status.last_alarm_at or 0) < 150.0


def test_regression_is_inferred_and_adwin_alarms_when_errors_grow() -> None:
    rng = np.random.default_rng(8)
    config = LabelConfig(window=600.0, capacity=100_000, quality_window=100.0)
    monitor = LabelMonitor(config)
    n = 3000
    ids = np.array([f"z{i}" for i in range(n)], dtype=object)
    times = np.arange(n) * 0.1
    truth = rng.gamma(3.0, 10.0, n)
    noise = np.where(np.arange(n) < 1500, 2.0, 8.0)
    prediction = truth + rng.normal(0, 1, n) * noise
    windows: list[QualityWindow] = []
    for chunk in range(0, n, 250):
        part = slice(chunk, chunk + 250)
        windows += monitor.add_predictions(
            inference(ids[part], times[part], Column("numeric", prediction[part]), np.full(250, np.nan)), now=0.0
        )
        windows += monitor.add_labels(LabelBatch(times[part] + 2.0, ids[part], Column("numeric", truth[part])), now=0.0)
    windows += monitor.tick(now=200.0)
    assert {w.task for w in windows} == {"regression"}
    first = windows[0]
    assert set(first.metrics) == {"mae", "rmse", "mape"}
    assert any(w.drift_detected for w in windows)
    assert not windows[0].drift_detected
    assert windows[-1].metrics["mae"] > 3 * windows[0].metrics["mae"]


def test_configured_task_and_positive_class_win_and_unscorable_pairs_are_counted() -> None:
    config = LabelConfig(
        window=600.0, capacity=1000, quality_window=10.0, task_types={"m": "regression"}, positive_classes={"other": "no"}
    )
    monitor = LabelMonitor(config)
    ids = np.array(["a", "b", "c"], dtype=object)
    monitor.add_predictions(
        inference(ids, np.zeros(3), Column("numeric", np.array([0.0, 1.0, np.nan])), np.full(3, 0.5)), now=0.0
    )
    monitor.add_labels(LabelBatch(np.ones(3), ids, Column("numeric", np.array([1.0, 1.0, 1.0]))), now=0.0)
    other = np.array(["d", "e"], dtype=object)
    monitor.add_predictions(
        inference(
            other, np.zeros(2), Column("categorical", np.array(["yes", "no"], dtype=object)), np.array([0.8, 0.3]), model="other"
        ),
        now=0.0,
    )
    monitor.add_labels(LabelBatch(np.ones(2), other, Column("categorical", np.array(["no", "no"], dtype=object))), now=0.0)
    windows = {w.model: w for w in monitor.tick(now=20.0)}
    assert windows["m"].task == "regression"
    assert windows["m"].metrics["mae"] == 0.5
    assert monitor.outcomes()["invalid"] == 1
    assert monitor.outcomes()["joined"] == 4
    assert windows["other"].metrics["recall"] == 0.5  # the positive class is "no", as configured
