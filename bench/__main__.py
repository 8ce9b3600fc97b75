"""``python -m bench [--only NAME] [--quick]``: run the benchmarks, print tables, write results."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import cast

from bench._harness import Options, Report, machine_info, write_result

#: name -> (module, one-line description). Modules are imported only when selected.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "ingest": ("bench.ingest", "OTLP/HTTP protobuf logs ingest: end to end on one core, and the per-batch cost split"),
    "columnar": ("bench.columnar", "POST /api/v1/events (Arrow, JSON) vs OTLP: durable events/s on one core"),
    "metrics": ("bench.metrics", "POST /v1/metrics (OTLP protobuf GPU gauges) vs OTLP logs: durable points/s on one core"),
    "adwin_kswin": ("bench.adwin_kswin", "ADWIN and KSWIN vs river: throughput and detection delay at matched false alarms"),
    "streams": (
        "bench.streams",
        "streaming detectors vs river: delay at matched false alarms on known-drift streams, and throughput",
    ),
    "nab": ("bench.nab", "anomaly scoring on the NAB dev subset beside the published detectors"),
    "tcpd": ("bench.tcpd", "online change-point detection on TCPD beside TCPDBench's published defaults"),
    "drift_tests": ("bench.drift_tests", "window drift tests vs Evidently's data-drift report and scipy, 10k-1M rows"),
    "correlation": ("bench.correlation", "correlation engine: 200 metrics x 20 KPIs x 121 lags over 30 days; scenario precision"),
    "soak": ("bench.soak", "soak: 10 min at 5,000 events/s over OTLP; resident memory growth and p99 acknowledgement latency"),
    "dashboard": ("bench.dashboard", "dashboard: first render of each page, 30 days of 5 models x 50 features (target <= 2 s)"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run Driftline's benchmarks.")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME", help="run only NAME (repeatable)")
    parser.add_argument("--quick", action="store_true", help="shorter runs for a smoke check (noisier figures)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        for name, (_, description) in BENCHMARKS.items():
            print(f"{name:<12} {description}")
        return 0
    options = Options(quick=args.quick)
    names = args.only or list(BENCHMARKS)
    machine = machine_info()
    print(
        f"machine: {machine['cpu_model']}, {machine['cpu_count']} cores; python {machine['python']}, "
        f"numpy {machine['packages']['numpy']}, protobuf {machine['packages']['protobuf']} ({machine['protobuf_implementation']})"
    )
    for name in names:
        module_name, description = BENCHMARKS[name]
        print(f"\n== {name}{' (quick)' if options.quick else ''}: {description}", flush=True)
        started = time.monotonic()
        run = cast("Callable[[Options], Report]", importlib.import_module(module_name).run)
        report = run(options)
        for line in report.text:
            print(line)
        path = write_result(name, options, report)
        print(f"\n{name}: {time.monotonic() - started:.0f} s; results in {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
