"""Correlation against a real server: an Alertmanager alert and a metric anomaly on the
same service become one explained incident; re-sent alerts and copies of a signal add
nothing; the incident is split and merged back by hand over HTTP."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

T0 = 1_767_607_200_000  # 2026-01-05T10:00:00Z


def _alert(status: str, starts: str, ends: str = "0001-01-01T00:00:00Z") -> dict:
    return {
        "status": "firing", "receiver": "triops", "version": "4", "groupKey": "{}",
        "alerts": [{
            "status": status, "startsAt": starts, "endsAt": ends,
            "labels": {"alertname": "HighLatency", "service": "checkout",
                       "instance": "web-1:9100", "severity": "critical"},
            "annotations": {"summary": "p99 latency above 2 s"},
        }],
    }


def test_alert_and_anomaly_of_one_service_become_one_explained_incident(server):
    with server.http() as http:
        fired = http.post("/api/v1/alerts/alertmanager", json=_alert("firing", "2026-01-05T10:00:00Z"))
        assert fired.status_code == 200, fired.text
        [incident_id] = fired.json()["incidents"]
        anomaly = {"source": "ops", "kind": "anomaly", "subject": "series:checkout_latency_ms",
                   "severity": "warning", "value": 2400.0, "time_ms": T0 + 40_000,
                   "labels": {"service": "checkout"}}
        joined = http.post("/api/v1/signals", json=anomaly)
        assert joined.status_code == 201, joined.text
        assert joined.json() == {"incident_id": incident_id, "opened": False, "repeat": False,
                                 "reason": "joined: same service `checkout`, 40 s apart"}
        # Duplicate notifications: a re-sent alert and a re-posted identical signal.
        again = http.post("/api/v1/alerts/alertmanager", json=_alert("firing", "2026-01-05T10:00:00Z"))
        assert again.json()["repeated"] == 1
        assert http.post("/api/v1/signals", json=anomaly).json()["repeat"] is True
        incident = http.get(f"/api/v1/incidents/{incident_id}").json()
        assert (incident["signal_count"], incident["repeat_count"]) == (2, 2)
        assert incident["severity"] == "critical"
        reasons = [m["reason"] for m in incident["members"]]
        assert reasons == ["", "joined: same service `checkout`, 40 s apart"]
        assert incident["timeline"][0]["kind"] == "joined"

        anomaly_fp = incident["members"][1]["fingerprint"]
        split = http.post(f"/api/v1/incidents/{incident_id}/split",
                          json={"fingerprints": [anomaly_fp]})
        assert split.status_code == 201, split.text
        new_id = split.json()["id"]
        merged = http.post(f"/api/v1/incidents/{new_id}/merge", json={"into": incident_id})
        assert merged.status_code == 200, merged.text
        assert merged.json()["signal_count"] == 2
        kinds = [e["kind"] for e in merged.json()["timeline"]]
        assert kinds == ["joined", "split", "merged"]

        # The alert resolves: the anomaly still fires, so the incident stays open at its
        # severity; the anomaly's incident is only resolved by hand or by going quiet.
        done = http.post("/api/v1/alerts/alertmanager",
                         json=_alert("resolved", "2026-01-05T10:00:00Z", "2026-01-05T10:05:00Z"))
        assert done.json()["resolved"] == 1
        after = http.get(f"/api/v1/incidents/{incident_id}").json()
        assert after["status"] == "open" and after["severity"] == "warning"
