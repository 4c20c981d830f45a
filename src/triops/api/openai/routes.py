"""``/v1/chat/completions``, ``/v1/embeddings`` and ``/v1/models`` as OpenAI serves them.

Request bodies are read with orjson and checked by hand instead of through a pydantic
model: the gateway passes every field it does not know (tools, response_format,
provider extensions) through to the upstream untouched, and this is the hot path.
Chat and embeddings spend money and write traces, so they need the editor role;
listing models needs a viewer.
"""

from __future__ import annotations

from typing import Any

import anyio
import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from triops.llm import GatewayCaller, headers_of, invalid_request, prompt_request, render_request
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, tags=["openai"])

SESSION_HEADER = "x-triops-session-id"
CACHE_HEADER = "x-triops-cache"
TRACE_HEADER = "x-triops-trace-id"
COST_HEADER = "x-triops-cost-usd"


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid_request(f"request body is not valid JSON: {exc}") from None


def _caller(request: Request, caller: Caller) -> GatewayCaller:
    headers = request.headers
    return GatewayCaller(
        project=caller.project, key_id=caller.principal.key_id,
        session_id=headers.get(SESSION_HEADER),
        cache=headers.get(CACHE_HEADER, "").lower() not in ("no", "off", "false", "0"),
    )


async def _from_prompt(request: Request, caller: Caller, body: Any
                       ) -> tuple[Any, dict[str, Any] | None]:
    """Render a request that names a registered prompt instead of carrying messages."""
    ref = prompt_request(body)
    if ref is None:
        return body, None
    resolver = runtime_of(request).prompt_resolver
    found = resolver.cached(caller.project, ref) or await anyio.to_thread.run_sync(
        resolver.resolve, caller.project, ref)
    return render_request(body, found)


async def serve_chat(request: Request, caller: Caller) -> Response:
    """The chat completion itself, once the caller is known (the shortcut calls it too)."""
    body, attributes = await _from_prompt(request, caller, await _json_body(request))
    gateway = runtime_of(request).gateway
    trace, result = await gateway.chat(_caller(request, caller), body, attributes)
    headers = {TRACE_HEADER: trace.trace_id, "x-triops-cache-status": trace.cache,
               **headers_of(trace)}
    if isinstance(result, dict):
        headers[COST_HEADER] = f"{trace.cost:.10f}"  # eval runs record what each case cost
        return Response(orjson.dumps(result), media_type="application/json", headers=headers)
    return StreamingResponse(result, media_type="text/event-stream",
                             headers={**headers, "cache-control": "no-cache"})


async def serve_embeddings(request: Request, caller: Caller) -> Response:
    body = await _json_body(request)
    gateway = runtime_of(request).gateway
    trace, result = await gateway.embeddings(_caller(request, caller), body)
    return Response(orjson.dumps(result), media_type="application/json",
                    headers={TRACE_HEADER: trace.trace_id, **headers_of(trace)})


# The two hot routes are served by ``triops.api.openai.shortcut`` before the router is
# consulted; they are declared here as well so that the OpenAPI spec documents them,
# the route-table test sees their roles, and an app without the shortcut still serves them.
@router.post("/v1/chat/completions", summary="Create a chat completion (OpenAI-compatible)")
async def chat_completions(request: Request, caller: Caller = AsEditor) -> Response:
    return await serve_chat(request, caller)


@router.post("/v1/embeddings", summary="Create embeddings (OpenAI-compatible)")
async def embeddings(request: Request, caller: Caller = AsEditor) -> Response:
    return await serve_embeddings(request, caller)


def _model(alias: str) -> dict[str, Any]:
    return {"id": alias, "object": "model", "created": 0, "owned_by": "triops"}


@router.get("/v1/models", summary="List the model aliases this gateway serves")
async def list_models(request: Request, caller: Caller = AsViewer) -> Response:
    gateway = runtime_of(request).gateway
    data = [_model(alias) for alias in gateway.models()]
    return Response(orjson.dumps({"object": "list", "data": data}),
                     media_type="application/json")


@router.get("/v1/models/{model:path}", summary="Describe one model alias")
async def get_model(model: str, request: Request, caller: Caller = AsViewer) -> Response:
    gateway = runtime_of(request).gateway
    gateway.snapshot.table.candidates(model)  # NotFound when nothing serves it
    return Response(orjson.dumps(_model(model)), media_type="application/json")


