"""Skipping included routers by path prefix must not change which route serves a path."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from starlette.routing import Match

from triops.server.app import ROUTERS, create_app
from triops.server.route_index import _PrefixGuardedRouter
from triops.server.runtime import Runtime

BACKENDS_UNDER_TEST = ("sqlite",)


def _resolve(app: FastAPI, method: str, path: str) -> tuple[str, str] | None:
    """The route that the app's own dispatch loop would pick, as (path format, name)."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "",
             "query_string": b"", "headers": []}
    for route in app.router.routes:
        match, _ = route.matches(dict(scope))
        if match is Match.FULL:
            # An included router says "full" for the router; the route inside is its pick.
            inner = route._match(dict(scope))[2] if hasattr(route, "_match") else route
            return getattr(inner, "path_format", ""), getattr(inner, "name", "")
    return None


def _concrete(path_format: str) -> str:
    return re.sub(r"\{[^}:]+(:path)?\}", lambda m: "a/b" if m.group(1) else "x1", path_format)


@pytest.fixture
def guarded_app(runtime: Runtime) -> FastAPI:
    return create_app(runtime)


def test_every_route_resolves_as_it_did_without_the_guard(guarded_app: FastAPI) -> None:
    plain = FastAPI()
    for router in ROUTERS:
        plain.include_router(router)
    cases = [(method, _concrete(ctx.path_format))
             for route in plain.router.routes if hasattr(route, "effective_route_contexts")
             for ctx in route.effective_route_contexts()
             for method in sorted(getattr(ctx, "methods", None) or {"GET"})]
    assert len(cases) > 300
    unknown = [("GET", "/nowhere"), ("POST", "/api/v1/nope"), ("GET", "/ui/nope/x")]
    for method, path in cases:
        expected = _resolve(plain, method, path)
        assert expected is not None, path
        assert _resolve(guarded_app, method, path) == expected, path
    for method, path in unknown:
        assert _resolve(guarded_app, method, path) == _resolve(plain, method, path), path
    guarded = [r for r in guarded_app.router.routes if isinstance(r, _PrefixGuardedRouter)]
    assert len(guarded) >= len(ROUTERS) - 5


def test_a_guarded_router_refuses_paths_outside_its_prefixes(guarded_app: FastAPI) -> None:
    evals = next(r for r in guarded_app.router.routes if isinstance(r, _PrefixGuardedRouter)
                 and "/api/v1/evals/datasets" in r.literal_prefixes)
    scope = {"type": "http", "method": "GET", "path": "/api/v1/prompts", "root_path": "",
             "query_string": b"", "headers": []}
    assert evals.matches(scope) == (Match.NONE, {})
