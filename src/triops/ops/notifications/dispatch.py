"""Incident changes → deliveries in the outbox, in the caller's transaction.

Every route whose matchers match the incident's labels gets the event. Incidents of one
route that share the values of its ``group_by`` labels are one group: while the group's
message waits out ``group_wait_s`` (and no attempt has started), new incidents of the
group join it instead of making a message of their own. A resolve message goes out only
on routes with ``send_resolved`` that announced the incident firing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from sqlalchemy.orm import Session

from triops.core.ids import now_ms
from triops.ops.notifications.matchers import matches_all, parse_matchers
from triops.ops.notifications.messages import FIRING, RESOLVED, labels_of
from triops.store.repos import incidents as incident_repo
from triops.store.repos import notifications as repo
from triops.store.schema_notifications import NotifyRoute


def group_key(route: NotifyRoute, labels: Mapping[str, str]) -> str:
    return ",".join(f"{name}={labels.get(name, '')}" for name in route.group_by)


def group_labels(key: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in key.split(",")) if key else {}


def notify_incident(session: Session, project: str, incident_id: str, event: str) -> int:
    """Queue the event (``firing`` for opened or escalated, ``resolved``) on every
    matching route; returns how many routes took it."""
    incident = incident_repo.get(session, project, incident_id)
    labels = labels_of(incident)
    taken = 0
    for route in repo.list_routes(session, project):
        if not matches_all(parse_matchers(route.matchers), labels):
            continue
        if event == RESOLVED and not (route.send_resolved
                                      and repo.has_fired(session, project, route.name,
                                                         incident_id)):
            continue
        _enqueue(session, route, group_key(route, labels), event, [incident_id],
                 now_ms() + route.group_wait_s * 1000)
        taken += 1
    return taken


def enqueue_repeats(session: Session, now: int) -> int:
    """Re-announce every group with active incidents whose last firing message is older
    than its route's ``repeat_interval_s``; returns how many messages were queued."""
    queued = 0
    routes_by_project: dict[str, list[NotifyRoute]] = defaultdict(list)
    for route in repo.routes_that_repeat(session):
        routes_by_project[route.project].append(route)
    for project, routes in routes_by_project.items():
        active = [(i.id, labels_of(i)) for i in repo.active_incidents(session, project)]
        for route in routes:
            matchers = parse_matchers(route.matchers)
            groups: dict[str, list[str]] = defaultdict(list)
            for incident_id, labels in active:
                if matches_all(matchers, labels):
                    groups[group_key(route, labels)].append(incident_id)
            for key, ids in groups.items():
                last = repo.last_fired_ms(session, project, route.name, key)
                if last is not None and now - last >= route.repeat_interval_s * 1000:
                    _enqueue(session, route, key, FIRING, ids, now)
                    queued += 1
    return queued


def _enqueue(session: Session, route: NotifyRoute, key: str, event: str,
             incident_ids: list[str], due_ms: int) -> None:
    delivery = repo.open_group_delivery(session, route.project, route.name, key, event)
    if delivery is None:
        delivery = repo.add_delivery(session, route.project, route.name, route.channel, key,
                                     event, due_ms)
    for incident_id in incident_ids:
        repo.link(session, delivery.id, incident_id)
