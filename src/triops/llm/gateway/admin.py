"""Changing the gateway's stored configuration: upstreams and routes, as the API and the
configuration page both do it.

Every change is checked against the whole configuration (the ``triops.toml`` part and the
stored part) before it is stored, so a stored state can always be served, and each one is
written to the audit log. Who may call these is decided by the callers (server admins:
upstreams and routes serve every project). The caller reloads the gateway afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from triops.core.errors import Conflict, InvalidInput
from triops.core.gateway_settings import (
    DeploymentConfig,
    GatewaySettings,
    RouteConfig,
    UpstreamConfig,
)
from triops.llm.gateway.config import build_table, route_of, upstream_of
from triops.store.repos import audit
from triops.store.repos import llm_gateway as repo
from triops.store.schema_llm_gateway import GatewayUpstream

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Who:
    """Who makes a change, and in which project's audit log it is written."""

    actor: str
    project: str


def valid(model: type[M], **values: object) -> M:
    """A configuration model from values; their problems are the caller's (400)."""
    try:
        return model(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors())
        raise InvalidInput(f"invalid request: {problems}") from None


def stored_upstreams(session: Session) -> list[GatewayUpstream]:
    """The stored upstreams as rows (the page shows whether each has a secret)."""
    return repo.list_upstreams(session)


def stored(session: Session) -> tuple[list[UpstreamConfig], list[RouteConfig]]:
    return ([upstream_of(r) for r in repo.list_upstreams(session)],
            [route_of(r) for r in repo.list_routes(session)])


def put_upstream(session: Session, settings: GatewaySettings, who: Who, *, name: str,
                 provider: str, base_url: str, secret: str | None, clear_secret: bool = False,
                 timeout_s: float | None = None, headers: dict[str, str] | None = None
                 ) -> GatewayUpstream:
    """Create or replace a stored upstream; a stored secret survives unless
    ``clear_secret`` (``secret=None`` keeps it)."""
    headers = headers or {}
    candidate = valid(UpstreamConfig, name=name, provider=provider, base_url=base_url,
                      timeout_s=timeout_s, headers=headers)
    upstreams, routes = stored(session)
    build_table(settings, [*[u for u in upstreams if u.name != name], candidate], routes)
    row = repo.put_upstream(session, name=name, provider=provider, base_url=base_url,
                            secret=None if clear_secret else secret,
                            keep_secret=not clear_secret, timeout_s=timeout_s,
                            headers=headers, actor=who.actor)
    audit.record(session, project=who.project, actor=who.actor, action="gateway.upstream.put",
                 target=name, detail={"provider": provider, "base_url": base_url})
    return row


def delete_upstream(session: Session, who: Who, name: str) -> None:
    _, routes = stored(session)
    users = [r.alias for r in routes if any(d.upstream == name for d in r.deployments)]
    if users:
        raise Conflict(f"upstream {name!r} is used by routes {', '.join(users)}; "
                       "change or delete them first")
    repo.delete_upstream(session, name, actor=who.actor)
    audit.record(session, project=who.project, actor=who.actor,
                 action="gateway.upstream.delete", target=name)


def put_route(session: Session, settings: GatewaySettings, who: Who, alias: str,
              deployments: list[DeploymentConfig] | list[dict[str, Any]],
              fallbacks: list[str], *, action: str = "gateway.route.put",
              detail: dict[str, Any] | None = None) -> RouteConfig:
    """Check the route against every other, store it and audit it as ``action`` (with
    ``detail``, the stored route by default)."""
    route = valid(RouteConfig, alias=alias, deployments=deployments, fallbacks=fallbacks)
    upstreams, routes = stored(session)
    build_table(settings, upstreams, [*[r for r in routes if r.alias != alias], route])
    spec = {"deployments": [d.model_dump() for d in route.deployments],
            "fallbacks": route.fallbacks}
    repo.put_route(session, alias, spec, actor=who.actor)
    audit.record(session, project=who.project, actor=who.actor, action=action,
                 target=alias, detail=spec if detail is None else detail)
    return route


def delete_route(session: Session, who: Who, alias: str) -> None:
    repo.delete_route(session, alias, actor=who.actor)
    audit.record(session, project=who.project, actor=who.actor, action="gateway.route.delete",
                 target=alias)
