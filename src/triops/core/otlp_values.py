"""OTLP ``AnyValue`` and ``KeyValue`` lists as plain Python values.

Traces, metrics and logs all carry attributes in this shape, so the one conversion
lives here, shared by every OTLP intake.
"""

from __future__ import annotations

from typing import Any


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as plain Python (arrays → lists, maps → dicts, bytes → hex)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(key_values: Any) -> dict[str, Any]:
    """An OTLP ``KeyValue`` list as a dict; arrays and maps stay lists and dicts.

    Most attributes are non-empty strings: reading ``string_value`` first (it is ``""``
    on any other kind of value) skips ``any_value``'s call and its ``WhichOneof``.
    """
    out: dict[str, Any] = {}
    for kv in key_values:
        value = kv.value
        text = value.string_value
        out[kv.key] = text if text else any_value(value)
    return out
