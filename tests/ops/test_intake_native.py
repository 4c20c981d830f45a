"""Native JSON log batches, log queries, and the Alertmanager webhook over the real app."""

from __future__ import annotations

from triops.ops import logs as ops_logs

T0 = 1_700_000_000_000


def post_logs(client, stream: str, bodies: list[str], t0: int = T0, step: int = 1000):
    return client.post("/api/v1/ops/logs", json={"stream": stream, "lines": [
        {"body": b, "ts_ms": t0 + i * step, "severity": "INFO"} for i, b in enumerate(bodies)]})


def test_log_batch_is_mined_and_queryable_by_template_and_time(client):
    bodies = [f"user {i} logged in from 10.0.0.{i}" for i in range(5)]
    bodies += [f"disk /dev/sd{c} is {90 + i}% full" for i, c in enumerate("abc")]
    r = post_logs(client, "auth", bodies)
    assert r.status_code == 201, r.text
    # The miner first makes 'disk /dev/sdb ...' a template of its own, then merges it.
    assert r.json() == {"accepted": 8, "truncated": 0, "new_templates": 3, "signals": 0}
    templates = client.get("/api/v1/ops/templates", params={"stream": "auth"}).json()
    assert [(t["id"], t["template"], t["count"]) for t in templates] == [
        ("E1", "user <*> logged in from <*>", 5), ("E2", "disk /dev/<*> is <*> full", 3)]
    disk = client.get("/api/v1/ops/logs", params={"stream": "auth", "template": "E2"}).json()
    assert [line["body"] for line in disk] == bodies[5:]
    assert {line["template"] for line in disk} == {"E2"}  # merged ids shown as the live one
    window = client.get("/api/v1/ops/logs", params={
        "stream": "auth", "start_ms": T0 + 1000, "end_ms": T0 + 3000}).json()
    assert [line["body"] for line in window] == bodies[1:3]
    assert client.get("/api/v1/ops/logs", params={"template": "E1"}).status_code == 400
    assert client.get("/api/v1/ops/logs", params={"stream": "auth", "template": "x"}
                      ).status_code == 400


def test_mining_state_survives_between_batches(client):
    post_logs(client, "api", [f"GET /items/{i} 200" for i in range(3)])
    r = post_logs(client, "api", [f"GET /items/{i} 200" for i in range(3, 6)], t0=T0 + 10_000)
    assert r.json()["new_templates"] == 0
    templates = client.get("/api/v1/ops/templates").json()
    assert [(t["stream"], t["count"]) for t in templates] == [("api", 6)]


def test_new_template_after_warmup_and_rate_jump_raise_signals(client, monkeypatch):
    monkeypatch.setattr(ops_logs, "NEW_TEMPLATE_WARMUP", 10)
    # Ten minutes of a steady 2 lines per minute, then 60 lines in one minute.
    steady = [(T0 + m * 60_000 + s * 20_000, f"heartbeat from node {m}") for m in range(10)
              for s in range(2)]
    burst = [(T0 + 600_000 + i * 500, f"heartbeat from node {i}") for i in range(60)]
    after = [(T0 + 720_000, "kernel panic on cpu 3")]
    lines = [{"body": b, "ts_ms": t} for t, b in steady + burst + after]
    r = client.post("/api/v1/ops/logs", json={"stream": "nodes", "lines": lines})
    assert r.status_code == 201, r.text
    assert r.json()["signals"] == 2
    # Both signals are about service nodes within minutes: one incident, two members.
    [incident] = client.get("/api/v1/incidents").json()
    members = client.get(f"/api/v1/incidents/{incident['id']}").json()["members"]
    kinds = sorted((m["kind"], m["subject"]) for m in members)
    assert kinds == [("log_rate_jump", "service:nodes"), ("log_template_new", "service:nodes")]
    jump = next(m for m in members if m["kind"] == "log_rate_jump")
    assert jump["labels"] == {"template": "E1"}
    joined = next(m for m in members if m["reason"])
    assert joined["reason"].startswith("joined: same service `nodes`, ")


def test_bad_log_batches_are_400_and_write_nothing(client):
    cases = [
        {"lines": [{"body": "no stream anywhere"}]},
        {"stream": "a\nb", "lines": [{"body": "x"}]},
        {"stream": "s", "lines": [{"body": "x", "ts_ms": -5}]},
        {"stream": "s", "lines": [{"body": "x", "trace_id": "not-hex"}]},
        {"stream": "s", "lines": [{"body": 12}]},
        {"stream": "s", "lines": "nope"},
    ]
    for body in cases:
        r = client.post("/api/v1/ops/logs", json=body)
        assert r.status_code == 400, (body, r.text)
    r = client.post("/api/v1/ops/logs", content=b'{"stream": "s", "lines": [{"body": "\xff"}]}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert client.get("/api/v1/ops/logs").json() == []
    assert client.get("/api/v1/ops/templates").json() == []


def test_one_megabyte_line_is_stored_cut_and_mined(client):
    huge = "payload " + "x" * (1024 * 1024 - 8)
    r = client.post("/api/v1/ops/logs", json={"stream": "big", "lines": [{"body": huge}]})
    assert r.status_code == 201, r.text
    assert r.json()["truncated"] == 1
    line = client.get("/api/v1/ops/logs", params={"stream": "big"}).json()[0]
    assert len(line["body"]) == ops_logs.MAX_BODY_CHARS and line["truncated"] == len(huge)
    too_big = client.post("/api/v1/ops/logs", json={"stream": "big", "lines": [
        {"body": huge + "more"}]})
    assert too_big.status_code == 400


def alert(status: str, **labels: str) -> dict:
    return {
        "status": status, "labels": {"alertname": "HighLatency", "severity": "critical",
                                     "service": "checkout", **labels},
        "annotations": {"summary": "p99 latency above 2 s",
                        "runbook_url": "https://runbooks.example/latency",
                        "description": "checkout p99 has been above 2 s for 5 minutes"},
        "startsAt": "2026-01-05T10:00:00.123456789Z",  # Go writes RFC 3339 with nanoseconds
        "endsAt": "2026-01-05T10:20:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph", "fingerprint": "c9b1e9f2e6a1d2b3",
    }


def notification(*alerts: dict) -> dict:
    return {"version": "4", "groupKey": '{}:{alertname="HighLatency"}', "status": "firing",
            "receiver": "triops", "groupLabels": {"alertname": "HighLatency"},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
            "truncatedAlerts": 0, "alerts": list(alerts)}


def test_alertmanager_firing_then_resolved(client):
    r = client.post("/api/v1/alerts/alertmanager", json=notification(alert("firing")))
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["firing"] == 1 and len(first["incidents"]) == 1
    incident_id = first["incidents"][0]
    # Alertmanager re-sends a firing alert with its startsAt: a repeat, not a new signal.
    for _ in range(3):
        again = client.post("/api/v1/alerts/alertmanager", json=notification(alert("firing")))
        assert again.json() == {"firing": 0, "repeated": 1, "resolved": 0, "unmatched": 0,
                                "incidents": [incident_id]}
    incident = client.get(f"/api/v1/incidents/{incident_id}").json()
    assert (incident["signal_count"], incident["repeat_count"]) == (1, 3)
    assert len(incident["signals"]) == 1
    assert incident["kind"] == "alert:HighLatency"
    assert incident["subject"] == "service:checkout"
    assert incident["severity"] == "critical"
    assert incident["title"] == "p99 latency above 2 s"
    assert incident["first_ms"] == 1767607200123
    assert incident["labels"] == {"service": "checkout"}
    assert incident["annotations"] == {
        "summary": "p99 latency above 2 s", "runbook_url": "https://runbooks.example/latency",
        "description": "checkout p99 has been above 2 s for 5 minutes",
        "generatorURL": "http://prometheus/graph"}
    assert incident["status"] == "open"

    done = client.post("/api/v1/alerts/alertmanager", json=notification(alert("resolved")))
    assert done.json() == {"firing": 0, "repeated": 0, "resolved": 1, "unmatched": 0,
                           "incidents": [incident_id]}
    assert client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "resolved"
    stray = client.post("/api/v1/alerts/alertmanager", json=notification(alert("resolved")))
    assert stray.json()["unmatched"] == 1


def test_alert_subject_falls_back_to_job_then_receiver(client):
    a = alert("firing")
    del a["labels"]["service"]
    a["labels"]["job"] = "node"
    b = alert("firing")
    b["labels"] = {"alertname": "Watchdog"}
    r = client.post("/api/v1/alerts/alertmanager", json=notification(a, b))
    assert r.status_code == 200, r.text
    subjects = sorted(i["subject"] for i in client.get("/api/v1/incidents").json())
    assert subjects == ["alertmanager:triops", "service:node"]


def test_bad_alertmanager_payloads_are_400_and_write_nothing(client):
    no_name = alert("firing")
    del no_name["labels"]["alertname"]
    bad_time = alert("firing")
    bad_time["startsAt"] = "yesterday"
    cases = [
        notification(alert("firing"), no_name),
        notification(alert("firing"), bad_time),
        notification(alert("pending")),
        {"version": "4"},
        {"alerts": [{"labels": "x"}]},
    ]
    for body in cases:
        r = client.post("/api/v1/alerts/alertmanager", json=body)
        assert r.status_code == 400, (body, r.text)
    assert client.get("/api/v1/incidents").json() == []


def test_a_huge_time_jump_does_not_walk_every_empty_window(client):
    import time

    lines = [{"body": "tick 1", "ts_ms": 0}, {"body": "tick 2", "ts_ms": 4_000_000_000_000}]
    started = time.monotonic()
    r = client.post("/api/v1/ops/logs", json={"stream": "clock", "lines": lines})
    assert r.status_code == 201, r.text
    assert time.monotonic() - started < 5  # 66 million one-minute windows apart
    assert [line["ts_ms"] for line in client.get(
        "/api/v1/ops/logs", params={"stream": "clock"}).json()] == [0, 4_000_000_000_000]
