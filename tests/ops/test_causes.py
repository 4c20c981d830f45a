"""Change-based causes over a real store: history raises a kind of change that incidents
followed before; changes out of the lookback or far from the subject are left out."""

from __future__ import annotations

from triops.core.signals import Pillar, Signal
from triops.ops import changes, ingest
from triops.ops.causes import rank_incident

T0 = 1_700_000_000_000
MIN = 60_000
DAY = 24 * 60 * MIN


def _change(session, kind: str, at: int, entity: str = "service:checkout") -> None:
    changes.add_external(session, "default", changes.NewChange(
        entity=entity, kind=kind, summary=f"{kind} of {entity}", time_ms=at))


def test_history_lookback_and_distance_shape_the_change_ranking(db):
    with db.write() as session:
        _change(session, "deploy", T0 - 10 * DAY)
        _change(session, "config", T0 - 5 * DAY)  # no incident followed this one
        ingest(session, "default", Signal(source=Pillar.ops, kind="latency",
                                          subject="service:checkout",
                                          time_ms=T0 - 10 * DAY + 5 * MIN))
        _change(session, "config", T0 - 20 * MIN)
        _change(session, "deploy", T0 - 20 * MIN)
        _change(session, "deploy", T0 - 3 * 60 * MIN)  # before the two-hour lookback
        _change(session, "deploy", T0 - 5 * MIN, entity="service:elsewhere")  # not near
        incident = ingest(session, "default", Signal(
            source=Pillar.ops, kind="errors", subject="service:checkout", time_ms=T0))
    with db.read() as session:
        ranked = rank_incident(session, "default", incident.incident_id)
    assert [(c.entity, c.kind) for c in ranked] == [
        ("service:checkout", "deploy"), ("service:checkout", "config")]
    deploy, config = ranked
    assert deploy.score > config.score
    assert deploy.evidence == (
        "deploy of service:checkout 20 min before the first signal, on the affected "
        "service:checkout; 1 of 2 earlier deploy changes on a service were followed by an "
        "incident near it")
    assert "0 of 1 earlier config" in config.evidence
    assert config.score == round(0.5 ** (20 / 30) * 0.75, 6)


def test_changes_on_a_joined_members_subject_are_causes_too(db):
    with db.write() as session:
        _change(session, "migration", T0 - 10 * MIN, entity="database:orders")
        opened = ingest(session, "default", Signal(
            source=Pillar.ops, kind="latency", subject="service:checkout", time_ms=T0,
            labels={"service": "checkout"}))
        joined = ingest(session, "default", Signal(
            source=Pillar.ops, kind="slow_queries", subject="database:orders",
            time_ms=T0 + MIN, labels={"service": "checkout"}))
    assert joined.incident_id == opened.incident_id
    with db.read() as session:
        ranked = rank_incident(session, "default", opened.incident_id)
    assert [(c.entity, c.kind) for c in ranked] == [("database:orders", "migration")]
    assert "on the affected database:orders" in ranked[0].evidence
