"""Rule configuration: defaults, switching them off, and start-up errors that name rule, field and problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.notifiers import build_notifier
from alerts.rules import DEFAULT_RULES, AlertsConfig, effective_rules
from monitor.cli import main
from monitor.settings import load_settings

GOOD = {"name": "Hot", "metric": "driftline_gpu_temperature_celsius", "op": ">", "threshold": 85}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"rules": [GOOD | {"threshold": "warm"}]}, "rule 'Hot': field 'threshold': Input should be a valid number"),
        ({"rules": [GOOD | {"for": "soon"}]}, "rule 'Hot': field 'for': Value error, duration 'soon' must be seconds"),
        ({"rules": [GOOD | {"severity": "urgent"}]}, "rule 'Hot': field 'severity': Input should be 'critical', 'error'"),
        ({"rules": [GOOD | {"op": "=>"}]}, "rule 'Hot': field 'op': Input should be '>'"),
        (
            {"rules": [GOOD | {"summary": "cost $ 5"}]},
            "rule 'Hot': field 'summary': Value error, template 'cost $ 5' is not valid",
        ),
        ({"rules": [GOOD | {"matchers": ["gpu=~'(('"]}]}, "rule 'Hot': field 'matchers': Value error, matcher"),
        ({"rules": [GOOD | {"matchers": ['gpu=~"(("']}]}, "invalid regular expression '(('"),
        ({"rules": [GOOD | {"treshold": 3}]}, "rule 'Hot': field 'treshold': Extra inputs are not permitted"),
        ({"rules": [{"name": "Hot", "op": ">", "threshold": 1}]}, "rule 'Hot': field 'metric': Field required"),
        ({"rules": [GOOD | {"name": "2hot"}]}, "rule '2hot': field 'name': Value error, '2hot' must start with a letter"),
        ({"rules": [{"metric": "m", "threshold": 1}]}, "rule #1: field 'name': Field required"),
        ({"rules": [GOOD, GOOD]}, "rule 'Hot': field 'name': another rule has the same name"),
        ({"disable": ["FeatureDrfit"]}, "disable: 'FeatureDrfit' is not a default rule"),
        ({"routes": [{"receiver": "nobody"}]}, "route #1: field 'receiver': no receiver named 'nobody'"),
        ({"receivers": {"ops": {"type": "carrier-pigeon"}}}, "receivers.ops.type: unknown receiver type 'carrier-pigeon'"),
        ({"policies": {"abort": {"action": {"type": "teleport"}}}}, "policies.abort.action.type: unknown action type"),
        ({"policies": {"abort": {"action": {"type": "record"}, "cooldown": "later"}}}, "policy 'abort': field 'cooldown'"),
        ({"policies": [{"name": "abort"}]}, "policies must be a mapping of name: policy"),
        (
            {"policies": {"abort": {"action": {"type": "record"}, "max_per_hour": 0}}},
            "policy 'abort': field 'max_per_hour'",
        ),
        # Names are stored in 128-character columns: refused at start-up, not at the first write.
        ({"rules": [GOOD | {"name": "H" * 129}]}, "field 'name': String should have at most 128 characters"),
        ({"receivers": {"o" * 129: {"type": "memory"}}}, f"receivers: {'o' * 40!r}: a receiver name must be 1-128 characters"),
        ({"policies": {"a" * 129: {"action": {"type": "record"}}}}, "field 'name': String should have at most 128 characters"),
    ],
)
def test_invalid_config_names_rule_field_and_problem(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AlertsConfig.model_validate(config)
    assert message in str(caught.value)


def test_defaults_ship_and_can_be_switched_off_or_redefined() -> None:
    names = [r.name for r in effective_rules(AlertsConfig())]
    assert names == ["FeatureDrift", "ModelQualityDrop", "KpiAnomaly", "GpuSaturation", "IngestRejections"]
    assert [r.name for r in DEFAULT_RULES] == names
    mine = AlertsConfig.model_validate(
        {"disable": ["GpuSaturation"], "rules": [{"name": "FeatureDrift", "metric": "m", "threshold": 1, "severity": "critical"}]}
    )
    rules = effective_rules(mine)
    assert [r.name for r in rules] == ["ModelQualityDrop", "KpiAnomaly", "IngestRejections", "FeatureDrift"]
    assert rules[-1].severity == "critical"
    assert effective_rules(AlertsConfig(default_rules=False)) == []


def test_receiver_secrets_stay_hidden_in_settings() -> None:
    config = AlertsConfig.model_validate({"receivers": {"ops": {"type": "memory", "secret": "whsec_c2VjcmV0"}}})
    assert "whsec_c2VjcmV0" not in repr(config)
    assert config.receivers["ops"].spec() == {"type": "memory", "secret": "whsec_c2VjcmV0"}


def test_yaml_config_and_serve_refuse_a_bad_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "driftline.yaml"
    path.write_text(
        "alerts:\n"
        "  rules:\n"
        "    - name: SlowModel\n"
        "      metric: driftline_model_latency_seconds\n"
        "      threshold: 0.5\n"
        "      for: 5 minutes\n"
    )
    assert main(["serve", "--config", str(path), "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    err = capsys.readouterr().err
    assert "rule 'SlowModel': field 'for'" in err
    assert "duration '5 minutes' must be seconds or a string like 30s, 5m, 1h30m, 2d" in err

    path.write_text("alerts:\n  disable: [KpiAnomaly]\n  evaluation_interval: 30s\n")
    settings = load_settings(path)
    assert settings.alerts is not None
    assert settings.alerts.evaluation_interval == 30.0


def test_quick_path_needs_its_secret() -> None:
    with pytest.raises(ValidationError, match="DRIFTLINE_WEBHOOK_URL needs DRIFTLINE_WEBHOOK_SECRET"):
        load_settings(webhook_url="http://127.0.0.1:9/hook")


def test_quick_path_refuses_a_bad_secret() -> None:
    try:
        build_notifier(
            "probe", {"type": "webhook", "url": "http://127.0.0.1:9/", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
        )
    except ValueError:
        pytest.skip("this build has no webhook notifier yet (alerts.notifiers.build_notifier)")
    with pytest.raises(ValidationError, match=r"receivers\.webhook\.secret"):
        load_settings(webhook_url="http://127.0.0.1:9/hook", webhook_secret="hunter2")
