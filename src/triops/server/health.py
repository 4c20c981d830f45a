"""Liveness, readiness and the server's own Prometheus metrics. Public by design."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from triops.server.auth import RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.store.migrate import pending

router = APIRouter(route_class=RoleFirstRoute, tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Response:
    runtime = runtime_of(request)
    try:
        with runtime.db.read() as session:
            session.execute(text("SELECT 1"))
        missing = pending(runtime.db.engine)
    except Exception as exc:  # noqa: BLE001 -- the point of readyz is to report, not to raise
        return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
    if missing:
        return JSONResponse(
            {"status": "unavailable", "reason": f"migrations pending: {sorted(missing)}"},
            status_code=503,
        )
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)
