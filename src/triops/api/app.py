"""The FastAPI application: every protocol's router behind one server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

import triops
from triops.api import errors, revocations
from triops.api.auth import KeyCache
from triops.api.health import router as health_router
from triops.api.input_guard import InputGuard
from triops.api.middleware import Metrics, RequestMiddleware
from triops.api.mlflow import router as mlflow_router
from triops.api.native.alerts import router as alerts_router
from triops.api.native.datasets import router as datasets_router
from triops.api.native.endpoints import router as endpoints_router
from triops.api.native.evals import router as evals_router
from triops.api.native.guardrails import router as guardrails_router
from triops.api.native.incidents import router as incidents_router
from triops.api.native.keys import router as keys_router
from triops.api.native.ml_tracking import router as ml_tracking_router
from triops.api.native.monitors import router as monitors_router
from triops.api.native.monitors import start_monitoring
from triops.api.native.notifications import router as notifications_router
from triops.api.native.notifications import start_notifications
from triops.api.native.prompts import router as prompts_router
from triops.api.native.telemetry import router as telemetry_router
from triops.api.native.traces import router as traces_router
from triops.api.oip import router as oip_router
from triops.api.openai.manage import router as gateway_router
from triops.api.openai.routes import router as openai_router
from triops.api.openai.shortcut import GatewayShortcut
from triops.api.openai.spend import router as gateway_spend_router
from triops.api.otlp_ops import router as otlp_ops_router
from triops.api.otlp_traces import router as otlp_traces_router
from triops.api.runtime import Runtime
from triops.llm.evals.online import start_online_evals
from triops.ui.guardrail_pages import router as guardrails_ui_router
from triops.ui.llm_pages import router as llm_ui_router
from triops.ui.ml_pages import router as ml_ui_router
from triops.ui.monitoring_pages import router as monitoring_ui_router
from triops.ui.ops_pages import router as ops_ui_router
from triops.ui.pages import router as ui_router
from triops.ui.prompt_pages import router as prompt_ui_router
from triops.ui.rendering import STATIC_DIR

#: Every router of the server, in one list. Routes match in this order, so the hot
#: paths (model serving, the OpenAI gateway) come first and match the fewest routes.
ROUTERS = [
    endpoints_router, oip_router,  # model serving: native predict and Open Inference v2
    openai_router,  # OpenAI-compatible gateway (/v1/chat/completions, /v1/embeddings, /v1/models)
    health_router, keys_router, incidents_router, telemetry_router, ui_router,  # foundation
    otlp_traces_router, traces_router, llm_ui_router,  # LLM tracing
    otlp_ops_router, alerts_router, ops_ui_router,  # AIOps intake and pages
    gateway_router,  # LLM gateway configuration
    gateway_spend_router,  # LLM gateway spend per key and project
    prompts_router, evals_router, prompt_ui_router,  # prompt registry, eval datasets and runs
    guardrails_router, guardrails_ui_router,  # LLM guardrails and their page
    mlflow_router,  # MLflow tracking, registry and artifact proxy
    monitors_router, monitoring_ui_router,  # ML monitoring and pipelines
    ml_tracking_router, datasets_router, ml_ui_router,  # native tracking, datasets, lineage
    notifications_router,  # channels, routes, silences, deliveries
]


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        start_monitoring(runtime)  # scheduled monitors and retraining
        start_online_evals(runtime)  # scores a sample of live traces
        start_notifications(runtime)  # delivers the notification outbox
        async with revocations.listening(runtime.settings.redis_url, app.state.key_cache) as rl:
            app.state.revocations = rl  # revoked keys leave this server's cache at once
            yield
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

    @app.get("/", include_in_schema=False)
    def root(_request: Request) -> RedirectResponse:
        return RedirectResponse("/ui", status_code=307)

    app.add_middleware(GatewayShortcut)  # the gateway's hot routes skip the router
    app.add_middleware(InputGuard)  # hostile values get a 400 before any route sees them
    app.add_middleware(
        RequestMiddleware, metrics=app.state.metrics,
        max_body_bytes=runtime.settings.max_body_bytes,
    )
    return app
