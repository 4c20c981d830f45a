"""Score configs and typed scores.

A score is numeric (any finite number, or within a config's range), boolean (``true`` /
``false``, averaged as 1 / 0) or categorical (one of a config's labels; its value is the
label's position, so categories can be ordered from worst to best). A score whose name
has a config must fit it; one without takes its type from its value, and a label needs a
config to say which labels exist.

>>> parse_condition("helpfulness<0.5")
ScoreCondition(name='helpfulness', op='<', number=0.5, label=None)
>>> parse_condition("verdict = wrong")
ScoreCondition(name='verdict', op='=', number=None, label='wrong')
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput, NotFound
from triops.core.ids import now_ms
from triops.store.repos import llm_traces as repo
from triops.store.repos.llm_traces import ScoreCondition
from triops.store.schema_llm_traces import ScoreConfig

DATA_TYPES = ("numeric", "boolean", "categorical")
MAX_CATEGORIES = 100
_CONDITION = re.compile(r"^\s*([^<>=!]+?)\s*(<=|>=|!=|=|<|>)\s*(.+?)\s*$")


@dataclass(frozen=True)
class ConfigSpec:
    name: str
    data_type: str
    min_value: float | None = None
    max_value: float | None = None
    categories: list[str] = field(default_factory=list)
    description: str = ""


@dataclass(frozen=True)
class TypedValue:
    data_type: str
    value: float
    label: str | None


def config_dict(row: ScoreConfig) -> dict[str, Any]:
    return {"name": row.name, "data_type": row.data_type, "min_value": row.min_value,
            "max_value": row.max_value, "categories": list(row.categories),
            "description": row.description, "created_by": row.created_by,
            "created_ms": row.created_ms}


def _check(spec: ConfigSpec) -> None:
    if not spec.name.strip() or len(spec.name) > 256 or spec.name != spec.name.strip():
        raise InvalidInput("a score config's name is 1 to 256 characters, no surrounding "
                           "spaces")
    if spec.data_type not in DATA_TYPES:
        raise InvalidInput(f"data_type must be one of {', '.join(DATA_TYPES)}")
    if spec.data_type == "categorical":
        labels = [c.strip() for c in spec.categories]
        if not labels or any(not c for c in labels) or len(set(labels)) != len(labels):
            raise InvalidInput("a categorical score config needs distinct, non-empty "
                               "categories")
        if len(labels) > MAX_CATEGORIES or any(len(c) > 256 for c in labels):
            raise InvalidInput(f"at most {MAX_CATEGORIES} categories of 256 characters")
    elif spec.categories:
        raise InvalidInput("only a categorical score config has categories")
    if spec.data_type != "numeric" and (spec.min_value is not None
                                        or spec.max_value is not None):
        raise InvalidInput("only a numeric score config has a range")
    low, high = spec.min_value, spec.max_value
    if low is not None and high is not None and low > high:
        raise InvalidInput("min_value must not be above max_value")


def put_config(session: Session, project: str, spec: ConfigSpec, actor: str) -> ScoreConfig:
    """Declare (or redeclare) what scores named ``spec.name`` hold; scores given
    earlier are kept as they are."""
    _check(spec)
    return repo.put_config(session, ScoreConfig(
        project=project, name=spec.name, data_type=spec.data_type, min_value=spec.min_value,
        max_value=spec.max_value, categories=[c.strip() for c in spec.categories],
        description=spec.description, created_by=actor, created_ms=now_ms()))


def get_config(session: Session, project: str, name: str) -> ScoreConfig:
    row = repo.get_config(session, project, name)
    if row is None:
        raise NotFound(f"no score config named {name!r}")
    return row


def list_configs(session: Session, project: str) -> list[ScoreConfig]:
    return repo.list_configs(session, project)


def delete_config(session: Session, project: str, name: str) -> None:
    if not repo.delete_config(session, project, name):
        raise NotFound(f"no score config named {name!r}")


def _as_bool(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw)
    return None


def _as_number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        number = float(raw)
    elif isinstance(raw, str):
        try:
            number = float(raw)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _fit(config: ScoreConfig, raw: Any) -> TypedValue:
    name = config.name
    if config.data_type == "boolean":
        flag = _as_bool(raw)
        if flag is None:
            raise InvalidInput(f"score {name!r} is boolean: send true or false")
        return TypedValue("boolean", 1.0 if flag else 0.0, "true" if flag else "false")
    if config.data_type == "categorical":
        labels = list(config.categories)
        if raw not in labels:
            raise InvalidInput(f"score {name!r} is one of: {', '.join(labels)}")
        return TypedValue("categorical", float(labels.index(raw)), raw)
    number = _as_number(raw)
    if number is None:
        raise InvalidInput(f"score {name!r} is numeric: send a finite number")
    if (config.min_value is not None and number < config.min_value) or (
            config.max_value is not None and number > config.max_value):
        raise InvalidInput(f"score {name!r} must lie in [{config.min_value}, "
                           f"{config.max_value}], got {number}")
    return TypedValue("numeric", number, None)


def typed(session: Session, project: str, name: str, raw: Any) -> TypedValue:
    """``raw`` (a number, a boolean or a label) as the score ``name`` stores it."""
    config = repo.get_config(session, project, name)
    if config is not None:
        return _fit(config, raw)
    if isinstance(raw, bool):
        return TypedValue("boolean", 1.0 if raw else 0.0, "true" if raw else "false")
    number = _as_number(raw) if not isinstance(raw, str) else None
    if number is not None:
        return TypedValue("numeric", number, None)
    raise InvalidInput(f"score {name!r} has no config, so its value must be a number or a "
                       "boolean; declare a categorical score config to send labels")


def parse_condition(text: str) -> ScoreCondition:
    """``NAME OP VALUE`` (``helpfulness<0.5``, ``thumbs=false``, ``verdict!=ok``) or a
    bare ``NAME`` (traces with any score of that name)."""
    text = text.strip()
    match = _CONDITION.match(text)
    if match is None:
        if not text or any(ch in text for ch in "<>=!"):
            raise InvalidInput(f"score filter {text!r} must be NAME, or NAME OP VALUE with "
                               "OP one of = != < <= > >=")
        return ScoreCondition(name=text)
    name, op, value = match.groups()
    number = _as_number(value)
    if number is not None:
        return ScoreCondition(name=name, op=op, number=number)
    if op not in ("=", "!="):
        raise InvalidInput(f"score filter {text!r}: a label compares with = or != only")
    return ScoreCondition(name=name, op=op, label=value)
