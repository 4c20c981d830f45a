"""Prometheus remote write (protocol 1.0) → telemetry samples.

A remote-write request is a snappy-compressed (block format) protobuf
``prometheus.WriteRequest``. Its few messages are declared here from their field numbers
in Prometheus' ``prompb/types.proto`` and ``remote.proto`` rather than generated, since
triops reads only samples and labels:

* ``__name__`` is the series name; the other labels stay labels.
* Counters are stored but not scored (their level only ever grows): the series whose
  request metadata says counter, and those whose name ends ``_total``, ``_count``,
  ``_sum`` or ``_bucket`` (Prometheus sends metadata in requests of its own, so most
  requests carry none).
* Prometheus' staleness marker (a NaN with a fixed bit pattern) ends a series in
  Prometheus itself; here it is skipped without counting as rejected. Any other
  non-finite value, or a series without a valid name, is rejected and counted; the rest
  of the request is kept.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from triops.core.errors import InvalidInput, PayloadTooLarge
from triops.ops.otlp_metrics import MetricBatch
from triops.ops.telemetry import MetricSample, series_key

STALE_NAN_BITS = 0x7FF0000000000002
_COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
_COUNTER = 1  # MetricMetadata.MetricType.COUNTER

_F = descriptor_pb2.FieldDescriptorProto


def _message(file: descriptor_pb2.FileDescriptorProto, name: str,
             fields: list[tuple[str, int, int, str | None, bool]]) -> None:
    message = file.message_type.add(name=name)
    for field_name, number, kind, type_name, repeated in fields:
        field = message.field.add(name=field_name, number=number, type=kind,
                                  label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
        if type_name:
            field.type_name = type_name


def _write_request_type() -> Any:
    file = descriptor_pb2.FileDescriptorProto(name="triops/prompb_remote.proto",
                                              package="prometheus", syntax="proto3")
    _message(file, "Label", [("name", 1, _F.TYPE_STRING, None, False),
                             ("value", 2, _F.TYPE_STRING, None, False)])
    _message(file, "Sample", [("value", 1, _F.TYPE_DOUBLE, None, False),
                              ("timestamp", 2, _F.TYPE_INT64, None, False)])
    _message(file, "TimeSeries", [("labels", 1, _F.TYPE_MESSAGE, ".prometheus.Label", True),
                                  ("samples", 2, _F.TYPE_MESSAGE, ".prometheus.Sample", True)])
    _message(file, "MetricMetadata", [("type", 1, _F.TYPE_INT32, None, False),
                                      ("metric_family_name", 2, _F.TYPE_STRING, None, False)])
    _message(file, "WriteRequest", [
        ("timeseries", 1, _F.TYPE_MESSAGE, ".prometheus.TimeSeries", True),
        ("metadata", 3, _F.TYPE_MESSAGE, ".prometheus.MetricMetadata", True)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


WriteRequest = _write_request_type()


def _is_stale_marker(value: float) -> bool:
    return struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS


def decode(body: bytes, limit: int) -> Any:
    """The ``WriteRequest`` in a snappy block; refused before inflating past ``limit``."""
    try:
        size = cramjam.snappy.decompress_raw_len(body)
    except cramjam.DecompressionError as exc:
        raise InvalidInput(f"remote write body is not snappy (block format): {exc}") from None
    if size > limit:
        raise PayloadTooLarge(f"remote write body inflates to {size} bytes, more than the "
                              f"limit of {limit} (raise it with TRIOPS_MAX_BODY_BYTES)")
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise InvalidInput(f"remote write body is not snappy (block format): {exc}") from None
    request = WriteRequest()
    try:
        request.ParseFromString(raw)
    except DecodeError as exc:
        raise InvalidInput(f"remote write body is not a prometheus.WriteRequest: {exc}") from None
    return request


def translate(request: Any) -> MetricBatch:
    batch = MetricBatch()
    counters = {m.metric_family_name for m in request.metadata if m.type == _COUNTER}
    for series in request.timeseries:
        labels = {label.name: label.value for label in series.labels}
        name = labels.pop("__name__", "")
        try:
            key = series_key(name, labels)
        except InvalidInput as exc:
            for _ in series.samples:
                batch.reject(exc.message)
            continue
        if name in counters or name.endswith(_COUNTER_SUFFIXES):
            batch.unscored.add(key)
        for sample in series.samples:
            if math.isfinite(sample.value):
                batch.samples.append(MetricSample(name, sample.timestamp, sample.value, labels))
            elif not _is_stale_marker(sample.value):
                batch.reject(f"sample of {key} at {sample.timestamp} is not a finite number")
    return batch
