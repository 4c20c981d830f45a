"""Reading a stored series key back into its name and labels, and splitting the labels
into the ones that say *where* (service, instance, host) and the ones that say *what*."""

from __future__ import annotations

import re

#: Labels naming the workload a series belongs to, not the quantity it measures.
PLACE_LABELS = frozenset({
    "service_name", "service", "job", "service_namespace", "service_instance_id",
    "host_name", "instance", "deployment_environment", "deployment_environment_name",
})
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_.\-]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def parse_key(key: str) -> tuple[str, dict[str, str]]:
    """The inverse of :func:`triops.ops.telemetry.series_key`.

    >>> parse_key('latency{service_name="PetSite",statistic="Average"}')
    ('latency', {'service_name': 'PetSite', 'statistic': 'Average'})
    >>> parse_key('up')
    ('up', {})
    """
    name, brace, rest = key.partition("{")
    if not brace:
        return key, {}
    labels = {m.group(1): re.sub(r"\\[\\\"n]", lambda e: _UNESCAPE[e.group(0)], m.group(2))
              for m in _PAIR.finditer(rest)}
    return name, labels


def metric_and_stat(key: str) -> tuple[str, str]:
    """(metric, statistic) of a series: its name, and the values of its labels that are
    not places, joined by ``/`` (``value`` when there are none).

    >>> metric_and_stat('latency{service_name="PetSite",statistic="Average"}')
    ('latency', 'Average')
    >>> metric_and_stat('http_server_duration_p95{route="/pay",service_name="shop"}')
    ('http_server_duration_p95', '/pay')
    """
    name, labels = parse_key(key)
    what = [labels[k] for k in sorted(labels) if k not in PLACE_LABELS]
    return name, "/".join(what) or "value"
