"""Telemetry samples: numeric series keyed by name and labels, as Prometheus keys them.

Samples are stored through the append-only record interface as kind ``sample`` with the
canonical series key as the stream, e.g. ``http_latency_ms{route="/pay",service="checkout"}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput
from triops.store import records

SAMPLE = "sample"
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:.\-/]{0,199}$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.\-]{0,99}$")


@dataclass(frozen=True)
class MetricSample:
    name: str
    ts_ms: int
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


def series_key(name: str, labels: Mapping[str, str]) -> str:
    """Canonical key: labels sorted, values escaped like Prometheus' text format."""
    if not _NAME.match(name):
        raise InvalidInput(f"series name {name!r} is not valid: letters, digits, '_', ':', '.', '-', '/'")
    if not labels:
        return name
    parts = []
    for key in sorted(labels):
        if not _LABEL.match(key):
            raise InvalidInput(f"label name {key!r} is not valid")
        value = str(labels[key]).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append(f'{key}="{value}"')
    return f"{name}{{{','.join(parts)}}}"


def append_samples(session: Session, project: str, samples: Iterable[MetricSample]) -> int:
    rows = []
    for s in samples:
        if not math.isfinite(s.value):
            raise InvalidInput(f"sample value of {s.name!r} at {s.ts_ms} is not a finite number")
        rows.append(records.RecordRow(series_key(s.name, s.labels), s.ts_ms, {"v": s.value}))
    return records.append(session, project, SAMPLE, rows)


def read_series(
    session: Session, project: str, key: str, start_ms: int | None = None,
    end_ms: int | None = None, limit: int | None = None, newest_first: bool = False,
) -> list[tuple[int, float]]:
    return [
        (r.ts_ms, r.data["v"])
        for r in records.scan(session, project, SAMPLE, streams=[key], start_ms=start_ms,
                              end_ms=end_ms, limit=limit, newest_first=newest_first)
    ]


def list_series(session: Session, project: str, prefix: str | None = None) -> list[str]:
    return records.streams(session, project, SAMPLE, prefix)
