"""Validation of receiver and action specs: pydantic models whose errors name the config path.

A spec is the mapping under ``receivers.<name>`` or ``policies.<name>.action`` in
the configuration. Each notifier and action declares its fields as a pydantic
model (extra keys forbidden, secrets as :class:`~pydantic.SecretStr`);
:func:`parse_spec` turns a validation error into one :class:`ValueError` whose
lines start with the full config path of the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["Spec", "parse_spec"]

SpecT = TypeVar("SpecT", bound="Spec")


class Spec(BaseModel):
    """Base of every receiver/action spec: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_spec(model: type[SpecT], spec: Mapping[str, Any], where: str) -> SpecT:
    """Validate ``spec`` (without its ``type`` key) against ``model``.

    ``where`` is the config path of the spec, e.g. ``receivers.ops``.

    >>> class Hook(Spec):
    ...     timeout_seconds: float = 5.0
    >>> parse_spec(Hook, {"type": "x", "timeout_seconds": 2}, "receivers.ops").timeout_seconds
    2.0
    >>> parse_spec(Hook, {"type": "x", "timeout_seconds": "soon", "colour": 1}, "receivers.ops")
    Traceback (most recent call last):
    ...
    ValueError: receivers.ops.timeout_seconds: Input should be a valid number, unable to parse string as a number
    receivers.ops.colour: Extra inputs are not permitted
    """
    values = {key: value for key, value in spec.items() if key != "type"}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False, include_input=False):
            path = ".".join(str(part) for part in error["loc"])
            lines.append(f"{where}.{path}: {error['msg']}" if path else f"{where}: {error['msg']}")
        raise ValueError("\n".join(lines)) from None
