"""NAB: Driftline's anomaly scorers on the NAB dev subset, beside the published detectors.

Runs ``driftline eval nab`` (``monitor.evaluation.evaluate_nab``) on
``../shared/bench/nab`` with the default scorer and with river's HalfSpaceTrees,
and prints their three profile scores at the optimised threshold (comparable
to the published table, which is printed alongside) and at the scorer's own
fixed threshold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench._harness import Options, Report, sig, table
from detectors.anomaly import HalfSpaceTreesScorer, SeasonalNoveltyScorer
from monitor.evaluation import evaluate_nab

NAB_DIR = Path(__file__).resolve().parents[2] / "shared" / "bench" / "nab"
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
PUBLISHED_SHOWN = ("ARTime", "numenta", "contextOSE", "knncad", "windowedGaussian", "null")


def run(options: Options) -> Report:
    if not NAB_DIR.exists():
        return Report(config={}, results={"skipped": f"{NAB_DIR} not found"}, text=[f"skipped: {NAB_DIR} not found"])
    rows: list[list[object]] = []
    results: dict[str, Any] = {}
    scorers: list[tuple[str, Any]] = [("SeasonalNoveltyScorer", SeasonalNoveltyScorer)]
    if not options.quick:
        scorers.append(("HalfSpaceTreesScorer", HalfSpaceTreesScorer))
    for name, factory in scorers:
        report = evaluate_nab(NAB_DIR / "data", NAB_DIR / "windows.json", detector_factory=factory)
        scores = report.as_dict()
        results[name] = scores
        rows.append([f"Driftline {name} (optimised)", *(_two(scores[p]) for p in PROFILES), scores["points_per_second"]])
        fixed = scores["thresholds"]["fixed"]
        rows.append([f"Driftline {name} (fixed {fixed:.3g})", *(_two(scores["fixed"][p]) for p in PROFILES), None])
    published = json.loads((NAB_DIR / "published_scores_dev_subset.json").read_text())
    for name in PUBLISHED_SHOWN:
        if name in published:
            rows.append([f"published {name}", *(_two(published[name].get(p)) for p in PROFILES), None])
    best = results["SeasonalNoveltyScorer"]["standard"]
    artime = published.get("ARTime", {}).get("standard")
    text = table(["detector", "standard", "low FP", "low FN", "points/s"], rows, title="NAB dev subset: 31 files, 60 windows")
    if artime is not None:
        verdict = "met" if best > artime else "not met"
        text += ["", f"target: standard > {artime} (ARTime, best published): {verdict} ({best:.2f})"]
    results["published"] = {name: published[name] for name in PUBLISHED_SHOWN if name in published}
    results["target_standard_gap"] = sig(None if artime is None else best - artime)
    return Report(config={"data": "shared/bench/nab", "scorers": [n for n, _ in scorers]}, results=results, text=text)


def _two(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
