"""The incident engine: fold signals into incidents, correlate, merge and split.

Each fingerprint has at most one live home: a member of an active (open or
acknowledged) incident. A signal of a fingerprint with a home folds there while that
incident saw a signal within ``window_ms``; later than that it resolves the quiet
incident and starts over. A signal of a fingerprint without a home

* reopens the incident its source resolved it in, when it fires again within the flap
  window (after ``Rules.flap_threshold`` such re-fires the incident is marked flapping);
* else joins the active incident it correlates with (see :mod:`triops.ops.correlation`),
  with the reason stored on the new member and in the incident's timeline;
* else opens a new incident.

A re-sent copy of a signal the incident holds (same fingerprint, time and value) only
raises the incident's ``repeat_count``.

Many writers may fold signals at the same moment (replicas, request threads). Two unique
partial indexes arbitrate: one on active incidents per opening fingerprint, one on live
members per fingerprint. Of writers racing to open or join for one fingerprint exactly
one inserts; the others see the conflict, find the new home and fold into it. Every
change to an incident and its members happens under that incident's row lock, so no
signal is lost and no fingerprint gets a second home.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from triops.core.errors import Conflict, InvalidInput
from triops.core.ids import new_id, now_ms
from triops.core.signals import Signal
from triops.ops.correlation import (
    DEFAULT_RULES,
    Member,
    Rules,
    TopologyView,
    best_join,
    incident_labels,
)
from triops.ops.notifications import FIRING, RESOLVED, notify_incident
from triops.store.repos import audit
from triops.store.repos import incidents as repo
from triops.store.repos import runbooks as runbook_queue
from triops.store.schema import Incident, IncidentMember

#: Signals of one fingerprint more than this far apart open separate incidents.
DEFAULT_FOLD_WINDOW_MS = 60 * 60 * 1000


@dataclass(frozen=True)
class Folded:
    incident_id: str
    opened: bool
    #: The signal was a re-sent copy of one the incident holds; only its repeats rose.
    repeat: bool = False
    #: Why a new fingerprint joined this incident ("" when it did not join one).
    reason: str = ""


def title_for(signal: Signal) -> str:
    return signal.summary or f"{signal.kind} on {signal.subject}"


def ingest(
    session: Session, project: str, signal: Signal, window_ms: int = DEFAULT_FOLD_WINDOW_MS,
    *, repeats_keep_time: bool = False, rules: Rules = DEFAULT_RULES,
    topology: TopologyView | None = None,
) -> Folded:
    """Record one signal in the caller's write transaction; returns the incident it joined.

    ``repeats_keep_time`` is for sources that re-send an occurrence with its original
    time (Alertmanager keeps ``startsAt``): a signal whose time equals one the incident
    already holds for its fingerprint then counts as a repeat whatever its value.
    Without a ``topology`` the project's stored topology is loaded when a new fingerprint
    has recent incidents it might join.
    """
    fingerprint = signal.fingerprint()
    while True:
        home = _lock_home(session, project, fingerprint)
        if home is None:
            placed = _place(session, project, signal, rules, topology)
            if placed is not None:
                return placed
            continue  # another writer gave the fingerprint a home meanwhile
        incident, member = home
        if repo.has_copy(session, incident.id, fingerprint, signal, time_only=repeats_keep_time):
            repo.count_repeat(session, incident)
            return Folded(incident_id=incident.id, opened=False, repeat=True)
        if signal.time_ms - incident.last_ms > window_ms:
            resolve(session, project, incident.id)
            session.flush()  # the indexes must see it resolved before the next insert
            continue
        if not member.firing:
            _count_flap(session, incident, member, rules)
        _count(session, project, incident, member, signal)
        return Folded(incident_id=incident.id, opened=False)


def add_signal(session: Session, project: str, incident_id: str, signal: Signal
               ) -> Incident | None:
    """Count a signal about an active incident itself (a runbook escalating it) on the
    member that opened it; None when the incident is no longer active."""
    repo.get(session, project, incident_id)  # NotFound across projects
    incident = repo.lock(session, incident_id)
    member = repo.member(session, incident_id, incident.fingerprint) if incident else None
    if incident is None or member is None:
        return None
    _count(session, project, incident, member, signal)
    return incident


def _count(session: Session, project: str, incident: Incident, member: IncidentMember,
           signal: Signal) -> None:
    """Count the signal; an incident it makes more severe is announced again and offered
    to runbooks again, in the same transaction."""
    before = incident.severity
    repo.count_signal(session, incident, member, signal)
    if incident.severity > before:
        notify_incident(session, project, incident.id, FIRING)
        runbook_queue.enqueue(session, project, incident.id, "escalate", signal.time_ms)


def _lock_home(session: Session, project: str, fingerprint: str
               ) -> tuple[Incident, IncidentMember] | None:
    """The fingerprint's home incident, locked, with its member; None when it has none."""
    while True:
        incident_id = repo.home_of(session, project, fingerprint)
        if incident_id is None:
            return None
        attempt = session.begin_nested()
        incident = repo.lock(session, incident_id)
        # Looked up again after the lock: a merge may have moved the member meanwhile.
        member = repo.member(session, incident_id, fingerprint) if incident else None
        if incident is not None and member is not None and member.active:
            attempt.commit()
            return incident, member
        # Not its home any more: let go of that incident's lock before taking the next
        # one, or this writer and a merge locking both can wait on each other.
        attempt.rollback()


def _place(session: Session, project: str, signal: Signal, rules: Rules,
           topology: TopologyView | None) -> Folded | None:
    """Give a fingerprint without a home one; None when a racing writer did first."""
    reopened = _reopen_flapping(session, project, signal, rules)
    if reopened is not None:
        return reopened
    recent = repo.recent_members(session, project, signal.time_ms, rules.window_ms)
    named = incident_labels(((m.incident_id, m.labels) for m in recent), rules.identity_labels)
    candidates = [
        Member(m.incident_id, m.subject, m.labels, m.first_ms, m.last_ms,
               named.get(m.incident_id, {}))
        for m in recent
    ]
    if topology is None and candidates:
        # Imported here: the topology reads model lineage, whose pillar raises signals
        # through this module.
        from triops.ops.topology import load_view

        topology = load_view(session, project)
    join = best_join(signal.subject, signal.labels, signal.time_ms, candidates, rules, topology)
    if join is not None:
        incident = repo.lock(session, join.incident_id)
        if incident is None:
            return None  # resolved meanwhile; look again
        member = repo.add_member(session, project, incident.id, signal, join.reason)
        if member is None:
            return None
        _count(session, project, incident, member, signal)
        repo.record_event(session, incident.id, "joined", f"{signal.subject}: {join.reason}",
                          detail={"fingerprint": member.fingerprint, "subject": signal.subject,
                                  "kind": signal.kind})
        return Folded(incident_id=incident.id, opened=False, reason=join.reason)
    opened = repo.open_incident(session, project, signal, title_for(signal))
    if opened is None:
        return None
    member = repo.add_member(session, project, opened, signal, "")
    if member is None:
        repo.delete_incident(session, opened)
        return None
    incident = repo.lock(session, opened)
    assert incident is not None  # this transaction inserted it
    repo.count_signal(session, incident, member, signal)
    # Same transaction: an incident that opens is always announced and offered to
    # runbooks, or neither happens.
    notify_incident(session, project, opened, FIRING)
    runbook_queue.enqueue(session, project, opened, "open", signal.time_ms)
    return Folded(incident_id=opened, opened=True)


def _reopen_flapping(session: Session, project: str, signal: Signal, rules: Rules
                     ) -> Folded | None:
    fingerprint = signal.fingerprint()
    last = repo.source_resolved_member(session, project, fingerprint,
                                       signal.time_ms - rules.flap_window_ms)
    if last is None:
        return None
    incident = repo.get(session, project, last.incident_id)
    try:
        with session.begin_nested():
            incident.status, incident.resolved_ms = "open", None
            incident.fingerprint = fingerprint
            last.active = True
            session.flush()
    except IntegrityError:
        return None  # the fingerprint found another home meanwhile
    incident = repo.lock(session, incident.id)
    member = repo.member(session, last.incident_id, fingerprint)
    if incident is None or member is None:
        return None
    repo.record_event(session, incident.id, "reopened",
                      f"{signal.subject} fired again after its resolution",
                      detail={"fingerprint": fingerprint})
    _count_flap(session, incident, member, rules)
    repo.count_signal(session, incident, member, signal)
    return Folded(incident_id=incident.id, opened=False)


def _count_flap(session: Session, incident: Incident, member: IncidentMember,
                rules: Rules) -> None:
    member.flap_count += 1
    member.resolved_ms = None
    if member.flap_count >= rules.flap_threshold and not incident.flapping:
        incident.flapping = True
        repo.record_event(session, incident.id, "flapping",
                          f"{member.subject} resolved and fired again {member.flap_count} times",
                          detail={"fingerprint": member.fingerprint})


def resolve_fingerprint(session: Session, project: str, signal: Signal, time_ms: int
                        ) -> Incident | None:
    """The source says the problem of the signal's fingerprint ended: its member stops
    firing with a closing info signal, and the incident resolves once no member fires —
    unless it is flapping, which keeps it open. None when the fingerprint has no home."""
    home = _lock_home(session, project, signal.fingerprint())
    if home is None:
        return None
    incident, member = home
    if not member.firing:
        return incident  # a re-sent resolution
    repo.count_signal(session, incident, member, signal)
    member.firing, member.resolved_ms = False, time_ms
    session.flush()
    repo.refresh_severity(session, incident)
    still_firing = any(m.firing for m in repo.members_of(session, incident.id) if m.active)
    if not still_firing and not incident.flapping:
        resolve(session, project, incident.id)
    return incident


def resolve(session: Session, project: str, incident_id: str) -> Incident:
    """Resolve the incident (if it is not already) and queue its resolve notifications in
    the same transaction."""
    incident = repo.get(session, project, incident_id)
    if incident.status != repo.Status.resolved.value:
        repo.resolve(session, project, incident_id)
        session.flush()
        notify_incident(session, project, incident_id, RESOLVED)
    return incident


def merge(session: Session, project: str, incident_id: str, into: str, actor: str) -> Incident:
    """Fold one active incident into another by hand: its members and signals move,
    and it is resolved as merged."""
    if incident_id == into:
        raise InvalidInput("an incident cannot be merged into itself")
    source, target = repo.get(session, project, incident_id), repo.get(session, project, into)
    locked = {i: repo.lock(session, i) for i in sorted((source.id, target.id))}
    for key, row in locked.items():
        if row is None:
            raise Conflict(f"incident {key} is resolved; only active incidents merge")
    source, target = locked[incident_id], locked[into]
    assert source is not None and target is not None
    fingerprints = [m.fingerprint for m in repo.members_of(session, source.id)]
    repo.move(session, source.id, target.id)
    for moved in repo.members_of(session, target.id):
        if moved.fingerprint in fingerprints:
            moved.reason = f"merged by hand from incident {source.id} (by {actor})"
    target.repeat_count += source.repeat_count
    target.flapping = target.flapping or source.flapping
    repo.refresh_totals(session, target)
    source.status, source.resolved_ms, source.merged_into = "resolved", now_ms(), target.id
    source.signal_count, source.repeat_count = 0, 0
    repo.record_event(session, target.id, "merged", f"incident {source.id} merged in",
                      actor=actor, detail={"from": source.id, "fingerprints": fingerprints})
    repo.record_event(session, source.id, "merged", f"merged into incident {target.id}",
                      actor=actor, detail={"into": target.id, "fingerprints": fingerprints})
    audit.record(session, project=project, actor=actor, action="incident.merge",
                 target=source.id, detail={"into": target.id})
    session.flush()
    return target


def split(session: Session, project: str, incident_id: str, fingerprints: list[str],
          actor: str) -> Incident:
    """Move member fingerprints of an active incident, with their signals, to a new
    incident; returns the new one."""
    repo.get(session, project, incident_id)
    incident = repo.lock(session, incident_id)
    if incident is None:
        raise Conflict(f"incident {incident_id} is resolved; only active incidents split")
    live = {m.fingerprint: m for m in repo.members_of(session, incident_id) if m.active}
    wanted = list(dict.fromkeys(fingerprints))
    unknown = [f for f in wanted if f not in live]
    if not wanted or unknown:
        raise InvalidInput(f"not live members of incident {incident_id}: {unknown or 'none given'}")
    staying = [m for f, m in live.items() if f not in wanted]
    if not staying:
        raise InvalidInput("a split must leave at least one member in the incident")
    first = min((live[f] for f in wanted), key=lambda m: (m.first_ms, m.id))
    if incident.fingerprint in wanted:  # the opening fingerprint leaves: another one heads it
        incident.fingerprint = staying[0].fingerprint
        session.flush()
    new = Incident(
        id=new_id(), project=project, fingerprint=first.fingerprint, status="open",
        title=f"{first.kind} on {first.subject}", source=first.source, kind=first.kind,
        subject=first.subject, severity=first.severity, labels=dict(first.labels),
        signal_count=0, repeat_count=0, first_ms=first.first_ms, last_ms=first.last_ms,
        flapping=False,
    )
    session.add(new)
    session.flush()
    repo.move(session, incident_id, new.id, wanted)
    session.flush()
    for row in (incident, new):
        repo.refresh_totals(session, row)
    subjects = [live[f].subject for f in wanted]
    repo.record_event(session, incident_id, "split", f"split off to incident {new.id}: "
                      + ", ".join(subjects), actor=actor,
                      detail={"into": new.id, "fingerprints": wanted})
    repo.record_event(session, new.id, "split", f"split off incident {incident_id}",
                      actor=actor, detail={"from": incident_id, "fingerprints": wanted})
    audit.record(session, project=project, actor=actor, action="incident.split",
                 target=incident_id, detail={"into": new.id, "fingerprints": wanted})
    session.flush()
    return new
