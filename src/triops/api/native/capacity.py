"""Capacity rules and projections: ``/api/v1/capacity/rules`` (editors write) and
``/api/v1/capacity/forecasts?series=`` (the forecast, its interval and each matching
rule's expected crossing)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.core.errors import NotFound
from triops.core.ids import now_ms
from triops.ops.capacity import CapacityRule, forecast_of
from triops.ops.capacity import capacity_store as repo
from triops.server import audit_log as audit
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/capacity", tags=["capacity"])


class RuleIn(BaseModel):
    metric: str = Field(..., min_length=1, max_length=200)
    labels: dict[str, str] = Field(default_factory=dict, max_length=32)
    value: float | None = Field(None, description="absolute threshold")
    percent: float | None = Field(None, gt=0, description="threshold as a percent of a limit")
    limit_series: str | None = Field(None, max_length=200)
    limit_label: str | None = Field(None, max_length=100)
    direction: Literal["above", "below"] = "above"
    horizon: str | int = Field("7d", description="e.g. 36h, 7d")
    min_history: str | int = "1h"
    trend_window: str | int = "1d"
    lookback: str | int = "3d"
    use_interval: bool = False
    subject: str = Field("", max_length=200, description='e.g. "disk {mountpoint} on {host_name}"')


class RuleOut(BaseModel):
    name: str
    spec: dict[str, Any]
    updated_by: str
    updated_ms: int


class CrossingOut(BaseModel):
    rule: str
    threshold: float
    crossing_ms: int | None
    eta_hours: float | None
    from_interval: bool


class ForecastPoint(BaseModel):
    ts_ms: int
    forecast: float
    lo: float
    hi: float


class ForecastOut(BaseModel):
    series: str
    origin_ms: int
    slope_per_hour: float
    rules: list[CrossingOut]
    points: list[ForecastPoint]


@router.put("/rules/{name}", response_model=RuleOut)
def put_rule(name: str, body: RuleIn, request: Request, caller: Caller = AsEditor) -> RuleOut:
    rule = CapacityRule.of(name, body.model_dump(exclude_none=True))
    with runtime_of(request).db.write() as session:
        row = repo.put_rule(session, caller.project, name, rule.spec(), caller.actor, now_ms())
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="capacity.rule.put", target=f"capacity_rule:{name}", detail={})
        return RuleOut(name=row.name, spec=row.spec, updated_by=row.updated_by,
                       updated_ms=row.updated_ms)


@router.get("/rules", response_model=list[RuleOut])
def list_rules(request: Request, caller: Caller = AsViewer) -> list[RuleOut]:
    with runtime_of(request).db.read() as session:
        return [RuleOut(name=r.name, spec=r.spec, updated_by=r.updated_by,
                        updated_ms=r.updated_ms) for r in repo.list_rules(session, caller.project)]


@router.delete("/rules/{name}")
def delete_rule(name: str, request: Request, caller: Caller = AsEditor) -> dict[str, str]:
    with runtime_of(request).db.write() as session:
        repo.delete_rule(session, caller.project, name)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="capacity.rule.delete", target=f"capacity_rule:{name}", detail={})
    return {"deleted": name}


@router.get("/forecasts", response_model=ForecastOut)
def get_forecast(request: Request, series: str = Query(..., max_length=1000),
                 caller: Caller = AsViewer) -> ForecastOut:
    """The projection of the series under each rule that matches it (the longest horizon
    is drawn); 404 when no rule matches or the history is still too short."""
    with runtime_of(request).db.read() as session:
        found = forecast_of(session, caller.project, series)
    if not found:
        raise NotFound(f"no capacity rule projects series {series!r} yet (no rule matches, "
                       "or its history is shorter than the rule's min_history)")
    longest = found[0].projection
    return ForecastOut(
        series=series, origin_ms=longest.origin_ms, slope_per_hour=longest.slope_per_hour,
        rules=[CrossingOut(rule=a.rule.name, threshold=a.threshold, crossing_ms=a.crossing_ms,
                           eta_hours=a.eta_hours, from_interval=a.from_interval) for a in found],
        points=[ForecastPoint(ts_ms=int(t), forecast=float(m), lo=float(lo), hi=float(hi))
                for t, m, lo, hi in zip(longest.times_ms, longest.mean, longest.lo, longest.hi,
                                        strict=True)])
