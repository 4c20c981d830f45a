"""Notification channels, routes, silences and the delivery outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput, NotFound
from triops.core.ids import new_id, now_ms
from triops.store.schema import ACTIVE_STATUSES, Incident
from triops.store.schema_notifications import (
    NotifyChannel,
    NotifyDelivery,
    NotifyDeliveryIncident,
    NotifyRoute,
    NotifySilence,
)

PENDING, SENT, FAILED, SILENCED = "pending", "sent", "failed", "silenced"
DELIVERY_STATUSES = (PENDING, SENT, FAILED, SILENCED)


# -- channels ---------------------------------------------------------------------------

def put_channel(session: Session, project: str, name: str, kind: str, config: dict[str, Any],
                secret: str | None, keep_secret: bool) -> NotifyChannel:
    """Create or replace; with ``keep_secret`` a stored secret survives an update."""
    row = session.get(NotifyChannel, (project, name))
    if row is None:
        row = NotifyChannel(project=project, name=name, created_ms=now_ms())
        session.add(row)
    elif keep_secret and secret is None:
        secret = row.secret
    row.kind, row.config, row.secret = kind, config, secret
    return row


def get_channel(session: Session, project: str, name: str) -> NotifyChannel:
    row = session.get(NotifyChannel, (project, name))
    if row is None:
        raise NotFound(f"notification channel {name!r} does not exist in project {project!r}")
    return row


def list_channels(session: Session, project: str) -> list[NotifyChannel]:
    query = select(NotifyChannel).where(NotifyChannel.project == project)
    return list(session.scalars(query.order_by(NotifyChannel.name)))


def delete_channel(session: Session, project: str, name: str) -> None:
    users = session.scalars(select(NotifyRoute.name).where(
        NotifyRoute.project == project, NotifyRoute.channel == name)).all()
    if users:
        raise InvalidInput(f"channel {name!r} is used by route(s) {', '.join(users)}; "
                           "delete or re-point them first")
    session.delete(get_channel(session, project, name))


# -- routes -----------------------------------------------------------------------------

def put_route(session: Session, project: str, name: str, *, channel: str, matchers: list[str],
              group_by: list[str], group_wait_s: int, repeat_interval_s: int,
              send_resolved: bool) -> NotifyRoute:
    get_channel(session, project, channel)
    row = session.get(NotifyRoute, (project, name))
    if row is None:
        row = NotifyRoute(project=project, name=name, created_ms=now_ms())
        session.add(row)
    row.channel, row.matchers, row.group_by = channel, matchers, group_by
    row.group_wait_s, row.repeat_interval_s = group_wait_s, repeat_interval_s
    row.send_resolved = send_resolved
    return row


def list_routes(session: Session, project: str) -> list[NotifyRoute]:
    query = select(NotifyRoute).where(NotifyRoute.project == project)
    return list(session.scalars(query.order_by(NotifyRoute.name)))


def routes_that_repeat(session: Session) -> list[NotifyRoute]:
    return list(session.scalars(select(NotifyRoute).where(NotifyRoute.repeat_interval_s > 0)))


def delete_route(session: Session, project: str, name: str) -> None:
    row = session.get(NotifyRoute, (project, name))
    if row is None:
        raise NotFound(f"notification route {name!r} does not exist in project {project!r}")
    session.delete(row)


# -- silences ---------------------------------------------------------------------------

def add_silence(session: Session, project: str, matchers: list[str], starts_ms: int,
                ends_ms: int, created_by: str, comment: str) -> NotifySilence:
    if ends_ms <= starts_ms:
        raise InvalidInput("a silence must end after it starts")
    row = NotifySilence(id=new_id(), project=project, matchers=matchers, starts_ms=starts_ms,
                        ends_ms=ends_ms, created_by=created_by, comment=comment,
                        created_ms=now_ms())
    session.add(row)
    return row


def list_silences(session: Session, project: str, *, active_at: int | None = None
                  ) -> list[NotifySilence]:
    query = select(NotifySilence).where(NotifySilence.project == project)
    if active_at is not None:
        query = query.where(NotifySilence.starts_ms <= active_at,
                            NotifySilence.ends_ms > active_at)
    return list(session.scalars(query.order_by(NotifySilence.ends_ms.desc())))


def expire_silence(session: Session, project: str, silence_id: str) -> NotifySilence:
    row = session.get(NotifySilence, silence_id)
    if row is None or row.project != project:
        raise NotFound(f"silence {silence_id!r} does not exist")
    moment = now_ms()
    row.ends_ms = min(row.ends_ms, moment)
    row.starts_ms = min(row.starts_ms, row.ends_ms)
    return row


# -- deliveries -------------------------------------------------------------------------

def open_group_delivery(session: Session, project: str, route: str, group_key: str,
                        event: str) -> NotifyDelivery | None:
    """The group's delivery not yet tried, if any: new incidents of the group join it."""
    query = select(NotifyDelivery).where(
        NotifyDelivery.project == project, NotifyDelivery.route == route,
        NotifyDelivery.group_key == group_key, NotifyDelivery.event == event,
        NotifyDelivery.status == PENDING, NotifyDelivery.attempts == 0,
        NotifyDelivery.lease_owner.is_(None),
    ).with_for_update()
    return session.scalars(query.limit(1)).first()


def add_delivery(session: Session, project: str, route: str, channel: str, group_key: str,
                 event: str, due_ms: int) -> NotifyDelivery:
    row = NotifyDelivery(id=new_id(), project=project, route=route, channel=channel,
                         group_key=group_key, event=event, status=PENDING, attempts=0,
                         last_error="", next_ms=due_ms, created_ms=now_ms())
    session.add(row)
    session.flush()
    return row


def link(session: Session, delivery_id: str, incident_id: str) -> None:
    if session.get(NotifyDeliveryIncident, (delivery_id, incident_id)) is None:
        session.add(NotifyDeliveryIncident(delivery_id=delivery_id, incident_id=incident_id))


def incident_ids(session: Session, delivery_id: str) -> list[str]:
    query = select(NotifyDeliveryIncident.incident_id).where(
        NotifyDeliveryIncident.delivery_id == delivery_id)
    return sorted(session.scalars(query))


def incidents_of(session: Session, delivery: NotifyDelivery) -> list[Incident]:
    query = select(Incident).join(
        NotifyDeliveryIncident, NotifyDeliveryIncident.incident_id == Incident.id
    ).where(NotifyDeliveryIncident.delivery_id == delivery.id,
            Incident.project == delivery.project)
    return list(session.scalars(query.order_by(Incident.first_ms, Incident.id)))


def has_fired(session: Session, project: str, route: str, incident_id: str) -> bool:
    """Whether a firing message about the incident went (or is going) out on the route."""
    query = select(NotifyDelivery.id).join(
        NotifyDeliveryIncident, NotifyDeliveryIncident.delivery_id == NotifyDelivery.id
    ).where(NotifyDelivery.project == project, NotifyDelivery.route == route,
            NotifyDelivery.event == "firing", NotifyDelivery.status.in_((PENDING, SENT)),
            NotifyDeliveryIncident.incident_id == incident_id)
    return session.scalar(query.limit(1)) is not None


def last_fired_ms(session: Session, project: str, route: str, group_key: str) -> int | None:
    query = select(func.max(NotifyDelivery.created_ms)).where(
        NotifyDelivery.project == project, NotifyDelivery.route == route,
        NotifyDelivery.group_key == group_key, NotifyDelivery.event == "firing")
    return session.scalar(query)


def active_incidents(session: Session, project: str) -> list[Incident]:
    query = select(Incident).where(Incident.project == project,
                                   Incident.status.in_(ACTIVE_STATUSES))
    return list(session.scalars(query.order_by(Incident.first_ms, Incident.id)))


def claim_due(session: Session, now: int, owner: str, lease_ms: int, limit: int) -> list[str]:
    """Lease up to ``limit`` due deliveries to ``owner``; rows another replica holds under
    a live lease are skipped (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite's
    ``BEGIN IMMEDIATE`` already lets one writer at a time claim)."""
    query = select(NotifyDelivery.id).where(
        NotifyDelivery.status == PENDING, NotifyDelivery.next_ms <= now,
        or_(NotifyDelivery.lease_until_ms.is_(None), NotifyDelivery.lease_until_ms < now),
    ).order_by(NotifyDelivery.next_ms).limit(limit).with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if ids:
        session.execute(update(NotifyDelivery).where(NotifyDelivery.id.in_(ids)).values(
            lease_owner=owner, lease_until_ms=now + lease_ms))
    return ids


def release_others(session: Session, owner: str) -> int:
    """Free the pending deliveries leased to workers other than ``owner``. Called by the
    worker that has just taken the notifications lease: every other worker has lost it,
    so their rows' leases belong to a dead holder and would only delay a resend."""
    done = session.execute(update(NotifyDelivery).where(
        NotifyDelivery.status == PENDING, NotifyDelivery.lease_owner.is_not(None),
        NotifyDelivery.lease_owner != owner).values(lease_owner=None, lease_until_ms=None))
    return done.rowcount


def finish(session: Session, delivery_id: str, owner: str, *, status: str, error: str,
           attempted: bool, next_ms: int | None = None) -> bool:
    """Record an attempt's outcome and release the lease; False when the lease was lost
    (another replica took the row over after it expired)."""
    values: dict[str, Any] = {"status": status, "last_error": error[:4000],
                              "lease_owner": None, "lease_until_ms": None}
    if attempted:
        values["attempts"] = NotifyDelivery.attempts + 1
    if status == SENT:
        values["sent_ms"] = now_ms()
    if next_ms is not None:
        values["next_ms"] = next_ms
    done = session.execute(update(NotifyDelivery).where(
        NotifyDelivery.id == delivery_id, NotifyDelivery.lease_owner == owner).values(**values))
    return done.rowcount == 1


def list_deliveries(session: Session, project: str, *, status: str | None = None,
                    incident_id: str | None = None, limit: int = 100) -> list[NotifyDelivery]:
    query = select(NotifyDelivery).where(NotifyDelivery.project == project)
    if status is not None:
        if status not in DELIVERY_STATUSES:
            raise InvalidInput(f"status {status!r} is not one of: {', '.join(DELIVERY_STATUSES)}")
        query = query.where(NotifyDelivery.status == status)
    if incident_id is not None:
        query = query.where(NotifyDelivery.id.in_(select(NotifyDeliveryIncident.delivery_id)
                            .where(NotifyDeliveryIncident.incident_id == incident_id)))
    query = query.order_by(NotifyDelivery.created_ms.desc(), NotifyDelivery.id.desc())
    return list(session.scalars(query.limit(limit)))


def get_delivery(session: Session, delivery_id: str) -> NotifyDelivery | None:
    return session.get(NotifyDelivery, delivery_id)

