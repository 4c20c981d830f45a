"""Signals in, incidents out: the native API of the incident engine."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.requests import Request

from triops.api.native.causes import CauseOut, causes_of
from triops.core.ids import now_ms
from triops.core.signals import Pillar, Severity, Signal
from triops.ops import incident_store as repo
from triops.ops import incidents, ingest, resolve
from triops.server import audit_log as audit
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.store.schema import Incident, IncidentEvent, IncidentMember, IncidentSignal

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1", tags=["incidents"])


class SignalIn(BaseModel):
    source: Pillar
    kind: str = Field(..., min_length=1, max_length=128)
    subject: str = Field(..., min_length=1, max_length=512)
    severity: Literal["info", "warning", "error", "critical"] = "warning"
    value: float | None = None
    time_ms: int | None = Field(None, ge=0)
    labels: dict[str, str] = Field(default_factory=dict, max_length=64)
    summary: str = Field("", max_length=4096)
    annotations: dict[str, str] = Field(default_factory=dict, max_length=64)

    def to_signal(self) -> Signal:
        return Signal(
            source=self.source, kind=self.kind, subject=self.subject,
            severity=Severity[self.severity], value=self.value,
            time_ms=self.time_ms if self.time_ms is not None else now_ms(),
            labels=self.labels, summary=self.summary, annotations=self.annotations,
        )


class FoldedOut(BaseModel):
    incident_id: str
    opened: bool
    repeat: bool = Field(False, description="a re-sent copy of a signal the incident holds")
    reason: str = Field("", description="why a new fingerprint joined this incident")


class SignalOut(BaseModel):
    time_ms: int
    severity: str
    value: float | None
    summary: str
    labels: dict[str, str]
    fingerprint: str | None

    @classmethod
    def of(cls, row: IncidentSignal) -> SignalOut:
        return cls(time_ms=row.time_ms, severity=Severity(row.severity).name, value=row.value,
                   summary=row.summary, labels=row.labels, fingerprint=row.fingerprint)


class MemberOut(BaseModel):
    fingerprint: str
    source: str
    kind: str
    subject: str
    labels: dict[str, str]
    severity: str
    signal_count: int
    first_ms: int
    last_ms: int
    active: bool = Field(..., description="new signals of the fingerprint fold here")
    firing: bool = Field(..., description="its source has not resolved it")
    flap_count: int
    reason: str = Field(..., description="why it joined; empty for the opening fingerprint")

    @classmethod
    def of(cls, row: IncidentMember) -> MemberOut:
        return cls(fingerprint=row.fingerprint, source=row.source, kind=row.kind,
                   subject=row.subject, labels=row.labels,
                   severity=Severity(row.severity).name, signal_count=row.signal_count,
                   first_ms=row.first_ms, last_ms=row.last_ms, active=row.active,
                   firing=row.firing, flap_count=row.flap_count, reason=row.reason)


class EventOut(BaseModel):
    time_ms: int
    kind: str = Field(..., description="joined, reopened, flapping, merged or split")
    actor: str
    summary: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: IncidentEvent) -> EventOut:
        return cls(time_ms=row.time_ms, kind=row.kind, actor=row.actor, summary=row.summary,
                   detail=row.detail)


class ListedSignalOut(BaseModel):
    incident_id: str
    time_ms: int
    source: str
    kind: str
    subject: str
    severity: str
    value: float | None
    summary: str
    labels: dict[str, str]
    fingerprint: str | None

    @classmethod
    def of(cls, listed: repo.ListedSignal) -> ListedSignalOut:
        s = listed.signal
        return cls(incident_id=s.incident_id, time_ms=s.time_ms, source=listed.source,
                   kind=listed.kind, subject=listed.subject,
                   severity=Severity(s.severity).name, value=s.value, summary=s.summary,
                   labels=s.labels, fingerprint=s.fingerprint)


class IncidentOut(BaseModel):
    id: str
    status: str
    title: str
    source: str
    kind: str
    subject: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str] = Field(..., description="runbook_url, generatorURL, "
                                        "description... of its newest annotated signal")
    signal_count: int
    repeat_count: int = Field(..., description="re-sent copies of counted signals")
    first_ms: int
    last_ms: int
    acked_by: str | None
    resolved_ms: int | None
    flapping: bool
    merged_into: str | None
    signals: list[SignalOut] | None = None
    causes: list[CauseOut] | None = Field(None, description="probable causes, best first")
    members: list[MemberOut] | None = None
    timeline: list[EventOut] | None = None

    @classmethod
    def of(cls, row: Incident) -> IncidentOut:
        return cls(
            id=row.id, status=row.status, title=row.title, source=row.source, kind=row.kind,
            subject=row.subject, severity=Severity(row.severity).name, labels=row.labels,
            annotations=row.annotations,
            signal_count=row.signal_count, repeat_count=row.repeat_count, first_ms=row.first_ms, last_ms=row.last_ms,
            acked_by=row.acked_by, resolved_ms=row.resolved_ms, flapping=row.flapping,
            merged_into=row.merged_into,
        )

    @classmethod
    def full(cls, session: Session, row: Incident) -> IncidentOut:
        out = cls.of(row)
        out.signals = [SignalOut.of(s) for s in repo.signals_of(session, row.id)]
        out.members = [MemberOut.of(m) for m in repo.members_of(session, row.id)]
        out.timeline = [EventOut.of(e) for e in repo.events_of(session, row.id)]
        return out


class MergeIn(BaseModel):
    into: str = Field(..., min_length=1, max_length=32, description="the incident to merge into")


class SplitIn(BaseModel):
    fingerprints: list[str] = Field(..., min_length=1, max_length=1000,
                                    description="member fingerprints to move to a new incident")


@router.post("/signals", response_model=FoldedOut, status_code=201)
def post_signal(body: SignalIn, request: Request, caller: Caller = AsEditor) -> FoldedOut:
    with runtime_of(request).db.write() as session:
        folded = ingest(session, caller.project, body.to_signal())
    return FoldedOut(incident_id=folded.incident_id, opened=folded.opened,
                     repeat=folded.repeat, reason=folded.reason)


@router.get("/signals", response_model=list[ListedSignalOut])
def list_signals(
    request: Request,
    since_ms: int | None = Query(None, ge=0, description="from this time (inclusive)"),
    until_ms: int | None = Query(None, ge=0, description="before this time"),
    severity: Literal["info", "warning", "error", "critical"] | None = Query(
        None, description="this severity or worse"),
    fingerprint: str | None = Query(None, max_length=64),
    limit: int = Query(100, ge=1, le=1000),
    caller: Caller = AsViewer,
) -> list[ListedSignalOut]:
    """Signals the project's incidents hold, newest first, with the incident of each."""
    with runtime_of(request).db.read() as session:
        rows = repo.recent_signals(
            session, caller.project, since_ms=since_ms, until_ms=until_ms,
            min_severity=Severity[severity] if severity else None, fingerprint=fingerprint,
            limit=limit)
        return [ListedSignalOut.of(r) for r in rows]


@router.get("/incidents", response_model=list[IncidentOut])
def list_incidents(
    request: Request,
    status: str | None = Query(None, description="open, acknowledged or resolved"),
    limit: int = Query(100, ge=1, le=1000),
    id_prefix: str | None = Query(None, max_length=32,
                                  description="only incidents whose id starts with this"),
    caller: Caller = AsViewer,
) -> list[IncidentOut]:
    with runtime_of(request).db.read() as session:
        rows = repo.list_incidents(session, caller.project, status, limit, id_prefix)
        return [IncidentOut.of(r) for r in rows]


@router.get("/incidents/{incident_id}", response_model=IncidentOut)
def get_incident(incident_id: str, request: Request, caller: Caller = AsViewer) -> IncidentOut:
    with runtime_of(request).db.read() as session:
        out = IncidentOut.full(session, repo.get(session, caller.project, incident_id))
    out.causes = causes_of(runtime_of(request), caller.project, incident_id)
    return out


@router.post("/incidents/{incident_id}/ack", response_model=IncidentOut)
def ack_incident(incident_id: str, request: Request, caller: Caller = AsEditor) -> IncidentOut:
    with runtime_of(request).db.write() as session:
        row = repo.acknowledge(session, caller.project, incident_id, caller.actor)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="incident.ack", target=incident_id)
        return IncidentOut.of(row)


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentOut)
def resolve_incident(
    incident_id: str, request: Request, caller: Caller = AsEditor
) -> IncidentOut:
    with runtime_of(request).db.write() as session:
        row = resolve(session, caller.project, incident_id)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="incident.resolve", target=incident_id)
        return IncidentOut.of(row)


@router.post("/incidents/{incident_id}/merge", response_model=IncidentOut)
def merge_incident(
    incident_id: str, body: MergeIn, request: Request, caller: Caller = AsEditor
) -> IncidentOut:
    """Fold this incident into ``into``; answers the incident merged into."""
    with runtime_of(request).db.write() as session:
        row = incidents.merge(session, caller.project, incident_id, body.into, caller.actor)
        return IncidentOut.full(session, row)


@router.post("/incidents/{incident_id}/split", response_model=IncidentOut, status_code=201)
def split_incident(
    incident_id: str, body: SplitIn, request: Request, caller: Caller = AsEditor
) -> IncidentOut:
    """Move member fingerprints to a new incident; answers the new incident."""
    with runtime_of(request).db.write() as session:
        row = incidents.split(session, caller.project, incident_id, body.fingerprints,
                              caller.actor)
        return IncidentOut.full(session, row)
