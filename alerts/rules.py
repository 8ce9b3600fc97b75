"""Alert configuration: rules, receivers, routes and rollback policies (the ``alerts:`` section).

A **rule** selects samples by their ``/metrics`` name and label matchers, compares
each one's value (or, with ``increase_over``, a counter's increase over that window)
with a threshold, and fires once the comparison has held for ``for``. Every sample
that ``/metrics`` exposes is selectable by name, including families that other
parts of Driftline add later.

Invalid configuration fails start-up with a message naming the rule, the field
and the problem:

>>> from pydantic import ValidationError
>>> try:
...     AlertsConfig.model_validate({"rules": [{"name": "Hot", "metric": "x", "threshold": "warm"}]})
... except ValidationError as exc:
...     print(exc.errors()[0]["msg"])
Value error, rule 'Hot': field 'threshold': Input should be a valid number, unable to parse string as a number
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from alerts.actions import build_action
from alerts.matchers import Matcher, matches_all, parse_duration, parse_matchers
from alerts.model import Severity
from alerts.notifiers import build_notifier

__all__ = [
    "DEFAULT_RULES",
    "AlertsConfig",
    "Policy",
    "ReceiverSpec",
    "Route",
    "Rule",
    "effective_rules",
    "render",
]

Comparator = Literal[">", ">=", "<", "<=", "==", "!="]
Seconds = Annotated[float, BeforeValidator(parse_duration)]
Matchers = Annotated[tuple[Matcher, ...], BeforeValidator(lambda v: parse_matchers(v) if v is not None else ())]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
NAME_LIMIT = 128  # rule, receiver and policy names are stored in columns of this width
_SECRET_KEYS = frozenset({"url", "secret", "secrets", "token", "bearer_token", "routing_key", "password"})


def _template(text: str) -> str:
    if not string.Template(text).is_valid():
        raise ValueError(f"template {text!r} is not valid: write $label or ${{label}}, and $$ for a dollar sign")
    return text


Template = Annotated[str, BeforeValidator(_template)]


class Rule(BaseModel):
    """One alert rule."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1, max_length=NAME_LIMIT, description="Alert name (the alertname label).")
    metric: str = Field(min_length=1, description="Sample name as /metrics shows it, e.g. driftline_feature_drift_detected.")
    matchers: Matchers = Field((), description="Label matchers, e.g. ['model=\"fraud\"', 'feature=~\"inc.*\"'].")
    op: Comparator = Field(">", description="Comparator: value OP threshold fires.")
    threshold: float
    increase_over: Seconds | None = Field(None, gt=0, description="Compare a counter's increase over this window.")
    for_: Seconds = Field(0.0, alias="for", description="How long the comparison must hold before the alert fires.")
    severity: Severity = "warning"
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels on the alert.")
    summary: Template = Field("", description="Summary template: $label, $value, $threshold, $alertname.")
    description: Template = ""
    group_by: tuple[str, ...] = Field(("alertname",), description="Labels whose values form a notification group.")
    repeat_interval: Seconds = Field(4 * 3600.0, gt=0, description="Re-send a still-firing group after this long.")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} must start with a letter or _ and hold only letters, digits, _ and -")
        return value

    def holds(self, value: float) -> bool:
        """Whether ``value OP threshold`` is true.

        >>> Rule(name="R", metric="m", op="<", threshold=0.8).holds(0.75)
        True
        """
        t = self.threshold
        return {
            ">": value > t,
            ">=": value >= t,
            "<": value < t,
            "<=": value <= t,
            "==": value == t,
            "!=": value != t,
        }[self.op]


class ReceiverSpec(BaseModel):
    """A receiver's config; ``type`` selects the notifier, the other keys are its own.

    Values under secret-looking keys are kept as :class:`~pydantic.SecretStr`, so
    they never appear in logs, reprs or API answers.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str

    @model_validator(mode="before")
    @classmethod
    def _hide_secrets(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        hidden = dict(data)
        for key in _SECRET_KEYS & hidden.keys():
            value = hidden[key]
            hidden[key] = [SecretStr(str(v)) for v in value] if isinstance(value, list) else SecretStr(str(value))
        return hidden

    def spec(self) -> dict[str, Any]:
        """The plain mapping handed to :func:`alerts.notifiers.build_notifier`."""

        def reveal(value: Any) -> Any:
            if isinstance(value, SecretStr):
                return value.get_secret_value()
            if isinstance(value, list):
                return [reveal(v) for v in value]
            return value

        return {"type": self.type, **{key: reveal(value) for key, value in (self.model_extra or {}).items()}}


class Route(BaseModel):
    """Alerts matching every matcher go to ``receiver`` (every matching route applies)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    receiver: str
    matchers: Matchers = ()


class Policy(BaseModel):
    """A rollback policy: alerts that match run ``action``, at most once per cooldown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=NAME_LIMIT)
    matchers: Matchers = Field((), description="Alert label matchers (alertname, severity and any label).")
    action: dict[str, Any] = Field(description="Action config; `type` selects the kind (http, argo-rollouts, command).")
    cooldown: Seconds = Field(1800.0, ge=0, description="After an action, matching alerts in the same scope do nothing.")
    max_per_hour: int = Field(6, ge=1, description="Actions this policy may start in any hour.")
    dry_run: bool = Field(False, description="Record what would run without running it.")
    scope: tuple[str, ...] = Field(
        (), description="Labels whose values separate cooldowns (e.g. [model, version]); empty: one cooldown per policy."
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} must start with a letter or _ and hold only letters, digits, _ and -")
        return value

    def applies_to(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule.model_validate(
        {
            "name": "FeatureDrift",
            "metric": "driftline_feature_drift_detected",
            "op": "==",
            "threshold": 1,
            "severity": "warning",
            "group_by": ["alertname", "model", "version"],
            "summary": "Drift on feature $feature of $model $version",
            "description": "The latest closed window of $model $version drifted from its reference on $feature.",
        }
    ),
    Rule.model_validate(
        {
            "name": "ModelQualityDrop",
            "metric": "driftline_model_quality",
            "matchers": ['metric=~"accuracy|f1|precision|recall|roc_auc"'],
            "op": "<",
            "threshold": 0.8,
            "for": "10m",
            "severity": "error",
            "group_by": ["alertname", "model", "version"],
            "summary": "$metric of $model $version is $value",
            "description": "$metric on joined labels fell below $threshold for 10 minutes.",
        }
    ),
    Rule.model_validate(
        {
            "name": "KpiAnomaly",
            "metric": "driftline_anomaly_score",
            "op": ">=",
            "threshold": 0.8,
            "for": "5m",
            "severity": "warning",
            "summary": "Anomalous $kpi (score $value)",
            "description": "The anomaly score of $kpi stayed at or above $threshold for 5 minutes.",
        }
    ),
    Rule.model_validate(
        {
            "name": "GpuSaturation",
            "metric": "driftline_gpu_utilization_ratio",
            "op": ">=",
            "threshold": 0.95,
            "for": "15m",
            "severity": "warning",
            "group_by": ["alertname", "host"],
            "summary": "GPU $gpu on $host is saturated ($value)",
            "description": "Utilisation of GPU $gpu ($model_name) on $host stayed at or above $threshold for 15 minutes.",
        }
    ),
    Rule.model_validate(
        {
            "name": "IngestRejections",
            "metric": "driftline_ingest_rejected_total",
            "op": ">",
            "threshold": 0,
            "increase_over": "5m",
            "severity": "warning",
            "summary": "$signal records rejected: $reason",
            "description": "$value $signal records were rejected in the last 5 minutes (reason: $reason).",
        }
    ),
)


def _validated(kind: str, model: type[BaseModel], item: Any, index: int) -> Any:
    """Validate one config entry; errors name the entry, the field and the problem."""
    name = item.get("name") if isinstance(item, Mapping) else None
    label = f"{kind} {name!r}" if name else f"{kind} #{index + 1}"
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        problems = "; ".join(
            f"field {'.'.join(str(p) for p in error['loc']) or '(entry)'!r}: {error['msg']}" for error in exc.errors()
        )
        raise ValueError(f"{label}: {problems}") from None


class AlertsConfig(BaseModel):
    """The ``alerts:`` section of the config file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Evaluate rules and deliver in this process (one replica per database).")
    default_rules: bool = Field(True, description="Evaluate the shipped default rules.")
    disable: tuple[str, ...] = Field((), description="Names of default rules to switch off.")
    evaluation_interval: Seconds = Field(15.0, gt=0, description="How often rules are evaluated.")
    rules: tuple[Rule, ...] = ()
    receivers: dict[str, ReceiverSpec] = Field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    policies: dict[str, Policy] = Field(default_factory=dict, description="Rollback policies by name.")
    delivery_deadline: Seconds = Field(3600.0, gt=0, description="Give up on (dead-letter) a delivery after this long.")
    backoff_initial: Seconds = Field(1.0, gt=0, description="First retry delay; doubles on each retry.")
    backoff_max: Seconds = Field(300.0, gt=0, description="Longest retry delay.")

    @field_validator("rules", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> Any:
        return [_validated("rule", Rule, item, i) for i, item in enumerate(value)] if isinstance(value, list) else value

    @field_validator("policies", mode="before")
    @classmethod
    def _policies(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError("policies must be a mapping of name: policy")
        return {
            name: _validated("policy", Policy, {**spec, "name": name} if isinstance(spec, Mapping) else spec, i)
            for i, (name, spec) in enumerate(value.items())
        }

    @field_validator("routes", mode="before")
    @classmethod
    def _routes(cls, value: Any) -> Any:
        return [_validated("route", Route, item, i) for i, item in enumerate(value)] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _consistent(self) -> AlertsConfig:
        defaults = {rule.name for rule in DEFAULT_RULES}
        for name in self.disable:
            if name not in defaults:
                raise ValueError(f"disable: {name!r} is not a default rule (default rules: {', '.join(sorted(defaults))})")
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"rule {rule.name!r}: field 'name': another rule has the same name")
            seen.add(rule.name)
        for index, route in enumerate(self.routes):
            if route.receiver not in self.receivers:
                raise ValueError(f"route #{index + 1}: field 'receiver': no receiver named {route.receiver!r}")
        for name, receiver in self.receivers.items():
            if not 1 <= len(name) <= NAME_LIMIT:
                raise ValueError(f"receivers: {name[:40]!r}: a receiver name must be 1-{NAME_LIMIT} characters")
            build_notifier(name, receiver.spec()).shutdown()  # raises ValueError naming the receiver and field
        for policy in self.policies.values():
            build_action(policy.name, policy.action)
        return self


def effective_rules(config: AlertsConfig) -> list[Rule]:
    """The rules to evaluate: default rules (minus those disabled or redefined), then the user's.

    >>> [r.name for r in effective_rules(AlertsConfig(disable=("KpiAnomaly", "GpuSaturation")))]
    ['FeatureDrift', 'ModelQualityDrop', 'IngestRejections']
    """
    own = {rule.name for rule in config.rules}
    defaults = [r for r in DEFAULT_RULES if r.name not in own and r.name not in config.disable] if config.default_rules else []
    return [*defaults, *config.rules]


def render(template: str, labels: Mapping[str, str], **values: object) -> str:
    """Fill ``$label`` and ``$value``-style placeholders; unknown ones stay as written (no code runs).

    A label wins over a built-in value of the same name (a quality alert's ``$metric`` is its
    ``metric`` label, e.g. accuracy, not the sample name).

    >>> render("Drift on $feature: ${value}", {"feature": "income"}, value=0.31)
    'Drift on income: 0.31'
    >>> render("$metric is $value", {"metric": "accuracy"}, value=0.71, metric="driftline_model_quality")
    'accuracy is 0.71'
    """
    builtins = {key: f"{value:.4g}" if isinstance(value, float) else str(value) for key, value in values.items()}
    mapping = {**builtins, **labels}
    return string.Template(template).safe_substitute(mapping)
