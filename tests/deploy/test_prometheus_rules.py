"""deploy/prometheus: the rules pass promtool, every group has a unit test that runs, configs load."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from deploy_support import CONTRACT_METRICS, DEPLOY, load_yaml, metric_names
from support import require_binary

PROMETHEUS = DEPLOY / "prometheus"
RULES = PROMETHEUS / "rules.yml"
UNIT_TESTS = sorted((PROMETHEUS / "tests").glob("*_test.yml"))


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=120, check=False)


def test_rules_pass_promtool_check() -> None:
    require_binary("promtool", "promtool (Debian package prometheus)")
    result = run("promtool", "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("test_file", UNIT_TESTS, ids=lambda path: path.name)
def test_rule_unit_tests_pass(test_file: Path) -> None:
    require_binary("promtool", "promtool (Debian package prometheus)")
    result = run("promtool", "test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_group_and_rule_is_unit_tested() -> None:
    groups = load_yaml(RULES)["groups"]
    tested_alerts: set[str] = set()
    tested_exprs: set[str] = set()
    tested_groups: set[str] = set()
    for test_file in UNIT_TESTS:
        spec = load_yaml(test_file)
        assert spec["rule_files"] == ["../rules.yml"], test_file.name
        tested_groups.add(test_file.name.removesuffix("_test.yml"))
        for case in spec["tests"]:
            # an alert counts as tested only where some case expects it to fire
            tested_alerts |= {t["alertname"] for t in case.get("alert_rule_test", []) if t["exp_alerts"]}
            tested_exprs |= {t["expr"] for t in case.get("promql_expr_test", [])}
    assert {g["name"].removeprefix("driftline-") for g in groups} == tested_groups
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["alert"] in tested_alerts, f"{rule['alert']} never fires in a unit test"
            elif not rule["record"].endswith(":rate5m"):  # the rates are checked through the ratios built on them
                assert rule["record"] in tested_exprs, f"{rule['record']} has no promql_expr_test"


def test_rules_read_only_contract_metrics() -> None:
    recorded = {rule["record"] for group in load_yaml(RULES)["groups"] for rule in group["rules"] if "record" in rule}
    for group in load_yaml(RULES)["groups"]:
        for rule in group["rules"]:
            unknown = metric_names(rule["expr"]) - CONTRACT_METRICS - recorded - {"up"}
            assert not unknown, f"{rule.get('alert') or rule.get('record')} reads {sorted(unknown)}"


def test_a_broken_rule_fails_its_unit_test(tmp_path: Path) -> None:
    """The unit tests pin thresholds: loosening one makes promtool fail."""
    require_binary("promtool", "promtool (Debian package prometheus)")
    shutil.copytree(PROMETHEUS, tmp_path / "prometheus")
    rules = tmp_path / "prometheus" / "rules.yml"
    text = rules.read_text()
    assert text.count("ratio_rate5m > 0.05") == 1
    rules.write_text(text.replace("ratio_rate5m > 0.05", "ratio_rate5m > 0.5"))
    assert run("promtool", "check", "rules", rules).returncode == 0  # still valid PromQL
    result = run("promtool", "test", "rules", tmp_path / "prometheus" / "tests" / "ingest_test.yml")
    assert result.returncode != 0
    assert "DriftlineIngestRejections" in result.stdout + result.stderr


def test_a_syntax_error_fails_promtool_check(tmp_path: Path) -> None:
    require_binary("promtool", "promtool (Debian package prometheus)")
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES.read_text().replace("max by (model, version, feature)", "max by (model, version, feature"))
    result = run("promtool", "check", "rules", rules)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_prometheus_config_is_valid() -> None:
    require_binary("promtool", "promtool (Debian package prometheus)")
    result = run("promtool", "check", "config", PROMETHEUS / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_alertmanager_config_is_valid() -> None:
    require_binary("amtool", "amtool (Debian package prometheus-alertmanager)")
    result = run("amtool", "check-config", DEPLOY / "alertmanager" / "alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr
