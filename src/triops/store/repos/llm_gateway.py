"""Stored gateway configuration: upstreams, routes and per-key policies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triops.core.errors import NotFound
from triops.core.ids import now_ms
from triops.store.repos import changes
from triops.store.schema_llm_gateway import GatewayKeyPolicy, GatewayRoute, GatewayUpstream


def list_upstreams(session: Session) -> list[GatewayUpstream]:
    return list(session.scalars(select(GatewayUpstream).order_by(GatewayUpstream.name)))


def put_upstream(session: Session, *, name: str, provider: str, base_url: str,
                 secret: str | None, keep_secret: bool, timeout_s: float | None,
                 headers: dict[str, str], actor: str = "") -> GatewayUpstream:
    """Create or replace; with ``keep_secret`` a stored secret survives an update."""
    row = session.get(GatewayUpstream, name)
    if row is None:
        row = GatewayUpstream(name=name)
        session.add(row)
    elif keep_secret and secret is None:
        secret = row.secret
    row.provider, row.base_url, row.secret = provider, base_url, secret
    row.timeout_s, row.headers, row.updated_ms = timeout_s, headers, now_ms()
    session.flush()
    changes.add_server_wide(session, f"upstream:{name}", "gateway.upstream.put", actor,
             {"provider": provider, "base_url": base_url})
    return row


def delete_upstream(session: Session, name: str, actor: str = "") -> None:
    row = session.get(GatewayUpstream, name)
    if row is None:
        raise NotFound(f"gateway upstream {name!r} is not stored")
    session.delete(row)
    changes.add_server_wide(session, f"upstream:{name}", "gateway.upstream.delete", actor)


def list_routes(session: Session) -> list[GatewayRoute]:
    return list(session.scalars(select(GatewayRoute).order_by(GatewayRoute.alias)))


def put_route(session: Session, alias: str, spec: dict[str, Any], actor: str = ""
              ) -> GatewayRoute:
    row = session.get(GatewayRoute, alias)
    if row is None:
        row = GatewayRoute(alias=alias)
        session.add(row)
    row.spec, row.updated_ms = spec, now_ms()
    session.flush()
    changes.add_server_wide(session, f"route:{alias}", "gateway.route.put", actor, spec)
    return row


def delete_route(session: Session, alias: str, actor: str = "") -> None:
    row = session.get(GatewayRoute, alias)
    if row is None:
        raise NotFound(f"gateway route {alias!r} is not stored")
    session.delete(row)
    changes.add_server_wide(session, f"route:{alias}", "gateway.route.delete", actor)


def list_policies(session: Session) -> list[GatewayKeyPolicy]:
    return list(session.scalars(select(GatewayKeyPolicy)))


def get_policy(session: Session, key_id: str) -> GatewayKeyPolicy | None:
    return session.get(GatewayKeyPolicy, key_id)


def put_policy(session: Session, key_id: str, *, models: list[str] | None,
               budget_usd: float | None, budget_period: str, rpm: int | None,
               tpm: int | None, cache: bool) -> GatewayKeyPolicy:
    row = session.get(GatewayKeyPolicy, key_id)
    if row is None:
        row = GatewayKeyPolicy(key_id=key_id)
        session.add(row)
    row.allowed, row.budget_usd, row.budget_period = {"models": models}, budget_usd, budget_period
    row.rpm, row.tpm, row.cache, row.updated_ms = rpm, tpm, cache, now_ms()
    session.flush()
    return row


def delete_policy(session: Session, key_id: str) -> None:
    row = session.get(GatewayKeyPolicy, key_id)
    if row is None:
        raise NotFound(f"API key {key_id!r} has no gateway policy")
    session.delete(row)


def version(session: Session) -> tuple[int, ...]:
    """Moves whenever any gateway table changes, so replicas know to re-read them.
    Row counts catch deletions, the newest update time catches edits."""
    parts: list[int] = []
    for table in (GatewayUpstream, GatewayRoute, GatewayKeyPolicy):
        count, newest = session.execute(
            select(func.count(), func.coalesce(func.max(table.updated_ms), 0))).one()
        parts += [int(count), int(newest)]
    return tuple(parts)
