"""Model quality on joined labels: task inference, class names and metrics over whole columns.

Classification metrics take class names as canonical strings (see :func:`class_names`), so
a prediction sent as the boolean ``true`` and a label sent as the integer ``1`` are the same
class. Regression metrics take floats. Every function here is pure numpy; the values agree
with scikit-learn's (``tests/monitor/test_quality.py`` checks them on seeded data).

Examples
--------
>>> import numpy as np
>>> y_true = np.array(["1", "0", "1", "1"], dtype=object)
>>> y_pred = np.array(["1", "0", "0", "1"], dtype=object)
>>> scores = np.array([0.9, 0.2, 0.4, 0.7])
>>> {k: round(v, 3) for k, v in classification_metrics(y_true, y_pred, scores, positive="1").items()}
{'accuracy': 0.75, 'precision': 1.0, 'recall': 0.667, 'f1': 0.8, 'roc_auc': 1.0, 'calibration_error': 0.3}
>>> {k: round(v, 3) for k, v in regression_metrics(np.array([1.0, 2.0]), np.array([1.5, 1.0])).items()}
{'mae': 0.75, 'rmse': 0.791, 'mape': 0.5}
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "TaskType",
    "class_names",
    "classification_metrics",
    "expected_calibration_error",
    "infer_task",
    "regression_metrics",
    "roc_auc",
]

TaskType = Literal["classification", "regression"]
Floats = npt.NDArray[np.float64]
Objects = npt.NDArray[np.object_]
Bools = npt.NDArray[np.bool_]

_BOOL_NAMES = {"false": "0", "true": "1"}


def infer_task(categorical: bool, has_scores: bool, predictions: Floats, labels: Floats) -> TaskType:
    """The task a (model, version) most likely solves, from what its first joined pairs look like.

    Classification when the prediction or the label is categorical (strings and booleans),
    when the model sends scores, or when every prediction and label is 0 or 1; regression
    otherwise. ``predictions`` and ``labels`` are the numeric values (ignored when
    ``categorical``). A per-model setting overrides this guess.

    Examples
    --------
    >>> import numpy as np
    >>> infer_task(False, False, np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    'classification'
    >>> infer_task(False, False, np.array([0.0, 2.5]), np.array([1.0, 3.0]))
    'regression'
    >>> infer_task(True, False, np.array([]), np.array([]))
    'classification'
    """
    if categorical or has_scores:
        return "classification"
    values = np.concatenate([predictions, labels])
    binary = values.size > 0 and bool(np.isin(values, (0.0, 1.0)).all())
    return "classification" if binary else "regression"


def class_names(values: Floats | Objects) -> Objects:
    """Canonical class names: integral numbers without a decimal point, booleans as ``0``/``1``.

    Missing values (``NaN``, ``None``) become ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> class_names(np.array([1.0, 0.0, 2.5, np.nan])).tolist()
    ['1', '0', '2.5', None]
    >>> class_names(np.array(["true", "false", "cat", None], dtype=object)).tolist()
    ['1', '0', 'cat', None]
    """
    if values.dtype == np.float64:
        numbers = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(numbers)
        integral = finite & (numbers == np.round(numbers)) & (np.abs(numbers) < 2.0**53)
        out = np.full(numbers.shape, None, dtype=object)
        out[integral] = numbers[integral].astype(np.int64).astype(str)
        other = finite & ~integral
        out[other] = numbers[other].astype(str)
        return out
    out = np.asarray(values, dtype=object).copy()
    for name, canonical in _BOOL_NAMES.items():
        out[out == name] = canonical
    return out


def classification_metrics(y_true: Objects, y_pred: Objects, scores: Floats, *, positive: str | None) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and, from scores, ROC AUC and expected calibration error.

    With ``positive`` (binary classification), precision, recall and F1 are those of the
    positive class, and ``scores`` are read as the probability of that class: ROC AUC needs
    both classes among the labels, the calibration error scores in [0, 1]. Without it
    (multiclass), precision, recall and F1 are macro averages over every class seen in
    either column (a class never predicted has precision 0, as scikit-learn's
    ``zero_division=0``), and no score-based metric is computed. Rows with a missing score
    are left out of the score-based metrics only.
    """
    classes, codes = np.unique(np.concatenate([y_true, y_pred]).astype(str), return_inverse=True)
    n = y_true.shape[0]
    true_code, pred_code = codes[:n], codes[n:]
    hit = true_code == pred_code
    metrics = {"accuracy": float(hit.mean())}
    tp = np.bincount(true_code[hit], minlength=classes.size).astype(np.float64)
    predicted = np.bincount(pred_code, minlength=classes.size).astype(np.float64)
    actual = np.bincount(true_code, minlength=classes.size).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(tp), where=total > 0)
    if positive is None:
        metrics.update(precision=float(precision.mean()), recall=float(recall.mean()), f1=float(f1.mean()))
        return metrics
    where = np.flatnonzero(classes == positive)
    if where.size:
        i = int(where[0])
        metrics.update(precision=float(precision[i]), recall=float(recall[i]), f1=float(f1[i]))
    else:  # the positive class appears nowhere in this window
        metrics.update(precision=0.0, recall=0.0, f1=0.0)
    scored = np.isfinite(scores)
    outcome = (y_true == positive)[scored].astype(bool)
    probability = scores[scored]
    if outcome.any() and not outcome.all():
        metrics["roc_auc"] = roc_auc(outcome, probability)
    if probability.size and probability.min() >= 0.0 and probability.max() <= 1.0:
        metrics["calibration_error"] = expected_calibration_error(outcome, probability)
    return metrics


def regression_metrics(y_true: Floats, y_pred: Floats) -> dict[str, float]:
    """Mean absolute error, root mean squared error and mean absolute percentage error.

    MAPE follows scikit-learn: the absolute error divided by ``max(|y_true|, eps)``, so a zero
    label gives a huge term rather than a division by zero.
    """
    error = y_pred - y_true
    absolute = np.abs(error)
    scale = np.maximum(np.abs(y_true), np.finfo(np.float64).eps)
    return {
        "mae": float(absolute.mean()),
        "rmse": float(np.sqrt(np.mean(error * error))),
        "mape": float(np.mean(absolute / scale)),
    }


def roc_auc(outcome: Bools, scores: Floats) -> float:
    """Area under the ROC curve: the Mann-Whitney U statistic over ranks, ties counted half.

    Examples
    --------
    >>> import numpy as np
    >>> roc_auc(np.array([False, True, False, True]), np.array([0.1, 0.4, 0.45, 0.8]))
    0.75
    """
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    average_rank = upper - (counts - 1) / 2.0  # 1-based mean rank of each group of ties
    positives = int(outcome.sum())
    negatives = outcome.size - positives
    rank_sum = float(average_rank[inverse][outcome].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def expected_calibration_error(outcome: Bools, probability: Floats, bins: int = 10) -> float:
    """Expected calibration error over ``bins`` equal-width probability bins.

    The mean, weighted by bin size, of ``|observed frequency - mean probability|`` per bin;
    bins are those of scikit-learn's ``calibration_curve(strategy="uniform")``.

    Examples
    --------
    >>> import numpy as np
    >>> round(expected_calibration_error(np.array([True, False, True, True]), np.array([0.9, 0.1, 0.8, 0.6])), 3)
    0.2
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    bin_of = np.searchsorted(edges[1:-1], probability)
    observed = np.bincount(bin_of, weights=outcome.astype(np.float64), minlength=bins)
    predicted = np.bincount(bin_of, weights=probability, minlength=bins)
    return float(np.abs(observed - predicted).sum() / probability.size)
