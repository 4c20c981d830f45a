"""Prometheus remote write intake: ``POST /api/v1/write``.

A Prometheus with ``remote_write`` pointed here (``authorization: {credentials: <key>}``)
forwards the series it chooses into triops' detectors, capacity rules and topology, the
same way OTLP metrics arrive. A malformed request is answered 400, which Prometheus does
not retry, and writes nothing; a stored one is answered 204.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from triops.api.otlp_ops import store_metric_batch
from triops.core.errors import InvalidInput
from triops.ops import prom_remote_write
from triops.server.auth import AsEditor, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, tags=["prometheus"])

PROTOBUF = "application/x-protobuf"


@router.post("/api/v1/write", status_code=204, response_class=Response,
             summary="Prometheus remote write (protocol 1.0: snappy-compressed protobuf)")
async def remote_write(request: Request, caller: Caller = AsEditor) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != PROTOBUF:
        raise InvalidInput(f"remote write needs Content-Type {PROTOBUF}, got {media or 'none'!r}")
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding != "snappy":
        raise InvalidInput(f"remote write needs Content-Encoding snappy, got {encoding or 'none'!r}")
    runtime = runtime_of(request)
    body = await request.body()

    def store() -> prom_remote_write.MetricBatch:
        batch = prom_remote_write.translate(
            prom_remote_write.decode(body, runtime.settings.max_body_bytes))
        store_metric_batch(runtime, caller.project, batch)
        return batch

    batch = await run_in_threadpool(store)
    headers = {}
    if batch.rejected:
        # Header values must be latin-1: names in the problems may not be.
        why = "; ".join(batch.problems)[:500].encode("ascii", "backslashreplace").decode()
        headers["X-Triops-Rejected"] = f"{batch.rejected}: {why}"
    return Response(status_code=204, headers=headers)
