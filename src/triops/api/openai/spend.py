"""``GET /api/v1/gateway/spend``: what the gateway's calls cost, per key and per project,
and, with ``by``, summed per key, project, model, route or UTC day.

Read from the spend ledger, so it counts every call since the store was made, whether
or not a budget was set. A key sees its own project only: an admin of the project sees
every key of it, any other key its own spend and the project's total. The same holds
for ``by``: a project admin's groups cover the project, any other key's its own calls;
only a server admin's ``by=project`` covers every project.
"""

from __future__ import annotations

import re
import time
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.core.errors import InvalidInput, PermissionDenied
from triops.core.principals import Role
from triops.llm import period_start_s, visible_spend
from triops.llm import spend_store as repo
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/gateway", tags=["gateway"])

_UNIT_S = {"m": 60, "h": 3600, "d": 86_400}
_WINDOW = re.compile(r"^(\d{1,6})([mhd])$")


class Totals(BaseModel):
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class KeySpend(Totals):
    key_id: str
    budget_usd: float | None = Field(None, description="the key's budget, when it has one")
    budget_period: str | None = None


class GroupSpend(Totals):
    group: str = Field(description="the key id, project, model, route, or the UTC day's "
                                   "start in ms since the epoch")


class SpendOut(BaseModel):
    project: str
    window: str
    since_ms: int
    until_ms: int
    total: Totals = Field(description="every key of the project")
    keys: list[KeySpend] = Field(description="per key: every key for a project admin, "
                                             "the caller's own key otherwise")
    by: str | None = None
    groups: list[GroupSpend] = Field(default_factory=list, description=(
        "with ``by``: one entry per group, days oldest first, others dearest first"))


def window_start_s(window: str, now_s: float) -> float:
    """``day``, ``month``, ``total``: the calendar period budgets use (UTC); ``<n>m``,
    ``<n>h``, ``<n>d``: that long back from now."""
    if window in ("day", "month", "total"):
        return period_start_s(window, now_s)
    match = _WINDOW.match(window)
    if match is None:
        raise InvalidInput(f"window {window!r} is not day, month, total or a length such as "
                           "15m, 24h or 7d", code="invalid_window")
    return now_s - int(match.group(1)) * _UNIT_S[match.group(2)]


@router.get("/spend", response_model=SpendOut)
def get_spend(request: Request, caller: Caller = AsViewer,
              window: str = Query("month", description="day, month, total, or 15m, 24h, 7d"),
              key_id: str | None = Query(None, description="one key of the project only"),
              by: Literal["key", "project", "model", "route", "day"] | None = Query(
                  None, description="sum per key, project, model, route or UTC day"),
              ) -> SpendOut:
    now = time.time()
    since_ms, until_ms = int(window_start_s(window, now) * 1000), int(now * 1000) + 1
    own = caller.principal.key_id
    if not caller.principal.allows(Role.admin) and key_id not in (None, own):
        raise PermissionDenied("only an admin of the project may read another key's spend")
    runtime = runtime_of(request)
    gateway = runtime.gateway
    gateway.spend.ledger.flush()  # this replica's latest calls are in the store
    with runtime.db.read() as session:
        rows = repo.by_key(session, caller.project, since_ms, until_ms)
        groups = [] if by is None else _groups(session, caller, by, since_ms, until_ms, key_id)
    total = Totals(calls=sum(r.calls for r in rows),
                   prompt_tokens=sum(r.prompt_tokens for r in rows),
                   completion_tokens=sum(r.completion_tokens for r in rows),
                   cost_usd=sum(r.cost_usd for r in rows))
    wanted = key_id if key_id is not None else (
        None if caller.principal.allows(Role.admin) else own)
    keys = []
    for row in rows:
        if wanted is not None and row.key_id != wanted:
            continue
        policy = gateway.policy(row.key_id)
        keys.append(KeySpend(key_id=row.key_id, calls=row.calls,
                             prompt_tokens=row.prompt_tokens,
                             completion_tokens=row.completion_tokens, cost_usd=row.cost_usd,
                             budget_usd=policy.budget_usd,
                             budget_period=policy.budget_period
                             if policy.budget_usd is not None else None))
    return SpendOut(project=caller.project, window=window, since_ms=since_ms,
                    until_ms=until_ms, total=total, keys=keys, by=by, groups=groups)


def _groups(session, caller: Caller, by: str, since_ms: int, until_ms: int,  # type: ignore[no-untyped-def]
            key_id: str | None) -> list[GroupSpend]:
    rows = visible_spend(session, caller.principal, caller.project, by, since_ms, until_ms,
                         key_id)
    return [GroupSpend(group=r.group, calls=r.calls, prompt_tokens=r.prompt_tokens,
                       completion_tokens=r.completion_tokens, cost_usd=r.cost_usd)
            for r in rows]
