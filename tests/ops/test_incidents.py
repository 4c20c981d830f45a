from triops.core.signals import Pillar, Severity, Signal
from triops.ops import ingest
from triops.store.repos import incidents as repo


def _signal(t: int, subject: str = "service:checkout", severity=Severity.warning) -> Signal:
    return Signal(source=Pillar.ops, kind="latency", subject=subject, severity=severity,
                  value=1.0, time_ms=t, labels={"region": "eu"})


def test_signals_with_same_fingerprint_fold_within_window(db):
    with db.write() as session:
        first = ingest(session, "p", _signal(1_000), window_ms=10_000)
        second = ingest(session, "p", _signal(5_000, severity=Severity.critical), window_ms=10_000)
        other = ingest(session, "p", _signal(6_000, subject="service:cart"), window_ms=10_000)
        late = ingest(session, "p", _signal(100_000), window_ms=10_000)
    assert first.opened and not second.opened and first.incident_id == second.incident_id
    assert other.opened and other.incident_id != first.incident_id
    assert late.opened and late.incident_id != first.incident_id
    with db.read() as session:
        incident = repo.get(session, "p", first.incident_id)
        assert incident.signal_count == 2
        # One active incident per fingerprint: the quiet one gave way to the late signal's.
        assert incident.status == "resolved"
        assert repo.get(session, "p", late.incident_id).status == "open"
        assert incident.severity == Severity.critical
        assert len(repo.signals_of(session, first.incident_id)) == 2


def test_resolved_incident_is_not_reused(db):
    with db.write() as session:
        first = ingest(session, "p", _signal(1_000))
        repo.resolve(session, "p", first.incident_id)
        again = ingest(session, "p", _signal(2_000))
    assert again.opened and again.incident_id != first.incident_id


def test_fingerprint_ignores_value_time_and_severity():
    a = _signal(1, severity=Severity.info)
    b = Signal(source=Pillar.ops, kind="latency", subject="service:checkout", value=99.0,
               time_ms=5, labels={"region": "eu"}, severity=Severity.critical, summary="other")
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != _signal(1, subject="service:cart").fingerprint()


def test_incident_api_list_ack_resolve(client):
    posted = client.post("/api/v1/signals", json={
        "source": "ml", "kind": "drift", "subject": "model:churn@champion", "severity": "error",
        "value": 0.4, "labels": {"feature": "age"},
    })
    assert posted.status_code == 201 and posted.json()["opened"]
    incident_id = posted.json()["incident_id"]
    listed = client.get("/api/v1/incidents", params={"status": "open"}).json()
    assert [i["id"] for i in listed] == [incident_id]
    acked = client.post(f"/api/v1/incidents/{incident_id}/ack").json()
    assert acked["status"] == "acknowledged" and acked["acked_by"] == "key:admin"
    resolved = client.post(f"/api/v1/incidents/{incident_id}/resolve").json()
    assert resolved["status"] == "resolved"
    conflict = client.post(f"/api/v1/incidents/{incident_id}/ack")
    assert conflict.status_code == 409
    detail = client.get(f"/api/v1/incidents/{incident_id}").json()
    assert detail["signals"][0]["value"] == 0.4
    assert client.get("/api/v1/incidents", params={"status": "bogus"}).status_code == 400
