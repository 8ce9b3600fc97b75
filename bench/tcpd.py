"""TCPD: Driftline's online change-point detection beside TCPDBench's published defaults.

Runs ``driftline eval tcpd`` (``monitor.eval_tcpd.evaluate_tcpd``) on
``../shared/bench/tcpd`` and prints F1 (margin 5) and covering averaged the
paper's way over the 14 univariate series, next to every published method's
default-parameter average over the same series.
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench._harness import Options, Report, sig, table
from monitor.eval_tcpd import evaluate_tcpd

TCPD_DIR = Path(__file__).resolve().parents[2] / "shared" / "bench" / "tcpd"


def _published(averaged: set[str]) -> dict[str, tuple[float, float]]:
    scores: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with (TCPD_DIR / "published_default_scores_dev.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["dataset"] in averaged:
                scores[row["method"]].append((float(row["f1"]), float(row["cover"])))
    return {
        method: (sum(f for f, _ in pairs) / len(pairs), sum(c for _, c in pairs) / len(pairs))
        for method, pairs in scores.items()
        if len(pairs) == len(averaged)
    }


def run(options: Options) -> Report:
    if not TCPD_DIR.exists():
        return Report(config={}, results={"skipped": f"{TCPD_DIR} not found"}, text=[f"skipped: {TCPD_DIR} not found"])
    started = time.process_time()
    report = evaluate_tcpd(TCPD_DIR / "datasets", TCPD_DIR / "annotations.json")
    seconds = time.process_time() - started
    ours = report.as_dict()
    published = _published(set(ours["averaged_over"]))
    rows: list[list[object]] = [["Driftline BOCPD (online)", f"{ours['f1']:.3f}", f"{ours['cover']:.3f}"]]
    rows += [[f"published {m}", f"{f:.3f}", f"{c:.3f}"] for m, (f, c) in sorted(published.items(), key=lambda i: -i[1][0])]
    best_f1 = max(f for f, _ in published.values())
    best_cover = max(c for _, c in published.values())
    met = ours["f1"] > best_f1 and ours["cover"] > best_cover
    text = table(["method", "F1", "cover"], rows, title=f"TCPD: {len(ours['averaged_over'])} univariate series, margin 5")
    text += [
        "",
        f"all 21 series: F1 {ours['f1_all']:.3f}, cover {ours['cover_all']:.3f}; {seconds:.1f} s of CPU",
        f"target: beat every published default (best F1 {best_f1:.3f}, best cover {best_cover:.3f}): "
        + ("met" if met else "not met"),
    ]
    results: dict[str, Any] = {
        "driftline": {k: ours[k] for k in ("f1", "cover", "f1_all", "cover_all")},
        "published": {m: {"f1": sig(f), "cover": sig(c)} for m, (f, c) in published.items()},
        "cpu_seconds": sig(seconds),
        "series": ours["series"],
    }
    return Report(config={"data": "shared/bench/tcpd", "margin": 5}, results=results, text=text)
