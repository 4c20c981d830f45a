"""What a runbook says, as YAML: when it triggers, what it checks, which steps it takes,
who must approve, how often it may act and how its effect is verified.

>>> spec = parse_runbook('''
... trigger: {kind: drift, entity_prefix: "model:"}
... steps:
...   - action: model.rollback_alias
...     params: {model: churn, alias: champion}
... verification: {clear_within: 10m, on_fail: undo}
... ''')
>>> spec.verification.clear_within_s, spec.approval_required()
(600, True)
"""

from __future__ import annotations

import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from triops.core.errors import InvalidInput
from triops.core.signals import Severity
from triops.ops.runbooks import actions

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> int:
    """``90``, ``"90s"``, ``"10m"``, ``"2h"`` or ``"1d"`` → seconds."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"duration {value!r} must look like 30s, 10m, 2h or 1d")
    return int(match.group(1)) * _UNIT_S[match.group(2) or "s"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CauseMatch(_Strict):
    """Matches when one of the incident's ``within_top`` best-ranked causes fits."""

    kind: str | None = None
    entity: str | None = None
    entity_prefix: str | None = None
    min_score: float = 0.0
    within_top: int = Field(1, ge=1, le=20)


class Trigger(_Strict):
    kind: list[str] = Field(default_factory=list, description="incident kinds; any matches")
    source: Literal["ml", "llm", "ops"] | None = None
    entity: str | None = Field(None, description="the incident's subject, exactly")
    entity_prefix: str | None = Field(None, description="e.g. 'model:' or 'route:chat'")
    min_severity: Literal["info", "warning", "error", "critical"] = "info"
    labels: dict[str, str | list[str]] = Field(
        default_factory=dict, description="label → value (or any of several values)")
    cause: CauseMatch | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def severity(self) -> Severity:
        return Severity[self.min_severity]


class Step(_Strict):
    action: str
    name: str = ""
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("action")
    @classmethod
    def _known(cls, value: str) -> str:
        try:
            actions.get(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        return value


class Limits(_Strict):
    max_runs_per_hour: int = Field(3, ge=1)
    max_concurrent: int = Field(1, ge=1)


class Verification(_Strict):
    clear_within_s: int = Field(..., alias="clear_within", ge=1)
    on_fail: Literal["escalate", "undo"] = "escalate"
    #: Signals stamped within this long after the run acted do not count against it: a
    #: change takes a moment to reach what it changed (a gateway re-reads its routes every
    #: ``refresh_s``) and a windowed signal is stamped at its window's end.
    settle_s: int = Field(0, alias="settle", ge=0)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("clear_within_s", "settle_s", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> int:
        return parse_duration(value)


class RunbookSpec(_Strict):
    description: str = ""
    trigger: Trigger
    conditions: list[str] = Field(
        default_factory=list, description="templates that must all render truthy")
    steps: list[Step] = Field(..., min_length=1)
    approval: Literal["required", "auto"] | None = Field(
        None, description="default: required when a step changes production")
    limits: Limits = Field(default_factory=Limits)
    cooldown_s: int = Field(0, alias="cooldown", ge=0)
    verification: Verification | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("cooldown_s", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> int:
        return parse_duration(value)

    def approval_required(self) -> bool:
        if self.approval is not None:
            return self.approval == "required"
        return any(actions.get(s.action).changes_production for s in self.steps)

    def check_params(self) -> None:
        """Every step names only parameters its action knows, and all it needs."""
        for index, step in enumerate(self.steps):
            actions.get(step.action).check_names(step.params, where=f"steps[{index}].params")


def _where(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "runbook"


def parse_runbook(source: str) -> RunbookSpec:
    """Parse and check runbook YAML; every mistake is one precise ``InvalidInput``."""
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"runbook is not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise InvalidInput("runbook must be a YAML mapping with trigger and steps")
    data.pop("name", None)  # the name comes from the URL or the CLI
    try:
        spec = RunbookSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        raise InvalidInput(f"runbook {_where(first['loc'])}: {message}") from None
    spec.check_params()
    return spec
