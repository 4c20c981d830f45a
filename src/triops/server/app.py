"""The FastAPI application: the api and ui routers behind one server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

import triops
from triops.api.mlflow.shortcut import MlflowShortcut, is_log_batch
from triops.api.oip_shortcut import OipShortcut, is_infer
from triops.api.openai.shortcut import GatewayShortcut
from triops.api.routers import ROUTERS as API_ROUTERS
from triops.server import errors, invalidation
from triops.server.auth import KeyCache
from triops.server.health import router as health_router
from triops.server.input_guard import InputGuard
from triops.server.middleware import Metrics, RequestMiddleware
from triops.server.route_index import guard_included_routers
from triops.server.runtime import Runtime
from triops.ui.rendering import STATIC_DIR
from triops.ui.routers import ROUTERS as UI_ROUTERS

#: Every router of the server: the API's own list first (its hot paths match soonest),
#: then health and the UI's pages.
ROUTERS = [*API_ROUTERS, health_router, *UI_ROUTERS]
ROOT_PAGE = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>triops</title>'
             '<script src="/static/mlflow-links.js"></script></head><body>'
             '<noscript><a href="/ui">Open triops</a></noscript></body></html>')


def _read_by_guard(scope: Scope) -> bool:
    return is_infer(scope) or is_log_batch(scope)


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.start()  # scheduled monitors and retraining, online evals
        key_cache: KeyCache = app.state.key_cache

        async def resync() -> None:
            key_cache.clear()
            await runtime.resync()

        handlers = {**runtime.announced_handlers(), invalidation.API_KEY: key_cache.forget_key}
        async with invalidation.listening(runtime.settings.redis_url, handlers, resync,
                                          runtime.origin) as listener:
            # Changes made on other servers reach this one at once (revoked keys included).
            runtime.listener = listener
            yield
            runtime.listener = None
        runtime.close()

    app = FastAPI(
        title="triops",
        version=triops.__version__,
        description="MLOps, LLMOps and AIOps on one store behind one server.",
        lifespan=lifespan,
        # triops traces and meters itself; FastAPI's own OpenTelemetry hook would check
        # the global providers on every request (a measurable share of a gateway call).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    app.state.key_cache = KeyCache()
    app.state.metrics = Metrics()
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    guard_included_routers(app)

    @app.get("/", include_in_schema=False)
    def root(_request: Request) -> HTMLResponse:
        # Not a redirect: links into MLflow's UI carry their route in the fragment
        # (``/#/experiments/1/runs/<id>``), which only a script on this page can read.
        return HTMLResponse(ROOT_PAGE)

    app.add_middleware(GatewayShortcut)  # the gateway's hot routes skip the router
    app.add_middleware(MlflowShortcut)  # and so do the MLflow client's logging routes
    app.add_middleware(OipShortcut)  # and the Open Inference Protocol's infer
    # Hostile values get a 400 before any route sees them; an OIP infer's and an MLflow
    # log-batch's bodies are read once, by the guard, for the route.
    app.add_middleware(InputGuard, reads_json=_read_by_guard)
    app.add_middleware(
        RequestMiddleware, metrics=app.state.metrics,
        max_body_bytes=runtime.settings.max_body_bytes,
    )
    return app
