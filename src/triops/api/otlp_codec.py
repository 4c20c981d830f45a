"""Decoding and answering OTLP/HTTP requests, shared by /v1/traces, /v1/metrics, /v1/logs.

OTLP/HTTP carries the same protobuf messages either binary (``application/x-protobuf``)
or as protobuf-JSON (``application/json``), optionally gzip-compressed. The response
mirrors the request's encoding, as the specification asks.
"""

from __future__ import annotations

import base64
import re
import zlib
from typing import TypeVar

from google.protobuf.json_format import MessageToJson, ParseDict, ParseError
from google.protobuf.message import DecodeError, Message
from starlette.requests import Request
from starlette.responses import Response

from triops.core.errors import InvalidInput, PayloadTooLarge
from triops.server.input_guard import load_json
from triops.server.runtime import runtime_of

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

M = TypeVar("M", bound=Message)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def decode(request: Request, message_type: type[M]) -> tuple[M, str]:
    """Parse the body as ``message_type``; returns the message and the encoding used."""
    media = _media_type(request)
    if media not in (PROTOBUF, JSON):
        raise InvalidInput(
            f"OTLP/HTTP needs Content-Type {PROTOBUF} or {JSON}, got {media or 'none'!r}"
        )
    body = await request.body()
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding == "gzip":
        body = gunzip(body, runtime_of(request).settings.max_body_bytes)
    elif encoding not in ("", "identity"):
        raise InvalidInput(f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    message = message_type()
    if media == PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise InvalidInput(f"OTLP body is not a valid protobuf {message_type.__name__}: {exc}") from None
    else:
        try:
            document = load_json(body.decode("utf-8"))
            if not isinstance(document, dict):  # reported with the parse errors below
                raise ValueError("the top level must be a JSON object")  # noqa: TRY004
            ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)
        except (ParseError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput(f"OTLP body is not valid OTLP JSON: {exc}") from None
    return message, media


def gunzip(body: bytes, limit: int) -> bytes:
    """Inflate a gzip body, refusing it once it grows past ``limit`` bytes.

    A small body can inflate a thousandfold (1 MiB of gzip holds 1 GiB of zeros), so
    the inflated size is limited like the raw one, and memory stays near ``limit``.
    """
    inflated = bytearray()
    try:
        while body:
            # One decompressor per gzip member: concatenated members are valid gzip.
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            inflated += inflater.decompress(body, limit + 1 - len(inflated))
            if len(inflated) > limit:
                raise PayloadTooLarge(
                    f"gzip body inflates to more than the limit of {limit} bytes "
                    "(raise it with TRIOPS_MAX_BODY_BYTES)")
            if not inflater.eof:
                raise InvalidInput("OTLP body is not valid gzip: it ends before its last block")
            body = inflater.unused_data
    except zlib.error as exc:
        raise InvalidInput(f"OTLP body is not valid gzip: {exc}") from None
    return bytes(inflated)


_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id",
                      "parent_span_id"})
_HEX_ID = re.compile(r"^(?:[0-9a-fA-F]{16}|[0-9a-fA-F]{32})$")


def _hex_ids_to_base64(node: object) -> object:
    """OTLP/JSON writes trace and span ids as hex, protobuf-JSON expects base64 for bytes.

    Only 16- or 32-character hex strings under id keys are converted, so a client that
    already sends base64 (24 or 12 characters) is read as before.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str) and _HEX_ID.match(value):
                node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            elif isinstance(value, (dict, list)):
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)
    return node


def respond(message: Message, media: str) -> Response:
    if media == PROTOBUF:
        return Response(message.SerializeToString(), media_type=PROTOBUF)
    return Response(MessageToJson(message), media_type=JSON)
