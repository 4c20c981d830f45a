"""Correlation: signals of different fingerprints join one incident when close in time and
related (same entity, or near in the topology); copies, flapping, severity, merge and
split by hand, project isolation, and concurrent writers — on both backends."""

from __future__ import annotations

import subprocess
import sys
import threading

from sqlalchemy import func, select

from triops.core.signals import Pillar, Severity, Signal
from triops.ops import incidents as engine
from triops.ops import ingest
from triops.ops.correlation import Rules
from triops.ops.topology import Edge, Graph, TopologyView
from triops.store.repos import audit
from triops.store.repos import incidents as repo
from triops.store.repos import ops as ops_repo
from triops.store.schema import IncidentMember, IncidentSignal

T0 = 1_767_600_000_000


def view_of(*edges: tuple[str, str]) -> TopologyView:
    """A small in-memory topology over node keys."""
    return TopologyView(Graph(edges=[Edge(a, b, "relates") for a, b in edges]))


SHOP = view_of(("endpoint:churn", "model:churn@champion"), ("model:churn@champion", "dataset:crm"),
               ("dataset:crm", "service:etl"))


def sig(kind: str, subject: str, t: int, *, labels: dict[str, str] | None = None,
        severity: Severity = Severity.warning, value: float | None = 1.0) -> Signal:
    return Signal(source=Pillar.ops, kind=kind, subject=subject, severity=severity, value=value,
                  time_ms=T0 + t, labels=labels or {})


def test_shared_service_label_joins_with_the_reason_stored(db):
    with db.write() as session:
        alert = ingest(session, "p", sig("alert:HighLatency", "service:checkout", 0,
                                         labels={"service": "checkout", "env": "prod"}))
        anomaly = ingest(session, "p", sig("anomaly", "series:checkout_latency_ms", 40_000,
                                           labels={"service": "checkout"}))
    assert alert.opened and not anomaly.opened and anomaly.incident_id == alert.incident_id
    assert anomaly.reason == "joined: same service `checkout`, 40 s apart"
    with db.read() as session:
        members = repo.members_of(session, alert.incident_id)
        assert [(m.kind, m.reason) for m in members] == [
            ("alert:HighLatency", ""), ("anomaly", "joined: same service `checkout`, 40 s apart")]
        [event] = repo.events_of(session, alert.incident_id)
        assert event.kind == "joined" and "same service `checkout`" in event.summary
        assert repo.get(session, "p", alert.incident_id).signal_count == 2


def test_a_joined_series_signal_still_marks_its_series(db):
    with db.write() as session:
        alert = ingest(session, "p", sig("alert:HighLatency", "service:checkout", 0))
        ingest(session, "p", sig("anomaly", "series:latency", 5_000, value=7.0,
                                 labels={"service": "checkout"}))
    with db.read() as session:
        marks = ops_repo.signal_marks(session, "p", "anomaly", "series:latency")
    assert marks == [(T0 + 5_000, 7.0, alert.incident_id)]


def test_unrelated_or_distant_signals_stay_apart(db):
    with db.write() as session:
        first = ingest(session, "p", sig("latency", "service:checkout", 0))
        other = ingest(session, "p", sig("latency", "service:cart", 1_000, labels={"env": "prod"}))
        late = ingest(session, "p", sig("errors", "service:checkout", 11 * 60_000))
    assert other.opened and late.opened
    assert len({first.incident_id, other.incident_id, late.incident_id}) == 3


def test_a_shared_host_does_not_join_two_services(db):
    with db.write() as session:
        checkout = ingest(session, "p", sig("alert:HighLatency", "service:checkout", 0,
                                            labels={"service": "checkout", "instance": "web-1:9100"}))
        cpu = ingest(session, "p", sig("alert:CPU", "service:web-1:9100", 30_000,
                                       labels={"instance": "web-1:9100", "container": "checkout"}))
        cart = ingest(session, "p", sig("alert:HighLatency", "service:cart", 60_000,
                                        labels={"service": "cart", "instance": "web-1:9100"}))
        cart_cpu = ingest(session, "p", sig("alert:CPU", "service:web-1:9100", 90_000,
                                            labels={"instance": "web-1:9100", "container": "cart"}))
    assert cpu.incident_id == checkout.incident_id
    assert cpu.reason == "joined: same instance `web-1:9100`, 30 s apart"
    assert cart.opened  # same host, but another service
    assert cart_cpu.incident_id == cart.incident_id


def test_topology_joins_within_max_hops_and_explains_the_path(db):
    with db.write() as session:
        root = ingest(session, "p", sig("latency", "endpoint:churn", 0), topology=SHOP)
        near = ingest(session, "p", sig("drift", "dataset:crm", 60_000), topology=SHOP)
        far = ingest(session, "p", sig("errors", "service:etl", 60_000),
                     rules=Rules(max_hops=1), topology=SHOP)
        blind = ingest(session, "p", sig("drift", "model:churn@champion", 61_000))
    assert near.incident_id == root.incident_id
    assert near.reason == ("joined: 2 hops from endpoint `churn` via endpoint:churn → "
                           "model:churn@champion → dataset:crm, 60 s apart")
    # service:etl is 1 hop from dataset:crm, a member now, so it joins within one hop.
    assert far.incident_id == root.incident_id and far.reason.startswith("joined: 1 hop from dataset")
    # Without a topology the model is not related to the endpoint: its own incident.
    assert blind.opened


def test_identical_copies_are_repeats_but_new_values_count(db):
    with db.write() as session:
        first = ingest(session, "p", sig("latency", "service:checkout", 0, value=3.0))
        copy = ingest(session, "p", sig("latency", "service:checkout", 0, value=3.0))
        changed = ingest(session, "p", sig("latency", "service:checkout", 0, value=4.0))
    assert copy.repeat and not changed.repeat
    with db.read() as session:
        incident = repo.get(session, "p", first.incident_id)
        assert (incident.signal_count, incident.repeat_count) == (2, 1)


def _resolution(signal: Signal, t: int) -> Signal:
    return Signal(source=signal.source, kind=signal.kind, subject=signal.subject,
                  severity=Severity.info, time_ms=T0 + t, labels=signal.labels)


def test_flapping_fingerprint_stays_in_one_incident(db):
    alert = sig("alert:Disk", "service:db", 0, value=None)
    seen = set()
    with db.write() as session:
        for cycle in range(5):
            fired = sig("alert:Disk", "service:db", cycle * 120_000, value=None)
            seen.add(ingest(session, "p", fired).incident_id)
            engine.resolve_fingerprint(session, "p", _resolution(alert, cycle * 120_000 + 60_000),
                                       T0 + cycle * 120_000 + 60_000)
    [incident_id] = seen
    with db.read() as session:
        incident = repo.get(session, "p", incident_id)
        assert incident.flapping and incident.status == "open"  # flapping: no longer resolved
        [member] = repo.members_of(session, incident_id)
        assert member.flap_count == 4 and not member.firing
        assert [e.kind for e in repo.events_of(session, incident_id)] == [
            "reopened", "reopened", "reopened", "flapping"]


def test_a_resolved_fingerprint_firing_much_later_opens_a_new_incident(db):
    alert = sig("alert:Disk", "service:db", 0)
    with db.write() as session:
        first = ingest(session, "p", alert)
        engine.resolve_fingerprint(session, "p", _resolution(alert, 1_000), T0 + 1_000)
        later = ingest(session, "p", sig("alert:Disk", "service:db", 2 * 3_600_000))
    assert later.opened and later.incident_id != first.incident_id


def test_severity_follows_the_worst_firing_member(db):
    critical = sig("alert:Down", "service:checkout", 0, severity=Severity.critical)
    with db.write() as session:
        opened = ingest(session, "p", critical)
        ingest(session, "p", sig("latency", "service:checkout", 5_000, severity=Severity.warning))
        assert repo.get(session, "p", opened.incident_id).severity == Severity.critical
        engine.resolve_fingerprint(session, "p", _resolution(critical, 9_000), T0 + 9_000)
    with db.read() as session:
        incident = repo.get(session, "p", opened.incident_id)
        assert incident.status == "open" and incident.severity == Severity.warning


def test_projects_never_join(db):
    with db.write() as session:
        mine = ingest(session, "p", sig("latency", "service:checkout", 0))
        theirs = ingest(session, "q", sig("errors", "service:checkout", 1_000))
    assert theirs.opened and theirs.incident_id != mine.incident_id


def _two_incidents(client) -> tuple[dict, dict]:
    a = client.post("/api/v1/signals", json={"source": "ops", "kind": "latency",
                                             "subject": "service:checkout", "time_ms": T0})
    b = client.post("/api/v1/signals", json={"source": "ml", "kind": "drift",
                                             "subject": "model:churn@champion",
                                             "time_ms": T0 + 1_000, "severity": "critical"})
    assert a.json()["opened"] and b.json()["opened"]
    return a.json(), b.json()


def test_merge_and_split_by_hand_over_the_api(client, runtime):
    a, b = _two_incidents(client)
    merged = client.post(f"/api/v1/incidents/{b['incident_id']}/merge",
                         json={"into": a["incident_id"]})
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["id"] == a["incident_id"] and body["signal_count"] == 2
    assert body["severity"] == "critical"
    assert {m["subject"] for m in body["members"]} == {"service:checkout", "model:churn@champion"}
    assert body["timeline"][-1]["kind"] == "merged" and body["timeline"][-1]["actor"] == "key:admin"
    gone = client.get(f"/api/v1/incidents/{b['incident_id']}").json()
    assert gone["status"] == "resolved" and gone["merged_into"] == a["incident_id"]
    # The merged fingerprint now folds into the incident it was merged into.
    again = client.post("/api/v1/signals", json={"source": "ml", "kind": "drift",
                                                 "subject": "model:churn@champion",
                                                 "time_ms": T0 + 2_000})
    assert again.json()["incident_id"] == a["incident_id"]

    drift = next(m["fingerprint"] for m in body["members"] if m["kind"] == "drift")
    split = client.post(f"/api/v1/incidents/{a['incident_id']}/split",
                        json={"fingerprints": [drift]})
    assert split.status_code == 201, split.text
    new = split.json()
    assert [m["fingerprint"] for m in new["members"]] == [drift]
    assert new["signal_count"] == 2 and new["severity"] == "critical"
    assert all(s["fingerprint"] == drift for s in new["signals"])
    left = client.get(f"/api/v1/incidents/{a['incident_id']}").json()
    assert left["signal_count"] == 1 and left["severity"] == "warning"
    assert [e["kind"] for e in left["timeline"]] == ["merged", "split"]
    after = client.post("/api/v1/signals", json={"source": "ml", "kind": "drift",
                                                 "subject": "model:churn@champion",
                                                 "time_ms": T0 + 3_000})
    assert after.json()["incident_id"] == new["id"]
    with runtime.db.read() as session:
        actions = [e.action for e in audit.recent(session, "default")]
    assert "incident.merge" in actions and "incident.split" in actions


def test_merge_and_split_refusals(client):
    a, b = _two_incidents(client)
    assert client.post(f"/api/v1/incidents/{a['incident_id']}/merge",
                       json={"into": a["incident_id"]}).status_code == 400
    assert client.post(f"/api/v1/incidents/{a['incident_id']}/merge",
                       json={"into": "nope"}).status_code == 404
    only = client.get(f"/api/v1/incidents/{a['incident_id']}").json()["members"][0]
    assert client.post(f"/api/v1/incidents/{a['incident_id']}/split",
                       json={"fingerprints": [only["fingerprint"]]}).status_code == 400
    assert client.post(f"/api/v1/incidents/{a['incident_id']}/split",
                       json={"fingerprints": ["f" * 32]}).status_code == 400
    client.post(f"/api/v1/incidents/{b['incident_id']}/resolve")
    assert client.post(f"/api/v1/incidents/{b['incident_id']}/merge",
                       json={"into": a["incident_id"]}).status_code == 409


def test_merge_across_projects_is_not_found(db):
    with db.write() as session:
        mine = ingest(session, "p", sig("latency", "service:checkout", 0))
        theirs = ingest(session, "q", sig("latency", "service:cart", 0))
    with db.write() as session:
        try:
            engine.merge(session, "p", mine.incident_id, theirs.incident_id, "test")
        except Exception as error:  # noqa: BLE001 - the type is asserted below
            assert type(error).__name__ == "NotFound"
        else:
            raise AssertionError("merged across projects")
    with db.read() as session:
        assert repo.get(session, "q", theirs.incident_id).status == "open"


def test_cli_merge_and_split(store_url, db):
    with db.write() as session:
        a = ingest(session, "default", sig("latency", "service:checkout", 0))
        b = ingest(session, "default", sig("latency", "service:cart", 0))
        fingerprint = sig("latency", "service:cart", 0).fingerprint()

    def triops(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "triops", "incidents", *args,
                               "--store", store_url], check=False, capture_output=True, text=True,
                              timeout=120)

    merged = triops("merge", b.incident_id, "--into", a.incident_id)
    assert merged.returncode == 0, merged.stderr
    split = triops("split", a.incident_id, fingerprint)
    assert split.returncode == 0, split.stderr
    new_id = split.stdout.split()[-1]
    with db.read() as session:
        assert [m.fingerprint for m in repo.members_of(session, new_id)] == [fingerprint]
        assert [e.kind for e in repo.events_of(session, a.incident_id)] == ["merged", "split"]


WRITERS, EACH = 6, 30


def test_concurrent_writers_give_each_fingerprint_one_home_and_lose_nothing(db):
    """Writers fold signals of four related fingerprints while another merges and splits:
    every signal is counted exactly once and each fingerprint has one live home."""
    subjects = ["service:checkout", "series:checkout_latency", "series:checkout_errors",
                "pod:checkout-1"]
    start = threading.Barrier(WRITERS + 1)
    failures: list[BaseException] = []

    def write(w: int) -> None:
        start.wait()
        try:
            for i in range(EACH):
                with db.write() as session:
                    ingest(session, "p", sig("latency", subjects[(w + i) % 4], w * 1000 + i,
                                             labels={"service": "checkout"}, value=float(i)))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    def reshuffle() -> None:
        start.wait()
        for _ in range(10):
            with db.write() as session:
                live = [r for r in repo.list_incidents(session, "p") if r.status == "open"]
                if not live:
                    continue
                if len(live) > 1:
                    engine.merge(session, "p", live[1].id, live[0].id, "test")
                    continue
                members = [m for m in repo.members_of(session, live[0].id) if m.active]
                if len(members) > 1:
                    engine.split(session, "p", live[0].id, [members[-1].fingerprint], "test")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    threads.append(threading.Thread(target=reshuffle))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    with db.read() as session:
        homes = session.execute(
            select(IncidentMember.fingerprint, func.count()).where(IncidentMember.active.is_(True))
            .group_by(IncidentMember.fingerprint)).all()
        assert sorted(n for _, n in homes) == [1, 1, 1, 1]
        assert session.scalar(select(func.count()).select_from(IncidentSignal)) == WRITERS * EACH
        counted = sum(r.signal_count for r in repo.list_incidents(session, "p"))
        assert counted == WRITERS * EACH
        for row in repo.list_incidents(session, "p"):
            assert row.signal_count == len(repo.signals_of(session, row.id, limit=10_000))
