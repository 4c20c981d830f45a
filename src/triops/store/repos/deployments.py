"""Serving endpoints: create, read, list, update, delete."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triops.core.errors import AlreadyExists, NotFound
from triops.core.ids import now_ms
from triops.store.repos import changes
from triops.store.schema_deployments import ServingEndpoint


@dataclass(frozen=True)
class EndpointSpec:
    """What a deployment says; the repository stores it as one row."""

    name: str
    model_name: str
    model_ref: str
    policy: dict[str, Any] = field(default_factory=dict)
    max_batch_size: int = 32
    max_wait_ms: float = 2.0
    log_sample_rate: float = 1.0
    trust_pickle: bool = False
    #: Extra skops types an admin trusted; with ``trust_pickle``, granted only for the
    #: files whose SHA-256 is in ``trusted_files`` (filled in at deploy).
    trusted_types: tuple[str, ...] = ()
    trusted_files: tuple[str, ...] = ()


def _apply(row: ServingEndpoint, spec: EndpointSpec) -> None:
    row.model_name = spec.model_name
    row.model_ref = spec.model_ref
    row.policy = dict(spec.policy)
    row.max_batch_size = spec.max_batch_size
    row.max_wait_ms = spec.max_wait_ms
    row.log_sample_rate = spec.log_sample_rate
    row.trust_pickle = spec.trust_pickle
    row.trusted_types = list(spec.trusted_types)
    row.trusted_files = list(spec.trusted_files)


def create(session: Session, project: str, spec: EndpointSpec, actor: str,
           replace: bool = False) -> ServingEndpoint:
    row = session.get(ServingEndpoint, (project, spec.name))
    now = now_ms()
    if row is not None and not replace:
        raise AlreadyExists(f"endpoint '{spec.name}' exists already; delete it first or "
                            "deploy with replace")
    before = _traffic(row) if row is not None else None
    if row is None:
        row = ServingEndpoint(project=project, name=spec.name, created_by=actor,
                              created_ms=now, updated_ms=now)
        session.add(row)
    _apply(row, spec)
    row.updated_ms = now
    session.flush()
    _record_traffic(session, project, spec.name, before, _traffic(row), actor, now)
    return row


def _traffic(row: ServingEndpoint) -> dict[str, Any]:
    """What decides where an endpoint's requests go."""
    return {"model": row.model_name, "ref": row.model_ref, "policy": dict(row.policy or {})}


def _record_traffic(session: Session, project: str, name: str, before: dict[str, Any] | None,
                    after: dict[str, Any], actor: str, now: int) -> None:
    """One change per deployment whose traffic moved: deployed, shifted, or rolled back
    (back to what it served before its latest change)."""
    if before == after:
        return
    entity = f"endpoint:{name}"
    target = f"{after['model']}@{after['ref'].lstrip('@')}"
    if before is None:
        kind, summary = "endpoint.deployed", f"endpoint {name} deployed serving {target}"
    else:
        last = changes.latest(session, project, entity)
        rollback = last is not None and (last.attributes or {}).get("from") == after
        kind = "endpoint.rolled_back" if rollback else "endpoint.traffic_shifted"
        summary = (f"endpoint {name} {'rolled back' if rollback else 'traffic shifted'} "
                   f"to {target}")
    changes.add(session, project, changes.NewChange(
        entity=entity, kind=kind, summary=summary, version=after["ref"], actor=actor,
        time_ms=now, attributes={"from": before, "to": after}))


def get(session: Session, project: str, name: str) -> ServingEndpoint:
    row = session.get(ServingEndpoint, (project, name))
    if row is None:
        raise NotFound(f"endpoint '{name}' does not exist in project '{project}'")
    return row


def find(session: Session, project: str, name: str) -> ServingEndpoint | None:
    return session.get(ServingEndpoint, (project, name))


def list_all(session: Session, project: str) -> list[ServingEndpoint]:
    query = select(ServingEndpoint).where(ServingEndpoint.project == project)
    return list(session.scalars(query.order_by(ServingEndpoint.name)))


def delete(session: Session, project: str, name: str, actor: str = "") -> None:
    session.delete(get(session, project, name))
    changes.add(session, project, changes.NewChange(
        entity=f"endpoint:{name}", kind="endpoint.deleted", summary=f"endpoint {name} deleted",
        actor=actor))


def spec_of(row: ServingEndpoint) -> EndpointSpec:
    return EndpointSpec(
        name=row.name, model_name=row.model_name, model_ref=row.model_ref,
        policy=dict(row.policy or {}), max_batch_size=row.max_batch_size,
        max_wait_ms=row.max_wait_ms, log_sample_rate=row.log_sample_rate,
        trust_pickle=row.trust_pickle, trusted_types=tuple(row.trusted_types or ()),
        trusted_files=tuple(row.trusted_files or ()))
