"""The Open Inference Protocol's ``POST /v2/models/{name}/infer``, served before the
framework's router is consulted (see ``triops.api.shortcut``): the same ``AsEditor``
check and the same work as the declared route (``oip.serve_infer``), without matching
every included router and solving the route's dependencies on each prediction."""

from __future__ import annotations

from typing import ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from triops.api.oip import serve_infer
from triops.api.shortcut import HotRoute, Shortcut
from triops.core.principals import Role
from triops.server.auth import Caller

_PREFIX, _SUFFIX = "/v2/models/", "/infer"


def infer_name(scope: Scope) -> str | None:
    """The endpoint name of an OIP ``infer`` request, None for any other request."""
    path = scope["path"]
    if scope.get("method") != "POST" or not path.startswith(_PREFIX) \
            or not path.endswith(_SUFFIX):
        return None
    name = path[len(_PREFIX):-len(_SUFFIX)]
    if not name or "/" in name:  # what the declared route's ``{name}`` matches
        return None
    return name


def is_infer(scope: Scope) -> bool:
    """Whether the request is an OIP ``infer``: the input guard reads its body for it."""
    return infer_name(scope) is not None


async def _infer(request: Request, caller: Caller) -> Response:
    return await serve_infer(request, caller, request.path_params["name"])


class OipShortcut(Shortcut):
    # Labelled in metrics by the declared route's template.
    infer = HotRoute(_PREFIX + "{name}" + _SUFFIX, Role.editor, _infer)

    routes: ClassVar[dict[tuple[str, str], HotRoute]] = {}

    def route_of(self, scope: Scope) -> HotRoute | None:
        name = infer_name(scope)
        if name is None:
            return None
        scope["path_params"] = {"name": name}
        return self.infer
