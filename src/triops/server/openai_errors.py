"""Errors on the OpenAI routes leave in OpenAI's shape, which its clients parse:
``{"error": {"message", "type", "param", "code"}}``. ``triops.server.errors`` calls
``render`` for every path ``is_openai_path`` claims; the status comes from its table."""

from __future__ import annotations

from starlette.responses import JSONResponse

#: The OpenAI routes. Other ``/v1/...`` paths (OTLP's /v1/traces...) keep triops' shape.
OPENAI_PREFIXES = ("/v1/chat/", "/v1/completions", "/v1/embeddings", "/v1/models",
                   "/v1/files")

_TYPE_BY_STATUS = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 409: "conflict_error", 413: "invalid_request_error",
    429: "rate_limit_error", 502: "upstream_error", 504: "timeout_error",
}


def is_openai_path(path: str) -> bool:
    return path.startswith(OPENAI_PREFIXES)


def render(status: int, code: str, message: str, param: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    """``headers``: what the error adds, such as a 429's ``Retry-After``."""
    kind = _TYPE_BY_STATUS.get(status, "api_error" if status >= 500 else "invalid_request_error")
    if code == "insufficient_quota":
        kind = "insufficient_quota"
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="triops"'}
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": param, "code": code.lower()}},
        status_code=status, headers=headers,
    )
