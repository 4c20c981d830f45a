"""The Jinja2 environment shared by every page, with triops' filters."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

templates = Jinja2Templates(directory=str(HERE / "templates"))


def _ms_to_text(value: int | None) -> str:
    if value is None:
        return ""
    return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC).strftime(
        "%Y-%m-%d %H:%M:%S"
    )


def _json_text(value: Any) -> str:
    """A value as readable JSON for display: unlike Jinja's ``tojson``, which escapes
    ``'`` and ``<`` as ``\\u0027`` for use inside scripts, this leaves the text as it is
    and lets autoescaping make it safe for HTML."""
    return json.dumps(value, ensure_ascii=False, indent=None, default=str)


templates.env.filters["ms"] = _ms_to_text
templates.env.filters["json_text"] = _json_text


def render(request: Request, name: str, **context: Any) -> HTMLResponse:
    caller = getattr(request.state, "caller", None)
    return templates.TemplateResponse(request, name, {"caller": caller, **context})
