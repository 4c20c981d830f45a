"""The gateway's live configuration: triops.toml merged with what the API stored.

Stored upstreams and routes win over file ones of the same name. A snapshot is
rebuilt whole and swapped in, so a request always sees one consistent table.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr, ValidationError

from triops.core.errors import InvalidInput
from triops.core.gateway_settings import GatewaySettings, RouteConfig, UpstreamConfig
from triops.llm.gateway.limits import KeyPolicy
from triops.llm.gateway.routing import RouteTable
from triops.store.engine import Database
from triops.store.repos import llm_gateway as repo
from triops.store.schema_llm_gateway import GatewayKeyPolicy, GatewayRoute, GatewayUpstream


@dataclass(frozen=True)
class Snapshot:
    table: RouteTable
    policies: dict[str, KeyPolicy]
    version: tuple[int, ...]


def upstream_of(row: GatewayUpstream) -> UpstreamConfig:
    return UpstreamConfig(name=row.name, provider=row.provider, base_url=row.base_url,
                          api_key=SecretStr(row.secret) if row.secret else None,
                          timeout_s=row.timeout_s, headers=dict(row.headers or {}))


def route_of(row: GatewayRoute) -> RouteConfig:
    try:
        return RouteConfig(alias=row.alias, **row.spec)
    except ValidationError as exc:
        raise InvalidInput(f"stored route {row.alias!r} is invalid: {exc}") from None


def policy_of(row: GatewayKeyPolicy) -> KeyPolicy:
    models = (row.allowed or {}).get("models")
    return KeyPolicy(key_id=row.key_id,
                     allowed_models=tuple(models) if models is not None else None,
                     budget_usd=row.budget_usd, budget_period=row.budget_period,
                     rpm=row.rpm, tpm=row.tpm, cache=row.cache)


def build_table(settings: GatewaySettings, upstreams: list[UpstreamConfig],
                routes: list[RouteConfig]) -> RouteTable:
    merged_upstreams = {u.name: u for u in settings.upstreams}
    merged_upstreams.update({u.name: u for u in upstreams})
    merged_routes = {r.alias: r for r in settings.routes}
    merged_routes.update({r.alias: r for r in routes})
    return RouteTable(merged_upstreams.values(), merged_routes.values(), settings.timeout_s)


def load(db: Database, settings: GatewaySettings) -> Snapshot:
    with db.read() as session:
        version = repo.version(session)
        upstreams = [upstream_of(r) for r in repo.list_upstreams(session)]
        routes = [route_of(r) for r in repo.list_routes(session)]
        policies = {r.key_id: policy_of(r) for r in repo.list_policies(session)}
    return Snapshot(table=build_table(settings, upstreams, routes), policies=policies,
                    version=version)


def current_version(db: Database) -> tuple[int, ...]:
    with db.read() as session:
        return repo.version(session)
