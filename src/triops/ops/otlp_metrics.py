"""OTLP metrics → telemetry samples, named and labelled the way Prometheus does it.

* Metric names: every character outside ``[a-zA-Z0-9_:]`` becomes ``_``
  (``http.server.duration`` → ``http_server_duration``), as Prometheus' OTLP receiver does.
* Labels: the point's attributes, plus the resource attributes that identify a
  workload (:data:`RESOURCE_LABELS`); names sanitised the same way
  (``service.name`` → ``service_name``). Other resource attributes (process ids, SDK
  versions...) are left out: they would split a series at every restart.
* Gauge and Sum points → one sample each. Monotonic cumulative sums are counters: they
  are stored but not scored by detection (their level only ever grows).
* Histogram points → ``<name>_count`` and ``<name>_sum`` (counters, not scored) and
  ``<name>_p50`` / ``<name>_p95`` estimated from the buckets by linear interpolation,
  as Prometheus' ``histogram_quantile`` does; these are scored. Per-bucket series are
  not kept: they multiply the series count by the bucket count for little use in
  anomaly detection. Exponential histograms give ``_count`` and ``_sum``; summaries
  give ``_count``, ``_sum`` and one series per quantile (label ``quantile``).
* A point without a value, flagged "no recorded value", or with a non-finite value is
  rejected and counted; the rest of the request is kept.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.core.otlp_values import attributes
from triops.ops.telemetry import MetricSample, series_key

#: Resource attributes that become labels of every series of that resource.
RESOURCE_LABELS = (
    "service.name", "service.namespace", "service.instance.id", "host.name",
    "deployment.environment", "deployment.environment.name",
)
MAX_LABELS = 64
_NO_RECORDED_VALUE = 1
_BAD_NAME = re.compile(r"[^a-zA-Z0-9_:]")
_BAD_LABEL = re.compile(r"[^a-zA-Z0-9_]")


@dataclass
class MetricBatch:
    samples: list[MetricSample] = field(default_factory=list)
    #: Series keys stored but not scored (counters).
    unscored: set[str] = field(default_factory=set)
    rejected: int = 0
    problems: list[str] = field(default_factory=list)

    def reject(self, why: str) -> None:
        self.rejected += 1
        if len(self.problems) < 5 and why not in self.problems:
            self.problems.append(why)


def metric_name(name: str) -> str:
    clean = _BAD_NAME.sub("_", name)
    if not clean or clean[0].isdigit():
        clean = "_" + clean
    return clean[:200]


@functools.lru_cache(maxsize=4096)
def label_name(name: str) -> str:
    clean = _BAD_LABEL.sub("_", name)
    if not clean or clean[0].isdigit():
        clean = "_" + clean
    return clean[:100]



def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return "" if value is None else str(value)


def labels_of(resource: Mapping[str, object], point: Mapping[str, object]) -> dict[str, str]:
    labels = {label_name(k): _text(resource[k]) for k in RESOURCE_LABELS if k in resource}
    for key, value in point.items():
        labels[label_name(key)] = _text(value)
    if len(labels) > MAX_LABELS:
        raise InvalidInput(f"a data point has {len(labels)} labels; at most {MAX_LABELS} are kept")
    return labels


def _ts(point) -> int:  # type: ignore[no-untyped-def]
    return point.time_unix_nano // 1_000_000 if point.time_unix_nano else now_ms()


def quantile(q: float, bounds: list[float], counts: list[int]) -> float | None:
    """Prometheus' ``histogram_quantile`` on explicit buckets; None when empty.

    >>> quantile(0.5, [10.0, 20.0], [0, 10, 0])
    15.0
    """
    total = sum(counts)
    if total <= 0 or len(counts) != len(bounds) + 1:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            if i == len(bounds):  # overflow bucket: the highest finite bound is all we know
                return bounds[-1] if bounds else None
            lower = bounds[i - 1] if i > 0 else min(0.0, bounds[0])
            return lower + (bounds[i] - lower) * (rank - seen) / count
        seen += count
    return bounds[-1] if bounds else None


def translate(request) -> MetricBatch:  # type: ignore[no-untyped-def]
    """Samples from an ``ExportMetricsServiceRequest``; raises InvalidInput on bad names."""
    batch = MetricBatch()
    for rm in request.resource_metrics:
        resource = attributes(rm.resource.attributes)
        labels = _Labels(resource)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                _metric(batch, metric, labels)
    return batch


class _Labels:
    """The labels of a resource's data points, built once per distinct attribute list:
    a request carries many points of each series, and building labels (attributes to
    Python, names sanitised) cost more than storing a sample. Points with the same
    attributes share one dict, which nothing changes."""

    def __init__(self, resource: Mapping[str, object]) -> None:
        self.resource = resource
        self.seen: dict[tuple[bytes, ...], dict[str, str]] = {}
        self.last: tuple[object, dict[str, str]] | None = None

    def of(self, point) -> dict[str, str]:  # type: ignore[no-untyped-def]
        given = point.attributes
        # The points of a series usually come one after another: one comparison in C.
        if self.last is not None and given == self.last[0]:
            return self.last[1]
        # Each KeyValue's own encoding, one tuple item each: equal only for equal lists.
        ident = tuple([kv.SerializeToString() for kv in given])
        found = self.seen.get(ident)
        if found is None:
            found = self.seen[ident] = labels_of(self.resource, attributes(given))
        self.last = (given, found)
        return found


def _add(batch: MetricBatch, name: str, labels: dict[str, str], ts: int, value: float | None,
         counter: bool = False) -> None:
    if value is None or not math.isfinite(value):
        batch.reject(f"{name}: a point has no finite value")
        return
    batch.samples.append(MetricSample(name, ts, value, labels))
    if counter:
        batch.unscored.add(series_key(name, labels))


def _numbers(batch: MetricBatch, name: str, points, labels_of_point: _Labels,  # type: ignore[no-untyped-def]
             counter: bool) -> None:
    """Gauge or sum points, one sample each. What ``_add``, ``_ts`` and the labels'
    fast path do is written out in the loop: most points of most requests take this
    path, where a call a step cost as much as the step. A counter's series key is worked
    out once per labels object, not once a point."""
    samples = batch.samples
    append = samples.append
    new = tuple.__new__  # MetricSample's own __new__ is a Python frame a point
    isfinite = math.isfinite
    distinct: dict[int, Mapping[str, str]] = {}
    last_given: object = None
    labels: dict[str, str] = {}
    for p in points:
        given = p.attributes
        if given != last_given:  # a series' points usually follow one another
            labels = labels_of_point.of(p)
            last_given = given
        if p.flags & _NO_RECORDED_VALUE:
            batch.reject(f"{name}: point flagged 'no recorded value'")
            continue
        value = p.as_double
        if not value:  # 0.0, or not a double at all: which one is set says
            kind = p.WhichOneof("value")
            value = value if kind == "as_double" else float(p.as_int) if kind == "as_int" else None
        if value is None or not isfinite(value):
            batch.reject(f"{name}: a point has no finite value")
            continue
        nanos = p.time_unix_nano
        append(new(MetricSample, (name, nanos // 1_000_000 if nanos else now_ms(), value,
                                  labels)))
        if counter:
            distinct[id(labels)] = labels
    batch.unscored.update(series_key(name, labels) for labels in distinct.values())


def _metric(batch: MetricBatch, metric, labels_of_point: _Labels) -> None:  # type: ignore[no-untyped-def]
    if not metric.name:
        raise InvalidInput("an OTLP metric has no name")
    name = metric_name(metric.name)
    kind = metric.WhichOneof("data")
    if kind in ("gauge", "sum"):
        data = getattr(metric, kind)
        _numbers(batch, name, data.data_points, labels_of_point,
                 counter=kind == "sum" and data.is_monotonic and data.aggregation_temporality == 2)
    elif kind in ("histogram", "exponential_histogram", "summary"):
        for p in getattr(metric, kind).data_points:
            labels = labels_of_point.of(p)
            if p.flags & _NO_RECORDED_VALUE:
                batch.reject(f"{name}: point flagged 'no recorded value'")
                continue
            ts = _ts(p)
            _add(batch, f"{name}_count", labels, ts, float(p.count), True)
            if kind == "summary" or p.HasField("sum"):  # sum is optional in histograms
                _add(batch, f"{name}_sum", labels, ts, float(p.sum), True)
            if kind == "histogram":
                bounds, counts = list(p.explicit_bounds), list(p.bucket_counts)
                for q, suffix in ((0.5, "_p50"), (0.95, "_p95")):
                    estimate = quantile(q, bounds, counts)
                    if estimate is not None:
                        _add(batch, f"{name}{suffix}", labels, ts, estimate)
            elif kind == "summary":
                for qv in p.quantile_values:
                    _add(batch, name, {**labels, "quantile": f"{qv.quantile:g}"}, ts, qv.value)
    else:
        batch.reject(f"{name}: metric has no data")
