"""The TCPD metrics reproduce TCPDBench's published scores for the `zero` method."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from detectors.evaluation.tcpd import covering, f_measure, true_positives
from support import require_path

BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "bench" / "tcpd"


def test_true_positives_match_one_to_one_closest_first() -> None:
    assert true_positives({10, 12}, {11}, margin=5) == {10}
    assert true_positives({10, 12}, {11, 13}, margin=5) == {10, 12}
    assert true_positives({10}, {16}, margin=5) == set()
    with pytest.raises(ValueError, match="margin"):
        true_positives({1}, {1}, margin=-1)


def test_covering_of_a_perfect_prediction_is_one() -> None:
    assert covering({"a": [30, 60]}, [30, 60], 100) == 1.0
    assert f_measure({"a": [30, 60]}, [30, 60]) == 1.0


def test_reproduces_the_published_zero_method_scores() -> None:
    require_path(BENCH, "TCPD benchmark data")
    annotations = json.loads((BENCH / "annotations.json").read_text())
    with (BENCH / "published_default_scores_dev.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["method"] == "zero"]
    assert len(rows) >= 14
    for row in rows:
        n_obs = json.loads((BENCH / "datasets" / f"{row['dataset']}.json").read_text())["n_obs"]
        assert f_measure(annotations[row["dataset"]], []) == pytest.approx(float(row["f1"]), abs=5e-5), row["dataset"]
        assert covering(annotations[row["dataset"]], [], n_obs) == pytest.approx(float(row["cover"]), abs=5e-5), row["dataset"]
