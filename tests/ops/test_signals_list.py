"""``GET /api/v1/signals`` lists the signals incidents hold; ``GET /api/v1/incidents``
finds incidents by an id prefix (what the CLI resolves short ids with)."""

from __future__ import annotations

T0 = 1_700_000_000_000


def _post(client, subject: str, severity: str, time_ms: int) -> str:
    got = client.post("/api/v1/signals", json={"source": "ops", "kind": "latency",
                                               "subject": subject, "severity": severity,
                                               "time_ms": time_ms, "summary": subject})
    assert got.status_code == 201, got.text
    return got.json()["incident_id"]


def test_signals_list_newest_first_with_filters(client):
    a = _post(client, "service:a", "warning", T0)
    b = _post(client, "service:b", "critical", T0 + 30 * 86_400_000)
    _post(client, "service:a", "error", T0 + 1000)

    listed = client.get("/api/v1/signals").json()
    assert [(s["subject"], s["severity"], s["incident_id"]) for s in listed] == [
        ("service:b", "critical", b), ("service:a", "error", a), ("service:a", "warning", a)]
    assert listed[0]["source"] == "ops" and listed[0]["kind"] == "latency"
    worse = client.get("/api/v1/signals", params={"severity": "error"}).json()
    assert [s["severity"] for s in worse] == ["critical", "error"]
    window = client.get("/api/v1/signals", params={"since_ms": T0 + 1, "until_ms": T0 + 2000})
    assert [s["time_ms"] for s in window.json()] == [T0 + 1000]
    assert client.get("/api/v1/signals", params={"severity": "loud"}).status_code in (400, 422)

    found = client.get("/api/v1/incidents", params={"id_prefix": a[:6]}).json()
    assert a in [i["id"] for i in found] and b not in [i["id"] for i in found]
    assert client.get("/api/v1/incidents", params={"id_prefix": "%"}).json() == []
