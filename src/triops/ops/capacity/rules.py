"""Capacity rules: which series to project, the threshold, the horizon.

A rule matches series by metric name and exact label values. Its threshold is an
absolute value, or a percent of a limit: the newest value of a limit series whose
labels the matched series shares (``system.filesystem.limit{mountpoint="/var"}`` for
``system.filesystem.usage{mountpoint="/var",state="used"}``), or a label of the series
itself that holds the limit. Names are stored as OTLP intake stores them (``.`` → ``_``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from triops.core.errors import InvalidInput
from triops.ops.otlp_metrics import label_name, metric_name

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_KEY = re.compile(r'([a-zA-Z_][a-zA-Z0-9_.\-]*)="((?:[^"\\]|\\.)*)"')
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def parse_duration(value: Any) -> int:
    """``3600``, ``"90m"``, ``"36h"``, ``"7d"`` or ``"2w"`` → seconds.

    >>> parse_duration("7d"), parse_duration("90m"), parse_duration(60)
    (604800, 5400, 60)
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value)
    match = _DURATION.match(str(value))
    if match is None or float(match.group(1)) <= 0:
        raise InvalidInput(f"duration {value!r} must be positive, like 90m, 36h, 7d or 2w")
    return int(float(match.group(1)) * _UNIT_S[match.group(2) or "s"])


def parse_key(key: str) -> tuple[str, dict[str, str]]:
    """The metric name and labels of a canonical series key.

    >>> parse_key('disk_used{host="h3",mount="/var"}')
    ('disk_used', {'host': 'h3', 'mount': '/var'})
    """
    name, brace, rest = key.partition("{")
    if not brace:
        return key, {}
    unescape = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
    labels = {k: re.sub(r'\\[\\"n]', lambda m: unescape[m.group(0)], v)
              for k, v in _KEY.findall(rest.rstrip("}"))}
    return name, labels


@dataclass(frozen=True)
class CapacityRule:
    name: str
    metric: str
    labels: dict[str, str] = field(default_factory=dict)
    #: Absolute threshold; or ``percent`` of the limit series / label below.
    value: float | None = None
    percent: float | None = None
    limit_series: str | None = None
    limit_label: str | None = None
    #: "above": the series rises to the threshold; "below": it falls to it.
    direction: str = "above"
    horizon_s: int = 7 * 86400
    #: No verdict before the series spans this long.
    min_history_s: int = 3600
    #: The trend is the recent one: the slope over this window (two cycles if seasonal).
    trend_window_s: int = 86400
    #: History read for each projection.
    lookback_s: int = 3 * 86400
    #: Also raise when the interval's far edge crosses, though the forecast does not.
    use_interval: bool = False
    #: Words for the title, with ``{label}`` placeholders: "disk {mountpoint} on {host_name}".
    subject: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidInput(f"capacity rule name {self.name!r} is not valid: use 1-128 "
                               "letters, digits, '.', '_' or '-'")
        if (self.value is None) == (self.percent is None):
            raise InvalidInput("a capacity rule needs exactly one of 'value' or 'percent'")
        if self.percent is not None and (self.limit_series is None) == (self.limit_label is None):
            raise InvalidInput("a 'percent' threshold needs exactly one of 'limit_series' or "
                               "'limit_label'")
        if self.direction not in ("above", "below"):
            raise InvalidInput(f"direction must be 'above' or 'below', not {self.direction!r}")

    @classmethod
    def of(cls, name: str, spec: Mapping[str, Any]) -> CapacityRule:
        """A rule from its stored or posted form (durations as ``"7d"`` or seconds)."""
        data = dict(spec)
        durations = {k: parse_duration(data.pop(k)) for k in
                     ("horizon", "min_history", "trend_window", "lookback") if k in data}
        limit = data.pop("limit_series", None)
        return cls(
            name=name, metric=metric_name(str(data.pop("metric"))),
            labels={label_name(k): str(v) for k, v in dict(data.pop("labels", {})).items()},
            limit_series=metric_name(limit) if limit else None,
            limit_label=label_name(data.pop("limit_label")) if data.get("limit_label") else None,
            **{f"{k}_s": v for k, v in durations.items()},
            **{k: v for k, v in data.items() if k != "limit_label"})

    def spec(self) -> dict[str, Any]:
        """The stored form (durations in seconds)."""
        out = asdict(self)
        out.pop("name")
        for k in ("horizon", "min_history", "trend_window", "lookback"):
            out[k] = out.pop(f"{k}_s")
        return out

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        return name == self.metric and all(labels.get(k) == v for k, v in self.labels.items())

    def what(self, key: str, labels: Mapping[str, str]) -> str:
        """The title's subject: the ``subject`` template filled from the labels."""
        if not self.subject:
            return key
        return re.sub(r"\{([^{}]+)\}", lambda m: labels.get(m.group(1), m.group(0)), self.subject)

    def goal(self) -> str:
        """What crossing means in words: "full", "exceeds 90 %", "falls to 5"."""
        if self.percent is not None:
            if self.percent == 100 and self.direction == "above":
                return "full"
            amount = f"{self.percent:g} %"
        else:
            amount = f"{self.value:g}"
        return f"exceeds {amount}" if self.direction == "above" else f"falls to {amount}"
