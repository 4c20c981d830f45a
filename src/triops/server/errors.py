"""The one place where errors become HTTP responses.

Every error leaves as ``{"error_code": ..., "message": ...}``, the shape MLflow's client
parses, so its users see the exceptions they expect.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from triops.core import errors
from triops.server import openai_errors

log = logging.getLogger("triops.api")

STATUS_BY_ERROR: dict[type[errors.TriopsError], int] = {
    errors.InvalidInput: 400,
    errors.Unauthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.AlreadyExists: 400,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.RateLimited: 429,
    errors.UpstreamError: 502,
    errors.Unavailable: 503,
    errors.UpstreamTimeout: 504,
    errors.ConfigError: 500,
}

_CODE_BY_STATUS = {
    400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "REQUEST_LIMIT_EXCEEDED",
    415: "UNSUPPORTED_MEDIA_TYPE", 429: "RATE_LIMIT_EXCEEDED",
}


def status_for(exc: errors.TriopsError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]  # type: ignore[index]
    return 500


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error_code": code, "message": message}


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="triops"'}
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def describe_validation(exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        if err.get("type") == "json_invalid":
            return "request body is not valid JSON: " + str(err.get("ctx", {}).get("error", ""))
        problems.append(f"{where or 'body'}: {err.get('msg')}")
    return "invalid request: " + "; ".join(problems)


def render(path: str, status: int, code: str, message: str,
           param: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    # The OpenAI routes answer in OpenAI's error shape; every other route in triops'.
    if openai_errors.is_openai_path(path):
        return openai_errors.render(status, code, message, param, headers)
    return error_response(status, code, message, headers)


def _respond(request: Request, status: int, code: str, message: str,
             param: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return render(request.url.path, status, code, message, param, headers)


def internal_error(path: str) -> JSONResponse:
    """The answer to an error nobody planned for; the traceback goes to the log only."""
    return render(path, 500, "INTERNAL_ERROR", "internal error; see the server log")


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.TriopsError)
    async def _triops_error(request: Request, exc: errors.TriopsError) -> Response:
        if isinstance(exc, errors.Unauthenticated) and request.url.path.startswith("/ui"):
            # A person in a browser gets the login page, not a JSON error, and comes
            # back to the page asked for once logged in.
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            back = request.method == "GET" and target != "/ui"  # /ui is where login goes anyway
            after = f"?next={quote(target, safe='')}" if back else ""
            return RedirectResponse(f"/ui/login{after}", status_code=303)
        return _respond(request, status_for(exc), exc.code, exc.message,
                        getattr(exc, "param", None), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _respond(request, 400, errors.InvalidInput.code, describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODE_BY_STATUS.get(exc.status_code, "HTTP_ERROR")
        return _respond(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # Two writers raced for the same unique name: the loser's transaction rolled back
        # whole, so nothing half-written remains and a retry sees the winner's row.
        log.info("integrity conflict on %s %s: %s", request.method, request.url.path, exc.orig)
        return _respond(request, 409, errors.AlreadyExists.code,
                        "a concurrent request created the same object first; retry to see it")
