"""The ``driftline`` command line. Heavy modules are imported inside each command."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

DEFAULT_API = "http://127.0.0.1:4318"
CHECK_FORMATS = ("table", "json", "junit", "html")  # monitor.report.FORMATS, without importing it


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line reason and exit code 2 on bad arguments."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="driftline", description="Drift and health monitoring for models in production.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="run the server (OTLP/HTTP receiver, API, /metrics)")
    serve.add_argument("--config", type=Path, help="YAML settings file")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 4318)")
    serve.add_argument("--db", dest="db_url", help="database URL (default sqlite:///./driftline.db)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    reference = commands.add_parser("reference", help="manage reference profiles")
    reference_commands = reference.add_subparsers(dest="reference_command", required=True, parser_class=_Parser)
    upload = reference_commands.add_parser("upload", help="upload a training sample (CSV or Parquet) as the reference")
    upload.add_argument("model")
    upload.add_argument("version")
    upload.add_argument("file", type=Path)
    upload.add_argument("--api", default=os.environ.get("DRIFTLINE_API", DEFAULT_API), help="server URL")
    upload.add_argument("--token", default=os.environ.get("DRIFTLINE_ADMIN_TOKEN"), help="admin bearer token")

    simulate = commands.add_parser("simulate", help="send synthetic model traffic through the OpenTelemetry SDK")
    simulate.add_argument("--api", default=os.environ.get("DRIFTLINE_API", DEFAULT_API), help="server URL")
    simulate.add_argument("--scenario", default="credit-risk", choices=["credit-risk"])
    simulate.add_argument("--rate", type=_positive, default=50.0, help="predictions per second, all versions together")
    simulate.add_argument("--duration", type=_positive, default=None, help="seconds to run (default: until Ctrl-C)")
    simulate.add_argument(
        "--speed", type=_positive, default=240.0, help="simulated seconds per real second until the history is caught up"
    )
    simulate.add_argument("--history", type=_positive, default=8 * 3600.0, help="simulated seconds of history to start with")
    simulate.add_argument(
        "--incident-after", type=_positive, default=5 * 3600.0, help="simulated seconds until the canary's population shifts"
    )
    simulate.add_argument("--dcgm-port", type=int, default=None, help="also serve a DCGM-exporter-style endpoint on this port")
    simulate.add_argument("--token", default=os.environ.get("DRIFTLINE_INGEST_TOKEN"), help="bearer token")

    check = commands.add_parser(
        "check",
        help="compare two datasets (CSV/Parquet) column by column: exit 0 no drift, 1 drift, 2 bad input",
        description=(
            "The batch quality gate for CI pipelines: profiles REFERENCE as the service profiles an uploaded "
            "reference, streams CURRENT through the same window sketches and drift tests (settings from "
            "--config and DRIFTLINE_* as for `driftline serve`), and reports each column. Exit code 0: no "
            "drift; 1: drift, a changed column type, a missing column or an all-null column; 2: bad input."
        ),
    )
    check.add_argument("reference", type=Path, help="reference dataset (.csv, .tsv or .parquet)")
    check.add_argument("current", type=Path, help="dataset to check against the reference (.csv, .tsv or .parquet)")
    check.add_argument(
        "--format", choices=CHECK_FORMATS, help="report format (default: from --out's suffix .json/.xml/.html, else table)"
    )
    check.add_argument("--out", type=Path, help="write the report to this file instead of stdout; its folder must exist")
    check.add_argument("--config", type=Path, help="YAML settings file, as for `driftline serve`")
    check.add_argument("--quiet", action="store_true", help="no progress bars on stderr")

    evaluate = commands.add_parser("eval", help="score Driftline's detectors on labelled benchmark data")
    eval_commands = evaluate.add_subparsers(dest="eval_command", required=True, parser_class=_Parser)
    nab = eval_commands.add_parser("nab", help="anomaly scoring on a NAB-layout directory (<category>/<name>.csv)")
    nab.add_argument("data_dir", type=Path, help="directory of <category>/<name>.csv files with timestamp,value")
    nab.add_argument("windows_json", type=Path, help="NAB windows file: <category>/<name>.csv -> [[start, end], ...]")
    nab.add_argument("--detector", choices=["novelty", "hst"], default="novelty", help="anomaly scorer (default: novelty)")
    nab.add_argument("--json", action="store_true", help="print one JSON object")
    tcpd = eval_commands.add_parser("tcpd", help="online change-point detection on a TCPD-layout directory (<name>.json)")
    tcpd.add_argument("data_dir", type=Path, help="directory of TCPD <name>.json series")
    tcpd.add_argument("annotations_json", type=Path, help="TCPD annotations: <name> -> {annotator: [indices]}")
    tcpd.add_argument("--json", action="store_true", help="print one JSON object")

    agent = commands.add_parser("agent", help="telemetry agents that run on the monitored hosts")
    agent_commands = agent.add_subparsers(dest="agent_command", required=True, parser_class=_Parser)
    gpu = agent_commands.add_parser("gpu", help="poll NVML (nvidia-ml-py) and export OTLP hw.* metrics to the server")
    gpu.add_argument("--api", default=os.environ.get("DRIFTLINE_API", DEFAULT_API), help="server URL")
    gpu.add_argument("--interval", type=_positive, default=10.0, help="seconds between polls (default 10)")
    gpu.add_argument("--duration", type=_positive, default=None, help="seconds to run (default: until Ctrl-C)")
    gpu.add_argument("--token", default=os.environ.get("DRIFTLINE_INGEST_TOKEN"), help="bearer token")

    # -- kpi --
    kpi = commands.add_parser("kpi", help="business KPIs")
    kpi_commands = kpi.add_subparsers(dest="kpi_command", required=True, parser_class=_Parser)
    kpi_import = kpi_commands.add_parser(
        "import",
        help="send KPI history (CSV or Parquet, long or wide) to the server: exit 0 done, 1 server failed, 2 bad input",
        description=(
            "Long files have the columns timestamp,kpi,value; wide ones timestamp and one column per KPI (empty "
            "cells are skipped). Timestamps are Unix seconds or ISO 8601 (UTC unless a zone is given). The whole "
            "file is checked before anything is sent."
        ),
    )
    kpi_import.add_argument("file", type=Path, help="a .csv, .tsv or .parquet file")
    kpi_import.add_argument("--api", default=os.environ.get("DRIFTLINE_API", DEFAULT_API), help="server URL")
    kpi_import.add_argument("--token", default=os.environ.get("DRIFTLINE_INGEST_TOKEN"), help="ingest bearer token")
    kpi_import.add_argument("--batch-size", type=int, default=5000, help="points per request (default 5000)")
    kpi_import.add_argument("--quiet", action="store_true", help="no progress bar on stderr")

    # -- dashboard --
    dashboard = commands.add_parser("dashboard", help="run the Streamlit dashboard against a Driftline API")
    dashboard.add_argument("--api", default=os.environ.get("DRIFTLINE_API", DEFAULT_API), help="server URL")
    dashboard.add_argument("--port", type=int, default=8501, help="dashboard port (default 8501)")
    dashboard.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")

    demo = commands.add_parser("demo", help="start a server and the simulator, print the URLs; Ctrl-C stops all")
    demo.add_argument("--port", type=int, default=4318)
    demo.add_argument("--dashboard-port", type=int, default=8501, help="dashboard port (default 8501)")
    demo.add_argument("--window", type=_positive, default=1800.0, help="drift window width in simulated seconds")
    demo.add_argument("--speed", type=_positive, default=240.0, help="simulated seconds per real second during the history")
    demo.add_argument("--rate", type=_positive, default=60.0, help="predictions per real second")
    demo.add_argument("--duration", type=_positive, default=None, help="stop after this many seconds")

    # -- correlate --
    correlate = commands.add_parser(
        "correlate",
        help="relate model metrics to business KPIs (lag, significance, impact) and print the ranked findings",
        description=(
            "Runs the correlation engine over [--since, --until): with --db (default: the configured database) "
            "on everything stored there, and stores the findings as the server's scheduled run does; with --api "
            "on the series the server serves (KPIs and model metrics; drift history is not served) without "
            "storing anything. Times: a duration before now (7d, 12h, 90m), unix seconds or ISO 8601 (UTC)."
        ),
    )
    correlate.add_argument("--since", required=True, help="start: 7d, 12h, 90m, unix seconds or ISO 8601")
    correlate.add_argument("--until", help="end (default: now), same forms as --since")
    source = correlate.add_mutually_exclusive_group()
    source.add_argument("--db", dest="db_url", help="database URL (default: the configured one)")
    source.add_argument("--api", help="server URL: read series over GET /api/v1/series instead of the database")
    correlate.add_argument("--series", action="append", help="with --api: model-side series names to read (repeatable)")
    correlate.add_argument("--token", default=os.environ.get("DRIFTLINE_READ_TOKEN"), help="with --api: read bearer token")
    correlate.add_argument("--config", type=Path, help="YAML settings file (the correlation_* options)")
    correlate.add_argument("--json", action="store_true", help="print the findings as one JSON object")
    correlate.add_argument("--quiet", action="store_true", help="no progress bars on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "reference":
        return _upload_reference(args)
    if args.command == "simulate":
        return _simulate(args)
    if args.command == "demo":
        return _demo(args)
    if args.command == "dashboard":
        return _dashboard(args)
    if args.command == "check":
        return _check(args)
    if args.command == "agent":
        return _agent_gpu(args)
    if args.command == "kpi":
        return _kpi_import(args)
    if args.command == "eval":
        return _eval_tcpd(args) if args.eval_command == "tcpd" else _eval_nab(args)
    if args.command == "correlate":
        return _correlate(args)
    return 2


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from monitor.api import create_app
    from monitor.settings import load_settings

    try:
        settings = load_settings(args.config, host=args.host, port=args.port, db_url=args.db_url)
    except (ValueError, ValidationError) as exc:
        print(f"driftline serve: invalid settings: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=args.log_level, access_log=False)
    return 0


def _upload_reference(args: argparse.Namespace) -> int:
    import httpx
    from tqdm import tqdm

    path: Path = args.file
    if not path.is_file():
        print(f"driftline reference upload: {path} is not a file", file=sys.stderr)
        return 2
    suffix = path.suffix.lower()
    content_type = {".csv": "text/csv", ".parquet": "application/vnd.apache.parquet", ".json": "application/json"}.get(suffix)
    if content_type is None:
        print(f"driftline reference upload: {path.name}: use a .csv, .parquet or .json file", file=sys.stderr)
        return 2
    size = path.stat().st_size

    def chunks(bar: Any) -> Iterator[bytes]:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                bar.update(len(chunk))
                yield chunk

    headers = {"Content-Type": content_type, "Content-Length": str(size)}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    url = f"{args.api}/api/v1/models/{args.model}/versions/{args.version}/reference"
    with tqdm(total=size, unit="B", unit_scale=True, desc=f"uploading {path.name}", file=sys.stderr) as bar:
        try:
            response = httpx.put(url, content=chunks(bar), headers=headers, timeout=600)
        except httpx.HTTPError as exc:
            print(f"driftline reference upload: cannot reach {args.api}: {exc}", file=sys.stderr)
            return 1
    if response.status_code != 200:
        detail = (
            response.json().get("detail", response.text)
            if response.headers.get("content-type", "").startswith("application/json")
            else response.text
        )
        print(f"driftline reference upload: server answered {response.status_code}: {detail}", file=sys.stderr)
        return 1
    body = response.json()
    print(f"reference for {body['model']} {body['version']}: {body['rows']} rows, {len(body['features'])} features")
    for feature in body["features"]:
        print(f"  {feature['feature']:<32} {feature['kind']:<12} n={feature['n']} nulls={feature['nulls']}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    import httpx

    from monitor.simulate import SimulationReport, run_simulation

    def progress(report: SimulationReport) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(report.simulated_until))
        print(
            f"\r{stamp} UTC  predictions {report.predictions}  labels {report.labels}  metric points {report.metric_points}",
            end="",
            file=sys.stderr,
        )

    try:
        report = run_simulation(
            args.api,
            scenario=args.scenario,
            rate=args.rate,
            duration=args.duration,
            speed=args.speed,
            history=args.history,
            incident_after=args.incident_after,
            token=args.token,
            dcgm_port=args.dcgm_port,
            on_progress=progress,
        )
    except KeyboardInterrupt:
        return 0
    except httpx.HTTPError as error:
        print(f"\ndriftline simulate: error: {error}", file=sys.stderr)
        return 1
    print(
        f"\nsent {report.predictions} predictions, {report.labels} labels, {report.metric_points} metric points", file=sys.stderr
    )
    return 0


def _out_problem(out: Path, inputs: Sequence[Path]) -> str | None:
    """Why the report cannot go to ``out``, checked before any work is done."""
    if out.is_dir():
        return f"--out {out} is a directory"
    parent = out.parent
    if not parent.is_dir():
        return f"--out {out}: folder {parent} does not exist"
    if not os.access(out if out.exists() else parent, os.W_OK):
        return f"--out {out}: not writable"
    for path in inputs:
        try:
            same = os.path.samefile(out, path) if out.exists() and path.exists() else out.resolve() == path.resolve()
        except OSError:
            same = False
        if same:
            return f"--out {out} would overwrite the input {path}"
    return None


def _check(args: argparse.Namespace) -> int:
    from pydantic import ValidationError
    from tqdm import tqdm

    from monitor.check import CheckInputError, run_check
    from monitor.report import render, suffix_format
    from monitor.settings import load_settings

    def fail(reason: str) -> int:
        print(f"driftline check: {' '.join(reason.split())}", file=sys.stderr)
        return 2

    out: Path | None = args.out
    if out is not None and (problem := _out_problem(out, (args.reference, args.current))) is not None:
        return fail(problem)
    report_format = args.format or (suffix_format(out.name) if out is not None else None) or "table"
    try:
        settings = load_settings(args.config)
    except (ValueError, ValidationError) as exc:
        return fail(f"invalid settings: {exc}")

    bars: dict[str, Any] = {}
    labels = {
        "reference_rows": ("reading reference", " rows"),
        "reference_columns": ("profiling reference", " columns"),
        "current_rows": ("reading current", " rows"),
    }

    def progress(stage: str, done: int, total: int | None) -> None:
        bar = bars.get(stage)
        if bar is None or done < bar.n:  # a new stage, or the current file read again
            for other in bars.values():  # one bar at a time: stages do not overlap
                other.close()
            desc, unit = labels.get(stage, (stage, ""))
            bar = bars[stage] = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                unit_scale=unit == " rows",
                file=sys.stderr,
                disable=args.quiet,
                mininterval=0.2 if sys.stderr.isatty() else 5.0,
            )
        if total != bar.total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)

    try:
        report = run_check(args.reference, args.current, settings=settings, progress=progress)
    except CheckInputError as exc:
        error: CheckInputError | None = exc
    else:
        error = None
    for bar in bars.values():
        bar.close()
    if error is not None:  # after the progress bars, so that the reason is the last line
        return fail(str(error))
    text = render(report, report_format)
    failing = [f.feature for f in report.ranked() if f.failed]
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return report.exit_code
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        return fail(f"cannot write {out}: {exc.strerror or exc}")
    shown = ", ".join(failing[:5]) + (", …" if len(failing) > 5 else "")
    verdict = f"drift in {len(failing)} of {len(report.features)} columns ({shown})" if failing else "no drift"
    print(f"driftline check: {verdict}; {report_format} report written to {out}", file=sys.stderr)
    return report.exit_code


def _agent_gpu(args: argparse.Namespace) -> int:
    from monitor.agent import GpuPoller, NvmlUnavailable, open_nvml

    try:
        nvml = open_nvml()
    except NvmlUnavailable as exc:
        print(f"driftline agent gpu: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    poller = GpuPoller(nvml)
    try:
        try:
            count = len(poller.poll_once())
        except nvml.NVMLError as exc:
            print(f"driftline agent gpu: NVML not available: the first poll failed: {exc}", file=sys.stderr)
            return 2
        if count == 0:
            print("driftline agent gpu: NVML not available: nvmlDeviceGetCount() found no GPUs", file=sys.stderr)
            return 2
        print(
            f"driftline agent gpu: {count} GPU(s) on {poller.host}; exporting to {args.api} every {args.interval:g} s",
            file=sys.stderr,
        )
        exported = poller.run(args.api, interval=args.interval, duration=args.duration, token=args.token)
    except KeyboardInterrupt:
        return 0
    finally:
        poller.close()
    print(f"driftline agent gpu: {exported} poll(s) sent for export", file=sys.stderr)
    return 0


def _kpi_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from monitor.kpi_import import KpiImportError, read_kpi_file, send_kpis

    if not 1 <= args.batch_size <= 100_000:
        print(f"driftline kpi import: --batch-size {args.batch_size} must be between 1 and 100000", file=sys.stderr)
        return 2
    try:
        rows = read_kpi_file(args.file)
    except KpiImportError as exc:
        print(f"driftline kpi import: {exc}", file=sys.stderr)
        return 2
    with tqdm(total=len(rows), unit=" points", desc=f"importing {args.file.name}", file=sys.stderr, disable=args.quiet) as bar:
        try:
            sent = send_kpis(rows, args.api, token=args.token, batch_size=args.batch_size, on_sent=bar.update)
        except RuntimeError as exc:
            bar.close()
            print(f"driftline kpi import: {exc}; {bar.n} of {len(rows)} points were stored", file=sys.stderr)
            return 1
    kpis = len(set(rows.kpis.tolist()))
    print(f"imported {sent} values of {kpis} KPI(s) from {args.file.name}", file=sys.stderr)
    return 0


def dashboard_command(api: str, port: int, host: str = "127.0.0.1") -> tuple[list[str], dict[str, str]]:
    """The ``streamlit run`` command line and environment that serve the dashboard."""
    import dashboard

    root = Path(dashboard.__file__).resolve().parent
    env = {
        **os.environ,
        "DRIFTLINE_API": api,
        # the dashboard package must import from the same tree as this command
        "PYTHONPATH": os.pathsep.join(p for p in (str(root.parent), os.environ.get("PYTHONPATH", "")) if p),
    }
    command = [
        sys.executable, "-m", "streamlit", "run", str(root / "app.py"),
        "--server.port", str(port),
        "--server.address", host,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip
    return command, env


def _dashboard(args: argparse.Namespace) -> int:
    command, env = dashboard_command(args.api, args.port, args.host)
    print(f"Driftline dashboard on http://{args.host}:{args.port} (API {args.api}); Ctrl-C stops it.", file=sys.stderr)
    try:
        return subprocess.run(command, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 0


def _wait_ready(url: str, timeout: float) -> bool:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def demo_config(*, window: float, speed: float, dcgm_port: int) -> dict[str, Any]:
    """The settings ``driftline demo`` runs the server with: the credit-risk story, end to end.

    >>> config = demo_config(window=1800.0, speed=240.0, dcgm_port=9400)
    >>> [kpi["name"] for kpi in config["kpis"]], config["dcgm_targets"]
    (['approval_rate', 'expected_loss_per_hour', 'revenue_per_hour'], ['http://127.0.0.1:9400/metrics'])
    """
    return {
        "window_seconds": window,
        # Simulated time runs `speed` times faster: allow a real second's worth of it for lateness.
        "allowed_lateness_seconds": speed,
        # Dozens of windows a minute: a stricter family-wise level keeps the stable version quiet.
        "drift_alpha": 0.001,
        "label_window_seconds": 4 * 3600.0,  # the scenario's labels arrive up to three hours late
        "quality_window_seconds": window,
        "kpis": [
            {"name": "approval_rate", "metric": "credit.approval_rate"},
            {"name": "expected_loss_per_hour", "metric": "credit.expected_loss_per_hour"},
            {"name": "revenue_per_hour", "metric": "credit.revenue_per_hour"},
        ],
        "correlation_kpi_units": {"expected_loss_per_hour": {"unit": "USD/h"}, "revenue_per_hour": {"unit": "USD/h"}},
        "gpu_models": [
            {"model": "credit-risk", "version": "v1", "match": {"host": "gpu-host-a"}},
            {"model": "credit-risk", "version": "v2", "match": {"host": "gpu-host-b"}},
        ],
        "gpu_max_sample_gap_seconds": 180.0,
        "gpu_stale_seconds": 3 * 3600.0,  # the replayed history ends up to an hour before now
        "anomaly_series": [{"name": "driftline.kpi"}, {"name": "hw.gpu.memory.usage"}, {"name": "driftline.model.latency"}],
        "anomaly_threshold": 0.95,
        "dcgm_targets": [f"http://127.0.0.1:{dcgm_port}/metrics"],
        "correlation_interval_seconds": 60.0,
        "correlation_lookback_seconds": 12 * 3600.0,
        "alerts": {
            "evaluation_interval": 2.0,
            "policies": {
                "rollback-canary": {
                    "matchers": ['alertname="FeatureDrift"', 'version="v2"'],
                    "scope": ["model", "version"],
                    "cooldown": "1h",
                    "dry_run": True,  # the audit shows what would have run
                    "action": {
                        "type": "argo-rollouts",
                        "rollout": "{{ labels.model }}-{{ labels.version }}",
                        "namespace": "credit",
                    },
                }
            },
        },
    }


def _demo(args: argparse.Namespace) -> int:
    import yaml

    from monitor.settings import Settings

    workdir = Path(tempfile.mkdtemp(prefix="driftline-demo-"))
    api = f"http://127.0.0.1:{args.port}"
    dcgm_port = args.port + 1
    config = workdir / "driftline.yaml"
    config.write_text(yaml.safe_dump(demo_config(window=args.window, speed=args.speed, dcgm_port=dcgm_port), sort_keys=False))
    Settings(**yaml.safe_load(config.read_text()))  # fail here, plainly, rather than in the child
    env = {
        **os.environ,
        "DRIFTLINE_DB_URL": f"sqlite:///{workdir / 'driftline.db'}",
        "DRIFTLINE_PORT": str(args.port),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "monitor", "serve", "--config", str(config), "--log-level", "warning"], env=env
    )
    children = [server]
    try:
        if not _wait_ready(f"{api}/healthz", timeout=60):
            print("driftline demo: the server did not start; see its output above", file=sys.stderr)
            return 1
        simulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor",
                "simulate",
                "--api",
                api,
                "--rate",
                str(args.rate),
                "--speed",
                str(args.speed),
                "--dcgm-port",
                str(dcgm_port),
            ],
            env=env,
        )
        children.append(simulator)
        command, dashboard_env = dashboard_command(api, args.dashboard_port)
        children.append(subprocess.Popen(command, env=dashboard_env, stdout=subprocess.DEVNULL))
        print(
            f"\nDriftline demo is running (data in {workdir}).\n"
            f"  Dashboard                   http://127.0.0.1:{args.dashboard_port}\n"
            f"  API and OTLP/HTTP receiver  {api}\n"
            f"  API docs                    {api}/docs\n"
            f"  Prometheus metrics          {api}/metrics\n"
            f"  Drift of the canary         {api}/api/v1/models/credit-risk/drift?version=v2\n"
            f"  Drift of the stable version {api}/api/v1/models/credit-risk/drift?version=v1\n"
            f"  Drift linked to the KPIs    {api}/api/v1/correlations\n"
            f"Eight hours of history replay {args.speed:g}x faster than real time, then traffic stays live.\n"
            f"Five hours in, the canary (v2) sees a shifted population: drift on income and employment\n"
            f"shows within a {args.window:g} s (simulated) window, quality drops as labels arrive, and the\n"
            "expected-loss KPI rises half an hour later: the Business impact page says so in words once the\n"
            "history is in (the correlation engine runs every minute).\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while deadline is None or time.monotonic() < deadline:
            if any(child.poll() is not None for child in children):
                print("driftline demo: a component exited; stopping", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        # One grace period for all of them, not one each: Ctrl-C ends the demo within ~20 s.
        deadline = time.monotonic() + 20.0
        for child in reversed(children):
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()  # nothing acknowledged is lost: the server replays its ingest log
                child.wait()


def _eval_nab(args: argparse.Namespace) -> int:
    import json

    from detectors.anomaly import HalfSpaceTreesScorer, SeasonalNoveltyScorer
    from monitor.evaluation import evaluate_nab

    factory = {"novelty": SeasonalNoveltyScorer, "hst": HalfSpaceTreesScorer}[args.detector]
    try:
        report = evaluate_nab(args.data_dir, args.windows_json, detector_factory=factory)
    except (ValueError, OSError) as error:
        print(f"driftline eval nab: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dict()) if args.json else report.format_table())
    return 0


def _eval_tcpd(args: argparse.Namespace) -> int:
    from monitor.eval_tcpd import evaluate_tcpd

    try:
        report = evaluate_tcpd(args.data_dir, args.annotations_json)
    except (ValueError, OSError) as error:
        print(f"driftline eval tcpd: error: {error}", file=sys.stderr)
        return 2
    print(report.to_json() if args.json else report.format_table())
    return 0


# -- correlate --
class _StageBars:
    """One tqdm bar per stage of a long run, each closed when the next begins."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=stage, file=sys.stderr, disable=self.quiet, mininterval=0.2)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _correlate(args: argparse.Namespace) -> int:
    import json

    from pydantic import ValidationError

    def fail(reason: str) -> int:
        print(f"driftline correlate: {reason}", file=sys.stderr)
        return 2

    now = time.time()
    try:
        from monitor.correlation.remote import parse_when

        since = parse_when(args.since, now)
        until = now if args.until is None else parse_when(args.until, now)
    except ValueError as exc:
        return fail(f"--since/--until: {exc}")
    if since >= until:
        return fail(f"--since ({since:.0f}) must be before --until ({until:.0f})")
    try:
        from monitor.settings import load_settings

        settings = load_settings(args.config, db_url=args.db_url)
    except (ValueError, ValidationError) as exc:
        return fail(f"invalid settings: {' '.join(str(exc).split())}")

    from monitor.correlation.engine import correlate
    from monitor.correlation.service import engine_config, run_correlation

    bars = _StageBars(args.quiet)
    try:
        if args.api:
            import httpx

            from monitor.correlation.remote import DEFAULT_SERIES, fetch_inputs

            try:
                inputs = fetch_inputs(
                    args.api.rstrip("/"), since, until, step=settings.correlation_step_seconds,
                    names=args.series or DEFAULT_SERIES, token=args.token, progress=bars,
                )  # fmt: skip
            except (httpx.HTTPError, ValueError) as exc:
                bars.close()
                print(f"driftline correlate: cannot read series from {args.api}: {exc}", file=sys.stderr)
                return 1
            result = correlate(inputs.grid, inputs.model_series, inputs.kpis, engine_config(settings), progress=bars)
        else:
            from sqlalchemy.exc import SQLAlchemyError

            from monitor.store import make_engine, migrate

            engine = make_engine(settings.db_url)
            try:
                migrate(engine)
                result = run_correlation(engine, settings, since, until, now=now, progress=bars)
            except SQLAlchemyError as exc:
                bars.close()
                print(f"driftline correlate: database error: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
                return 1
            finally:
                engine.dispose()
    finally:
        bars.close()
    if args.json:
        findings = [f.to_dict() for f in result.findings]
        print(json.dumps({"tests": result.tests, "pairs_tested": len(result.tested), "findings": findings}))
        return 0
    print(f"{len(result.findings)} finding(s) from {result.tests} tests over {len(result.tested)} pair(s)", file=sys.stderr)
    for rank, finding in enumerate(result.findings, start=1):
        print(f"{rank}. {finding.sentence}")
    return 0
