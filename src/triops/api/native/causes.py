"""The probable causes of an incident, best first, with the evidence for each."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.ops.causes import ProbableCause
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import Runtime, runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1", tags=["incidents"])


class CauseOut(BaseModel):
    entity: str = Field(..., description="topology node key, e.g. model:churn@champion")
    kind: str = Field(..., description="the change's kind, or metric_anomaly")
    score: float = Field(..., ge=0.0, le=1.0)
    evidence: str
    change_id: str | None = None

    @classmethod
    def of(cls, cause: ProbableCause) -> CauseOut:
        return cls(entity=cause.entity, kind=cause.kind, score=cause.score,
                   evidence=cause.evidence, change_id=cause.change_id)


def causes_of(runtime: Runtime, project: str, incident_id: str) -> list[CauseOut]:
    with runtime.db.read() as session:
        return [CauseOut.of(c) for c in runtime.causes.causes(session, project, incident_id)]


@router.get("/incidents/{incident_id}/causes", response_model=list[CauseOut])
def get_causes(incident_id: str, request: Request, caller: Caller = AsViewer) -> list[CauseOut]:
    return causes_of(runtime_of(request), caller.project, incident_id)
