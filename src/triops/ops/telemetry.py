"""Telemetry samples: numeric series keyed by name and labels, as Prometheus keys them.

Samples are stored through the append-only record interface as kind ``sample`` with the
canonical series key as the stream, e.g. ``http_latency_ms{route="/pay",service="checkout"}``.
Samples older than a project's retention keeps raw are folded into 5-minute rollups
(kind ``sample_5m``: min, max, sum and count per bucket); reads over such ranges return
each bucket's mean at the bucket's start.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput
from triops.store import records

SAMPLE = "sample"
#: Record kind of the 5-minute rollups; stream = series key, ts_ms = bucket start.
ROLLUP = "sample_5m"
ROLLUP_MS = 5 * 60 * 1000
#: Raw samples are folded a day at a time, so memory stays bounded on a long backlog.
_FOLD_CHUNK_MS = 24 * 3600 * 1000
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:.\-/]{0,199}$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.\-]{0,99}$")
_NO_LABELS: Mapping[str, str] = MappingProxyType({})


class MetricSample(NamedTuple):
    """One point of a series. A named tuple, not a frozen dataclass: the intakes build
    one a point, and a frozen dataclass' ``__init__`` took twice a tuple's time."""

    name: str
    ts_ms: int
    value: float
    #: Never changed once given (the OTLP intake shares one dict among a series' points).
    labels: Mapping[str, str] = _NO_LABELS


def series_key(name: str, labels: Mapping[str, str]) -> str:
    """Canonical key: labels sorted, values escaped like Prometheus' text format."""
    items = tuple(labels.items()) if labels else ()
    try:
        return _canonical_key(name, items)
    except TypeError:  # an unhashable label value: computed without the memo
        return _canonical_key.__wrapped__(name, items)


# Every intake asks for the key of each sample several times (storing, scoring,
# topology, capacity), and a collector sends the same series again and again.
@functools.lru_cache(maxsize=16_384)
def _canonical_key(name: str, items: tuple[tuple[str, str], ...]) -> str:
    if not _NAME.match(name):
        raise InvalidInput(f"series name {name!r} is not valid: letters, digits, '_', ':', '.', '-', '/'")
    if not items:
        return name
    parts = []
    for key, value in sorted(items, key=lambda kv: kv[0]):
        if not _LABEL.match(key):
            raise InvalidInput(f"label name {key!r} is not valid")
        value = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append(f'{key}="{value}"')
    return f"{name}{{{','.join(parts)}}}"


def sample_keys(samples: Iterable[MetricSample]) -> list[str]:
    """Each sample's series key. A batch's points of one series share their labels
    object (the OTLP intake builds one per attribute list), so the key is worked out
    once per name and labels object, not once a point."""
    known: dict[tuple[str, int], str] = {}
    keys = []
    for s in samples:
        # The samples hold their labels alive, so an id stays theirs throughout.
        ident = (s.name, id(s.labels))
        key = known.get(ident)
        if key is None:
            key = known[ident] = series_key(s.name, s.labels)
        keys.append(key)
    return keys


def append_samples(session: Session, project: str, samples: Sequence[MetricSample],
                   keys: Sequence[str] | None = None) -> int:
    """Store samples as records ``{"v": value}``, serialised here and handed to
    ``records.append_json`` (no ``RecordRow`` a sample); raises :class:`InvalidInput`
    (nothing written) for a value that is not finite. ``keys``: the samples' series
    keys, when the caller has them (``sample_keys``)."""
    rows = []
    dumps = records.dumps
    for s, key in zip(samples, sample_keys(samples) if keys is None else keys, strict=True):
        value = s.value
        if not math.isfinite(value):
            raise InvalidInput(f"sample value of {s.name!r} at {s.ts_ms} is not a finite number")
        # A finite float's repr is its JSON, as json.dumps writes it; other numbers
        # (ints, numpy's) go through ``dumps``.
        rows.append((key, s.ts_ms, f'{{"v":{value!r}}}' if type(value) is float
                     else dumps({"v": value})))
    return records.append_json(session, project, SAMPLE, rows)


@dataclass
class Bucket:
    """One 5-minute rollup of a series."""

    ts_ms: int
    min: float
    max: float
    sum: float
    count: int

    @property
    def mean(self) -> float:
        return self.sum / self.count

    def add(self, value: float) -> None:
        self.min, self.max = min(self.min, value), max(self.max, value)
        self.sum += value
        self.count += 1

    def merge(self, other: Bucket) -> None:
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        self.sum += other.sum
        self.count += other.count


def read_series(
    session: Session, project: str, key: str, start_ms: int | None = None,
    end_ms: int | None = None, limit: int | None = None, newest_first: bool = False,
) -> list[tuple[int, float]]:
    """Points in ``[start_ms, end_ms)``: raw samples, and each rollup bucket's mean where
    retention has folded the raw ones away."""
    raw = [
        (r.ts_ms, r.data["v"])
        for r in records.scan(session, project, SAMPLE, streams=[key], start_ms=start_ms,
                              end_ms=end_ms, limit=limit, newest_first=newest_first)
    ]
    rolled = [(b.ts_ms, b.mean) for b in read_rollups(
        session, project, key, start_ms, end_ms, limit=limit, newest_first=newest_first)]
    if not rolled:
        return raw
    merged = sorted(raw + rolled, key=lambda p: p[0], reverse=newest_first)
    return merged if limit is None else merged[:limit]


def read_rollups(
    session: Session, project: str, key: str, start_ms: int | None = None,
    end_ms: int | None = None, limit: int | None = None, newest_first: bool = False,
) -> list[Bucket]:
    """The series' 5-minute rollups in ``[start_ms, end_ms)``; a bucket written twice (raw
    samples that arrived after their bucket was folded) is read as one."""
    buckets: dict[int, Bucket] = {}
    for r in records.scan(session, project, ROLLUP, streams=[key], start_ms=start_ms,
                          end_ms=end_ms, limit=limit, newest_first=newest_first):
        bucket = Bucket(r.ts_ms, r.data["min"], r.data["max"], r.data["sum"], r.data["n"])
        if r.ts_ms in buckets:
            buckets[r.ts_ms].merge(bucket)
        else:
            buckets[r.ts_ms] = bucket
    return list(buckets.values())


def list_series(session: Session, project: str, prefix: str | None = None) -> list[str]:
    return sorted(set(records.streams(session, project, SAMPLE, prefix))
                  | set(records.streams(session, project, ROLLUP, prefix)))


def fold_series(session: Session, project: str, key: str, before_ms: int) -> tuple[int, int]:
    """Fold the series' raw samples older than ``before_ms`` (a bucket boundary) into
    5-minute rollups, deleting them, in the caller's transaction; returns (samples
    folded, buckets written). Samples are taken (deleted and returned in one statement),
    so two replicas folding the same series at once never count a sample twice."""
    if before_ms % ROLLUP_MS:
        raise ValueError(f"before_ms {before_ms} is not on a {ROLLUP_MS} ms boundary")
    first = next(records.scan(session, project, SAMPLE, streams=[key], end_ms=before_ms,
                              limit=1), None)
    if first is None:
        return 0, 0
    folded = written = 0
    start = first.ts_ms - first.ts_ms % ROLLUP_MS
    while start < before_ms:
        end = min(start + _FOLD_CHUNK_MS, before_ms)
        buckets: dict[int, Bucket] = {}
        taken = records.take(session, project, SAMPLE, key, start, end)
        for r in taken:
            at, value = r.ts_ms - r.ts_ms % ROLLUP_MS, r.data["v"]
            if at in buckets:
                buckets[at].add(value)
            else:
                buckets[at] = Bucket(at, value, value, value, 1)
        records.append(session, project, ROLLUP, [
            records.RecordRow(key, b.ts_ms, {"min": b.min, "max": b.max, "sum": b.sum,
                                             "n": b.count}) for b in buckets.values()])
        folded += len(taken)
        written += len(buckets)
        start = end
    return folded, written
