"""Change events: what changed, when, by whom — recorded by triops or posted from CI/CD."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.core.errors import InvalidInput
from triops.ops import changes
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1", tags=["changes"])

#: Dates before 2000 or after 2200 are typing mistakes, not deploy times.
_EARLIEST_MS, _LATEST_MS = 946_684_800_000, 7_258_118_400_000


def _ms(value: str | int | None) -> int | None:
    """Epoch milliseconds or an RFC 3339 date-time → ms."""
    if value is None or value == "":
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        ms = int(value)
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise InvalidInput(f"time {value!r} is neither epoch milliseconds nor an "
                               "RFC 3339 date-time such as 2025-01-31T12:00:00Z") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        ms = int(moment.timestamp() * 1000)
    if not _EARLIEST_MS <= ms <= _LATEST_MS:
        raise InvalidInput(f"time {value!r} is outside the years 2000-2200")
    return ms


class ChangeIn(BaseModel):
    """A deploy marker: which service changed to which version, from which commit."""

    service: str = Field(..., min_length=1, max_length=256,
                         description="the service name, or a whole entity key such as "
                                     "endpoint:churn")
    version: str = Field("", max_length=256)
    commit: str = Field("", max_length=128)
    who: str = Field("", max_length=256, description="defaults to the calling key")
    when: str | int | None = Field(None, description="epoch ms or RFC 3339; default now")
    description: str = Field("", max_length=4096)
    kind: str = Field("deploy", min_length=1, max_length=64)
    attributes: dict[str, str] = Field(default_factory=dict, max_length=32)

    def entity(self) -> str:
        return self.service if ":" in self.service else f"service:{self.service}"


class ChangeOut(BaseModel):
    id: int
    entity: str
    kind: str
    summary: str
    version: str
    commit: str
    actor: str
    time_ms: int
    source: str = Field(..., description="triops (recorded by triops) or external")
    attributes: dict[str, object]

    @classmethod
    def of(cls, change: changes.Change) -> ChangeOut:
        return cls(id=change.id, entity=change.entity, kind=change.kind,
                   summary=change.summary, version=change.version, commit=change.commit,
                   actor=change.actor, time_ms=change.time_ms, source=change.source,
                   attributes=change.attributes)


@router.post("/changes", response_model=ChangeOut, status_code=201)
def post_change(body: ChangeIn, request: Request, caller: Caller = AsEditor) -> ChangeOut:
    entity, when = body.entity(), _ms(body.when)
    summary = body.description or " ".join(
        p for p in (entity, "deployed", body.version, body.commit and f"({body.commit})") if p)
    with runtime_of(request).db.write() as session:
        added = changes.add_external(session, caller.project, changes.NewChange(
            entity=entity, kind=body.kind, summary=summary, version=body.version,
            commit=body.commit, actor=body.who or caller.actor, time_ms=when,
            attributes=dict(body.attributes)))
    return ChangeOut.of(added)


@router.get("/changes", response_model=list[ChangeOut])
def list_changes(
    request: Request,
    entity: Annotated[list[str] | None, Query(
        description="entity keys, e.g. service:checkout")] = None,
    since: str | None = Query(None, description="epoch ms or RFC 3339"),
    until: str | None = Query(None, description="epoch ms or RFC 3339"),
    limit: int = Query(500, ge=1, le=5000),
    caller: Caller = AsViewer,
) -> list[ChangeOut]:
    with runtime_of(request).db.read() as session:
        found = changes.search(session, caller.project, entities=entity,
                               since_ms=_ms(since), until_ms=_ms(until), limit=limit)
    return [ChangeOut.of(c) for c in found]
