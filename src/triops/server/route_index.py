"""Included routers skip requests whose path none of their routes can have.

Since FastAPI 0.137 an included router stays one node in the app's route list, and a
request reaching it is matched against every route inside, twice (once to choose the
node, once inside it). With the API and UI routers of triops that cost ~1–2 ms of pure
matching for a route late in the list, more than the work of most requests. Every route
path starts with a literal part (``/api/v1/evals/...``), so a router whose routes share
none of the request path's literal prefixes cannot match it and is skipped at once;
fastapi/fastapi#16159 proposes the same for prefixes given to ``include_router``, while
triops gives them to ``APIRouter`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI
from fastapi.routing import _IncludedRouter
from starlette.routing import Match
from starlette.types import Scope


@dataclass
class _PrefixGuardedRouter(_IncludedRouter):
    literal_prefixes: tuple[str, ...] = field(default=())

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope.get("path", "")
        if not path.startswith(self.literal_prefixes):
            return Match.NONE, {}
        return super().matches(scope)


def _literal_prefix(path: str) -> str:
    return path.split("{", 1)[0]


def guard_included_routers(app: FastAPI) -> None:
    """Give each router included in ``app`` the literal prefixes of its routes' paths."""
    routes = app.router.routes
    for index, route in enumerate(routes):
        if type(route) is not _IncludedRouter:
            continue
        prefixes = {_literal_prefix(ctx.path_format or getattr(ctx, "path", "") or "")
                    for ctx in route.effective_route_contexts()}
        if not prefixes or "" in prefixes:
            continue  # a path that starts with a parameter can be anything: scan it
        routes[index] = _PrefixGuardedRouter(
            original_router=route.original_router, include_context=route.include_context,
            literal_prefixes=tuple(sorted(prefixes)))
