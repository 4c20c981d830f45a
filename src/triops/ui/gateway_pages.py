"""The gateway's pages: spend per key, project, model and day with its chart, the routes
in force, and (server admins only) the configuration page that changes upstreams and
routes the way ``/api/v1/gateway/...`` does."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import APIRouter, Form
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from triops.core.errors import Conflict, InvalidInput, NotFound
from triops.core.principals import Role
from triops.llm import gateway_admin, period_start_s, visible_spend
from triops.server import key_store
from triops.server.auth import AsServerAdmin, AsViewer, Caller, RoleFirstRoute, is_server_admin
from triops.server.errors import status_for
from triops.server.runtime import runtime_of
from triops.ui import charts
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/llm/gateway", include_in_schema=False)

#: Spend windows offered by the page: calendar periods (UTC) and lengths back from now.
WINDOWS = {"day": None, "7d": 7 * 86_400, "month": None, "30d": 30 * 86_400,
           "total": None}


def _since_s(window: str, now_s: float) -> float:
    length = WINDOWS[window]
    return now_s - length if length is not None else period_start_s(window, now_s)


def _routes(request: Request) -> list[dict]:  # type: ignore[type-arg]
    """Every route in force, from triops.toml and from the store (which wins)."""
    runtime = runtime_of(request)
    out = {r.alias: {"alias": r.alias, "deployments": r.deployments, "fallbacks": r.fallbacks,
                     "source": "config"} for r in runtime.settings.gateway.routes}
    with runtime.db.read() as session:
        for r in gateway_admin.stored(session)[1]:
            out[r.alias] = {"alias": r.alias, "deployments": r.deployments,
                            "fallbacks": r.fallbacks, "source": "api"}
    return [out[a] for a in sorted(out)]


_DAY_MS = 86_400_000


def _daily(days: list, since_ms: int, until_ms: int) -> list[tuple[float, float]]:  # type: ignore[type-arg]
    """Cost per UTC day at each day's noon, with the days without calls at 0 (they cost
    nothing), from the window's first day (or the first day with calls) to today."""
    cost = {int(g.group): g.cost_usd for g in days}
    if not cost:
        return []
    last = until_ms // _DAY_MS * _DAY_MS
    first = since_ms // _DAY_MS * _DAY_MS if since_ms > 0 else min(cost)
    first = max(first, last - 400 * _DAY_MS)  # "all time" draws at most the last 400 days
    return [(day + _DAY_MS / 2, cost.get(day, 0.0))
            for day in range(first, last + 1, _DAY_MS)]


@router.get("", response_class=HTMLResponse)
def gateway_page(request: Request, window: str = "month", caller: Caller = AsViewer
                 ) -> HTMLResponse:
    if window not in WINDOWS:
        window = "month"
    now = time.time()
    since_ms, until_ms = int(_since_s(window, now) * 1000), int(now * 1000) + 1
    runtime = runtime_of(request)
    runtime.gateway.spend.ledger.flush()  # this replica's latest calls are in the store
    server_admin = is_server_admin(caller.principal)
    by = ["day", "model", "key", "route"] + (["project"] if server_admin else [])
    with runtime.db.read() as session:
        groups = {b: visible_spend(session, caller.principal, caller.project, b, since_ms,
                                   until_ms) for b in by}
        key_names = key_store.names_of(session, [g.group for g in groups["key"]])
    per_day = _daily(groups["day"], since_ms, until_ms)
    bars = {b: charts.bar_chart([(key_names.get(g.group, g.group) if b == "key" else g.group,
                                  g.cost_usd) for g in groups[b][:20]],
                                title=f"cost per {b}", width=560)
            for b in by if b != "day"}
    total = {"calls": sum(g.calls for g in groups["day"]),
             "tokens": sum(g.prompt_tokens + g.completion_tokens for g in groups["day"]),
             "cost": sum(g.cost_usd for g in groups["day"])}
    return render(request, "llm_gateway.html", window=window, windows=list(WINDOWS),
                  groups=groups, by=by, key_names=key_names, total=total,
                  day_chart=charts.line_chart(per_day, width=1100, height=220,
                                              title="cost per day (USD)"),
                  bars=bars, routes=_routes(request), server_admin=server_admin,
                  own_only=not caller.principal.allows(Role.admin))


@router.get("/config", response_class=HTMLResponse)
def config_page(request: Request, caller: Caller = AsServerAdmin) -> HTMLResponse:
    return _config(request)


def _config(request: Request, error: str = "", status: int = 200) -> HTMLResponse:
    runtime = runtime_of(request)
    upstreams = {u.name: {"name": u.name, "provider": u.provider, "base_url": u.base_url,
                          "has_secret": u.api_key is not None, "source": "config"}
                 for u in runtime.settings.gateway.upstreams}
    with runtime.db.read() as session:
        for u in gateway_admin.stored_upstreams(session):
            upstreams[u.name] = {"name": u.name, "provider": u.provider,
                                 "base_url": u.base_url, "has_secret": bool(u.secret),
                                 "source": "api"}
    page = render(request, "llm_gateway_config.html",
                  upstreams=[upstreams[n] for n in sorted(upstreams)], routes=_routes(request),
                  error=error)
    page.status_code = status
    return page


def _apply(request: Request, change: Callable[[Session], object]) -> Response:
    """Make one change in a transaction; on success reload the gateway and show the page
    again, on a refusal show the page with the reason (nothing was stored)."""
    try:
        with runtime_of(request).db.write() as session:
            change(session)
    except (InvalidInput, Conflict, NotFound) as exc:
        return _config(request, exc.message, status_for(exc))
    runtime_of(request).gateway_changed()
    return RedirectResponse("/ui/llm/gateway/config", status_code=303)


def _who(caller: Caller) -> gateway_admin.Who:
    return gateway_admin.Who(actor=caller.actor, project=caller.project)


def _deployments(text: str) -> list[dict]:  # type: ignore[type-arg]
    """One deployment a line: ``upstream model [weight]``."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (2, 3):
            raise InvalidInput(f"deployment line {number}: write 'upstream model [weight]', "
                               f"got {line.strip()!r}")
        try:
            weight = float(parts[2]) if len(parts) == 3 else 1.0
        except ValueError:
            raise InvalidInput(f"deployment line {number}: weight {parts[2]!r} is not a "
                               "number") from None
        out.append({"upstream": parts[0], "model": parts[1], "weight": weight})
    return out


@router.post("/upstreams")
def put_upstream(request: Request, name: str = Form(..., max_length=128),
                 provider: str = Form("openai", max_length=32),
                 base_url: str = Form(..., max_length=2048),
                 api_key: str = Form("", max_length=4096),
                 caller: Caller = AsServerAdmin) -> Response:
    settings = runtime_of(request).settings.gateway
    return _apply(request, lambda session: gateway_admin.put_upstream(
        session, settings, _who(caller), name=name.strip(), provider=provider.strip(),
        base_url=base_url.strip(), secret=api_key or None))


@router.post("/upstreams/{name}/delete")
def delete_upstream(name: str, request: Request, caller: Caller = AsServerAdmin) -> Response:
    return _apply(request, lambda session: gateway_admin.delete_upstream(
        session, _who(caller), name))


@router.post("/routes")
def put_route(request: Request, alias: str = Form(..., max_length=256),
              deployments: str = Form(..., max_length=10_000),
              fallbacks: str = Form("", max_length=2_000),
              caller: Caller = AsServerAdmin) -> Response:
    settings = runtime_of(request).settings.gateway
    try:
        parsed = _deployments(deployments)
    except InvalidInput as exc:
        return _config(request, exc.message, status_for(exc))
    return _apply(request, lambda session: gateway_admin.put_route(
        session, settings, _who(caller), alias.strip(), parsed,
        [f.strip() for f in fallbacks.split(",") if f.strip()]))


@router.post("/routes/{alias:path}/delete")
def delete_route(alias: str, request: Request, caller: Caller = AsServerAdmin) -> Response:
    return _apply(request, lambda session: gateway_admin.delete_route(
        session, _who(caller), alias))
