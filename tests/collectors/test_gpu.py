"""Tests for collectors.gpu: DCGM text and OTLP hw.* metrics normalised to one GPU schema."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from collectors.gpu import GpuMetric, GpuSample, from_otlp_metrics, parse_dcgm
from collectors.otlp import decode_metrics
from collectors.records import MetricBatch

FIXTURES = Path(__file__).parent / "fixtures"
NOW = 1_700_000_000.0
MIB = 1024 * 1024
UUID_A = "GPU-aaaaaaaa-0000-0000-0000-000000000000"
UUID_B = "GPU-bbbbbbbb-0000-0000-0000-000000000000"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def by_key(samples: list[GpuSample]) -> dict[tuple[str, str | None, GpuMetric], GpuSample]:
    keyed = {(s.gpu, s.mig_instance, s.metric): s for s in samples}
    assert len(keyed) == len(samples), "two samples share (gpu, mig instance, metric)"
    return keyed


# --- DCGM -------------------------------------------------------------------------------------


def test_dcgm_units_are_converted_to_base_units() -> None:
    samples, problems = parse_dcgm(fixture("dcgm_hostname_upper_mig_k8s.prom"), now=NOW)
    got = by_key(samples)
    assert got["0", None, GpuMetric.UTILIZATION_RATIO].value == pytest.approx(0.87)
    assert got["0", None, GpuMetric.MEMORY_USED_BYTES].value == 20480 * MIB
    assert got["0", None, GpuMetric.MEMORY_FREE_BYTES].value == 61440 * MIB
    assert got["0", None, GpuMetric.POWER_WATTS].value == 312.25
    assert got["0", None, GpuMetric.TEMPERATURE_CELSIUS].value == 41.0
    assert got["0", None, GpuMetric.ENERGY_JOULES].value == pytest.approx(123456.789)
    assert got["0", None, GpuMetric.XID_LAST_CODE].value == 79.0
    assert got["1", "1", GpuMetric.TENSOR_ACTIVE_RATIO].value == pytest.approx(0.412)
    assert got["1", "1", GpuMetric.SM_ACTIVE_RATIO].value == 0.75
    assert got["1", "1", GpuMetric.DRAM_ACTIVE_RATIO].value == 0.5
    assert dict(problems) == {"unknown_series": 1}  # DCGM_FI_DEV_SM_CLOCK
    assert all(s.timestamp == NOW for s in samples)


def test_dcgm_upper_case_hostname_with_mig_and_kubernetes_labels() -> None:
    samples, _ = parse_dcgm(fixture("dcgm_hostname_upper_mig_k8s.prom"), now=NOW)
    got = by_key(samples)
    whole = got["0", None, GpuMetric.MEMORY_USED_BYTES]
    assert (whole.host, whole.uuid, whole.model_name) == ("gpu-node-1", UUID_A, "NVIDIA A100-SXM4-80GB")
    assert (whole.mig_instance, whole.mig_profile, whole.pod, whole.namespace, whole.container) == (None,) * 5
    mig = got["1", "1", GpuMetric.MEMORY_USED_BYTES]
    assert (mig.host, mig.uuid, mig.mig_profile) == ("gpu-node-1", UUID_B, "3g.40gb")
    assert (mig.pod, mig.namespace, mig.container) == ("fraud-model-7d9f-abcde", "serving", "triton")
    assert mig.value == 10240 * MIB
    idle = got["1", "9", GpuMetric.MEMORY_USED_BYTES]  # empty k8s labels mean "no pod"
    assert (idle.mig_profile, idle.pod, idle.namespace, idle.container) == ("1g.10gb", None, None, None)


def test_dcgm_lower_case_hostname_spelling() -> None:
    samples, problems = parse_dcgm(fixture("dcgm_hostname_lower_k8s.prom"), now=NOW)
    got = by_key(samples)
    assert {s.host for s in samples} == {"dcgm-exporter-x7k2p"}
    assert {(s.pod, s.namespace, s.container, s.mig_instance) for s in samples} == {("chat-llm-0", "ml", "llm", None)}
    assert got["0", None, GpuMetric.UTILIZATION_RATIO].value == 1.0
    assert got["0", None, GpuMetric.MEMORY_USED_BYTES].value == MIB
    assert got["0", None, GpuMetric.POWER_WATTS].value == 70.5
    assert got["0", None, GpuMetric.TEMPERATURE_CELSIUS].value == 63.0
    assert got["0", None, GpuMetric.MEMORY_USED_BYTES].model_name == "Tesla T4"
    assert dict(problems) == {"unknown_series": 1}  # a counter family (the parser adds _total)


def test_dcgm_upper_case_hostname_wins_when_both_are_present() -> None:
    samples, _ = parse_dcgm('DCGM_FI_DEV_GPU_TEMP{gpu="2",Hostname="node",hostname="pod-x"} 50\n', now=NOW)
    assert [(s.host, s.gpu, s.uuid, s.model_name) for s in samples] == [("node", "2", "", "")]


def test_dcgm_counter_families_and_sample_timestamps() -> None:
    text = (
        "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n"
        'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0"} 5000 1700000123000\n'
        "# TYPE DCGM_FI_DEV_ECC_DBE_VOL_TOTAL counter\n"
        'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL{gpu="0"} 2\n'
    )
    samples, problems = parse_dcgm(text, now=NOW)
    assert [(s.metric, s.value, s.timestamp) for s in samples] == [
        (GpuMetric.ENERGY_JOULES, 5.0, 1700000123.0),
        (GpuMetric.UNCORRECTED_ERRORS_TOTAL, 2.0, NOW),
    ]
    assert not problems


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('DCGM_FI_DEV_GPU_UTIL{gpu="0"} NaN', "non_finite_value"),
        ('DCGM_FI_DEV_POWER_USAGE{gpu="0"} +Inf', "non_finite_value"),
        ('DCGM_FI_DEV_GPU_UTIL{gpu="0"} 140', "out_of_range"),
        ('DCGM_FI_PROF_SM_ACTIVE{gpu="0"} -0.1', "out_of_range"),
        ('DCGM_FI_DEV_FB_USED{gpu="0"} -1', "out_of_range"),
        ('DCGM_FI_DEV_FB_USED{UUID="GPU-x"} 1', "missing_gpu_label"),
        ('DCGM_FI_DEV_FB_USED{gpu=""} 1', "missing_gpu_label"),
        ('DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL{gpu="0"} 1', "unknown_series"),
    ],
)
def test_dcgm_implausible_points_are_skipped_and_counted(line: str, reason: str) -> None:
    samples, problems = parse_dcgm(line + "\n" + 'DCGM_FI_DEV_GPU_TEMP{gpu="0"} -5\n', now=NOW)
    assert [(s.metric, s.value) for s in samples] == [(GpuMetric.TEMPERATURE_CELSIUS, -5.0)]
    assert dict(problems) == {reason: 1}


def test_dcgm_malformed_text_names_the_line() -> None:
    text = 'DCGM_FI_DEV_GPU_TEMP{gpu="0"} 50\nDCGM_FI_DEV_GPU_UTIL{gpu=0} 50\n'
    with pytest.raises(ValueError, match=r"line 2 'DCGM_FI_DEV_GPU_UTIL\{gpu=0\} 50'"):
        parse_dcgm(text, now=NOW)


def test_dcgm_rejects_a_non_finite_now() -> None:
    with pytest.raises(ValueError, match="now must be a finite"):
        parse_dcgm("", now=math.nan)


def test_dcgm_empty_text_gives_nothing() -> None:
    assert parse_dcgm("", now=NOW) == ([], {})


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_dcgm_never_raises_anything_but_value_error(text: str) -> None:
    try:
        samples, _ = parse_dcgm(text, now=NOW)
    except ValueError:
        return
    assert all(isinstance(s, GpuSample) and math.isfinite(s.value) for s in samples)


_LINE = st.builds(
    "{}{{{}}} {}".format,
    st.sampled_from(["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_PROF_SM_ACTIVE", "x"]),
    st.lists(st.tuples(st.sampled_from(["gpu", "UUID", "Hostname", "pod"]), st.text(max_size=5)), max_size=3).map(
        lambda pairs: ",".join(f"{k}={json.dumps(v)}" for k, v in pairs)
    ),
    st.one_of(st.floats(), st.text(max_size=4)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=5))
def test_dcgm_near_valid_text_never_raises_anything_but_value_error(lines: list[str]) -> None:
    with contextlib.suppress(ValueError):
        parse_dcgm("\n".join(lines) + "\n", now=NOW)


# --- OTLP -------------------------------------------------------------------------------------

GPU0 = {"host.name": "n1", "hw.id": UUID_A, "hw.name": "0", "hw.model": "NVIDIA H100", "hw.type": "gpu"}


def batch(*points: tuple[str, float, dict[str, Any]]) -> MetricBatch:
    return MetricBatch(
        names=np.asarray([p[0] for p in points], dtype=object),
        timestamps=np.full(len(points), NOW),
        values=np.asarray([p[1] for p in points], dtype=np.float64),
        attributes=np.asarray([json.dumps(p[2], sort_keys=True) for p in points], dtype=object),
    )


def test_otlp_hardware_conventions_map_to_canonical_metrics() -> None:
    samples, problems = from_otlp_metrics(
        batch(
            ("hw.gpu.utilization", 0.5, GPU0),
            ("hw.gpu.utilization", 0.25, {**GPU0, "hw.gpu.task": "encoder"}),
            ("hw.gpu.utilization", 0.125, {**GPU0, "hw.gpu.task": "decoder"}),
            ("hw.gpu.utilization", 0.75, {**GPU0, "hw.gpu.task": "general"}),
            ("hw.gpu.memory.usage", 2.0**33, GPU0),
            ("hw.gpu.memory.limit", 2.0**36, GPU0),
            ("hw.gpu.memory.utilization", 0.1, GPU0),
            ("hw.power", 300.0, GPU0),
            ("hw.energy", 1.5e6, GPU0),
            ("hw.temperature", 55.0, GPU0),
            ("hw.errors", 3.0, {**GPU0, "error.type": "corrected"}),
            ("hw.errors", 1.0, {**GPU0, "error.type": "uncorrected"}),
            ("hw.errors", 4.0, GPU0),
        )
    )
    assert [(s.metric, s.value) for s in samples] == [
        (GpuMetric.UTILIZATION_RATIO, 0.5),
        (GpuMetric.ENCODER_UTILIZATION_RATIO, 0.25),
        (GpuMetric.DECODER_UTILIZATION_RATIO, 0.125),
        (GpuMetric.UTILIZATION_RATIO, 0.75),
        (GpuMetric.MEMORY_USED_BYTES, 2.0**33),
        (GpuMetric.MEMORY_LIMIT_BYTES, 2.0**36),
        (GpuMetric.MEMORY_UTILIZATION_RATIO, 0.1),
        (GpuMetric.POWER_WATTS, 300.0),
        (GpuMetric.ENERGY_JOULES, 1.5e6),
        (GpuMetric.TEMPERATURE_CELSIUS, 55.0),
        (GpuMetric.CORRECTED_ERRORS_TOTAL, 3.0),
        (GpuMetric.UNCORRECTED_ERRORS_TOTAL, 1.0),
        (GpuMetric.ERRORS_TOTAL, 4.0),
    ]
    assert {(s.timestamp, s.host, s.gpu, s.uuid, s.model_name) for s in samples} == {(NOW, "n1", "0", UUID_A, "NVIDIA H100")}
    assert not problems


def test_otlp_kubernetes_attributes_and_gpu_falls_back_to_hw_id() -> None:
    attrs = {"hw.id": "gpu-7", "k8s.pod.name": "p", "k8s.namespace.name": "ns", "k8s.container.name": "c"}
    [sample], _ = from_otlp_metrics(batch(("hw.gpu.memory.usage", 1.0, attrs)))
    assert (sample.host, sample.gpu, sample.uuid, sample.model_name) == ("", "gpu-7", "gpu-7", "")
    assert (sample.pod, sample.namespace, sample.container, sample.mig_instance) == ("p", "ns", "c", None)


def test_otlp_temperature_sensor_takes_its_parent_gpu_identity() -> None:
    sensor = {"host.name": "n1", "hw.id": "gpu0_temp", "hw.type": "temperature", "hw.parent": UUID_A}
    other_host = {**sensor, "host.name": "n2"}
    cpu_sensor = {**sensor, "hw.parent": "cpu0"}
    samples, problems = from_otlp_metrics(
        batch(
            ("hw.temperature", 61.0, sensor),
            ("hw.temperature", 62.0, other_host),
            ("hw.temperature", 63.0, cpu_sensor),
            ("hw.power", 250.0, GPU0),
        )
    )
    assert [(s.metric, s.value, s.host, s.gpu, s.uuid, s.model_name) for s in samples] == [
        (GpuMetric.TEMPERATURE_CELSIUS, 61.0, "n1", "0", UUID_A, "NVIDIA H100"),
        (GpuMetric.POWER_WATTS, 250.0, "n1", "0", UUID_A, "NVIDIA H100"),
    ]
    assert dict(problems) == {"not_gpu": 2}


@pytest.mark.parametrize(
    ("name", "value", "attrs", "reason"),
    [
        ("hw.power", 100.0, {**GPU0, "hw.type": "power_supply"}, "not_gpu"),
        ("hw.energy", 100.0, {k: v for k, v in GPU0.items() if k != "hw.type"}, "not_gpu"),
        ("hw.gpu.utilization", 0.5, {**GPU0, "hw.type": "cpu"}, "not_gpu"),
        ("hw.gpu.io", 10.0, GPU0, "unsupported_metric"),
        ("hw.status", 1.0, GPU0, "unsupported_metric"),
        ("hw.gpu.utilization", 0.5, {**GPU0, "hw.gpu.task": "copy"}, "unsupported_metric"),
        ("hw.errors", 1.0, {**GPU0, "error.type": "crc"}, "unsupported_metric"),
        ("hw.gpu.utilization", 87.0, GPU0, "out_of_range"),
        ("hw.power", -1.0, GPU0, "out_of_range"),
        ("hw.gpu.memory.usage", 1.0, {"hw.type": "gpu"}, "missing_hw_id"),
    ],
)
def test_otlp_skipped_points_are_counted(name: str, value: float, attrs: dict[str, Any], reason: str) -> None:
    samples, problems = from_otlp_metrics(batch((name, value, attrs), ("hw.power", 10.0, GPU0)))
    assert [s.metric for s in samples] == [GpuMetric.POWER_WATTS]
    assert dict(problems) == {reason: 1}


def test_otlp_non_hardware_metrics_are_ignored_silently() -> None:
    samples, problems = from_otlp_metrics(batch(("http.server.duration.count", 3.0, {}), ("kpi.revenue", 9.0, GPU0)))
    assert samples == []
    assert not problems


def test_otlp_request_through_decode_metrics() -> None:
    """Resource attributes (host, k8s) reach the samples through the real OTLP flattening."""

    def kvs(attributes: dict[str, str]) -> list[common_pb2.KeyValue]:
        return [common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v)) for k, v in attributes.items()]

    point = metrics_pb2.NumberDataPoint(
        time_unix_nano=int(NOW * 1e9), as_int=3 * 2**30, attributes=kvs({"hw.id": UUID_A, "hw.name": "0", "hw.type": "gpu"})
    )
    usage = metrics_pb2.Metric(name="hw.gpu.memory.usage", sum=metrics_pb2.Sum(data_points=[point]))
    request = metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[
            metrics_pb2.ResourceMetrics(
                resource=resource_pb2.Resource(attributes=kvs({"host.name": "n1", "k8s.pod.name": "p-0"})),
                scope_metrics=[metrics_pb2.ScopeMetrics(metrics=[usage])],
            )
        ]
    )
    decoded = decode_metrics(request).batch
    assert decoded is not None
    [sample], problems = from_otlp_metrics(decoded)
    assert (sample.host, sample.gpu, sample.uuid, sample.pod) == ("n1", "0", UUID_A, "p-0")
    assert (sample.metric, sample.value, sample.timestamp) == (GpuMetric.MEMORY_USED_BYTES, 3.0 * 2**30, NOW)
    assert not problems
