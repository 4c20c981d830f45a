"""Notifications out over the real app and store: channels against local receivers,
routing, grouping, silences, resolve messages, retries and project isolation."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from tests.conftest import admin_client
from tests.ops.notify_receivers import http_receiver, smtp_receiver

from triops.ops.notifications import NotificationWorker, WorkerSettings, verify
from triops.store.repos import notifications as notify_repo
from triops.store.schema_notifications import NotifyDelivery

SECRET = "whsec_0123456789abcdef"


@pytest.fixture
def api(runtime):
    """The app, with its own background worker stopped: each test drives a worker itself,
    so no delivery is sent behind its back."""
    with admin_client(runtime) as client:
        runtime.notifications.close()
        yield client


@pytest.fixture
def worker(runtime):
    return NotificationWorker(runtime.db, WorkerSettings(backoff_s=0.05, max_backoff_s=0.2))


def drain(worker, within_s: float = 10) -> None:
    """Run the worker until no delivery is pending (retries wait out their short backoff)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        worker.run_once()
        with worker.db.read() as session:
            if session.scalar(select(NotifyDelivery.id).where(
                    NotifyDelivery.status == "pending").limit(1)) is None:
                return
        time.sleep(0.02)
    raise AssertionError("deliveries still pending")


def signal(client, kind="latency", service="checkout", severity="error", project=None, **labels):
    headers = {"X-Triops-Project": project} if project else {}
    r = client.post("/api/v1/signals", headers=headers, json={
        "source": "ops", "kind": kind, "subject": f"service:{service}", "severity": severity,
        "labels": {"service": service, **labels}, "summary": f"{kind} on {service}",
        "annotations": {"runbook_url": f"https://runbooks.example/{kind}"}})
    assert r.status_code == 201, r.text
    return r.json()["incident_id"]


def channel(client, name, kind, config, secret=None, project=None):
    headers = {"X-Triops-Project": project} if project else {}
    r = client.put(f"/api/v1/notifications/channels/{name}", headers=headers,
                   json={"kind": kind, "config": config, "secret": secret})
    assert r.status_code == 200, r.text
    return r.json()


def route(client, name, channel_name, project=None, **fields):
    headers = {"X-Triops-Project": project} if project else {}
    body = {"channel": channel_name, "group_wait_s": 0, **fields}
    r = client.put(f"/api/v1/notifications/routes/{name}", headers=headers, json=body)
    assert r.status_code == 200, r.text


def deliveries(client, **params):
    r = client.get("/api/v1/notifications/deliveries", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_slack_and_signed_webhook_receive_routed_incidents(api, worker):
    with http_receiver() as slack, http_receiver() as hook:
        channel(api, "chat", "slack", {"url": f"{slack.url}/services/T0/B0/x"})
        out = channel(api, "ops-hook", "webhook", {"url": f"{hook.url}/in"}, secret=SECRET)
        assert out["has_secret"] is True and "secret" not in out
        route(api, "urgent", "chat", matchers=['severity=~"error|critical"'])
        route(api, "checkout", "ops-hook", matchers=['service="checkout"'])
        checkout = signal(api, severity="error")
        signal(api, kind="queue", service="billing", severity="warning")  # matches neither
        drain(worker)

        assert len(slack.requests) == 1
        posted = slack.requests[0].json()
        assert posted["text"].startswith("[FIRING:1] latency on checkout")
        assert "https://runbooks.example/latency" in posted["text"]
        assert posted["blocks"][0]["type"] == "header"

        assert len(hook.requests) == 1
        got = hook.requests[0]
        headers = {k.lower(): v for k, v in got.headers.items()}
        assert verify(SECRET, headers["x-triops-timestamp"], got.body,
                      headers["x-triops-signature"])
        assert not verify("wrong-secret", headers["x-triops-timestamp"], got.body,
                          headers["x-triops-signature"])
        assert not verify(SECRET, headers["x-triops-timestamp"], got.body + b" ",
                          headers["x-triops-signature"])
        body = got.json()
        assert body["status"] == "firing" and body["route"] == "checkout"
        assert [i["id"] for i in body["incidents"]] == [checkout]
        assert body["incidents"][0]["annotations"]["runbook_url"].endswith("/latency")
        assert headers["x-triops-delivery"] == body["delivery_id"]

    listed = api.get("/api/v1/notifications/channels").json()
    assert {c["name"]: c["has_secret"] for c in listed} == {"chat": False, "ops-hook": True}
    assert all("secret" not in c for c in listed)
    sent = deliveries(api, status="sent")
    assert sorted(d["route"] for d in sent) == ["checkout", "urgent"]
    assert all(d["attempts"] == 1 and d["incidents"] == [checkout] for d in sent)


def test_a_channel_failing_twice_ends_sent_after_three_attempts(api, worker):
    with http_receiver() as hook:
        hook.fail_next = 2
        channel(api, "flaky", "webhook", {"url": hook.url}, secret=SECRET)
        route(api, "all", "flaky")
        signal(api)
        worker.run_once()
        first = deliveries(api)[0]
        assert (first["status"], first["attempts"]) == ("pending", 1)
        assert "503" in first["last_error"]
        drain(worker)
        assert len(hook.requests) == 1
    [done] = deliveries(api)
    assert (done["status"], done["attempts"]) == ("sent", 3)


def test_a_channel_that_never_answers_ends_failed(api, runtime):
    worker = NotificationWorker(runtime.db, WorkerSettings(backoff_s=0.01, max_attempts=2))
    channel(api, "gone", "slack", {"url": "http://127.0.0.1:9/nothing-listens"})
    route(api, "all", "gone")
    signal(api)
    drain(worker)
    [failed] = deliveries(api)
    assert (failed["status"], failed["attempts"]) == ("failed", 2)
    assert "ConnectError" in failed["last_error"]


def test_resolve_message_follows_a_sent_firing_one(api, worker):
    with http_receiver() as hook:
        channel(api, "hook", "webhook", {"url": hook.url}, secret=SECRET)
        route(api, "all", "hook", send_resolved=True)
        incident = signal(api)
        drain(worker)
        r = api.post(f"/api/v1/incidents/{incident}/resolve")
        assert r.status_code == 200
        drain(worker)
        assert [m.json()["status"] for m in hook.requests] == ["firing", "resolved"]
        resolved = hook.requests[1].json()["incidents"][0]
        assert resolved["status"] == "resolved" and resolved["resolved_ms"] is not None
    assert [d["event"] for d in deliveries(api, incident=incident)] == ["resolved", "firing"]


def test_escalation_notifies_again(api, worker):
    with http_receiver() as hook:
        channel(api, "hook", "webhook", {"url": hook.url})
        route(api, "all", "hook")
        signal(api, severity="warning")
        drain(worker)
        signal(api, severity="warning")  # same severity: no new message
        drain(worker)
        signal(api, severity="critical")
        drain(worker)
        severities = [m.json()["incidents"][0]["severity"] for m in hook.requests]
        assert severities == ["warning", "critical"]


def test_grouping_folds_incidents_with_the_same_group_labels(api, worker):
    with http_receiver() as hook:
        channel(api, "hook", "webhook", {"url": hook.url})
        route(api, "by-team", "hook", group_by=["team"], group_wait_s=30)
        # Two services of one team: two incidents (correlation keeps services apart).
        a = signal(api, kind="latency", service="checkout", team="shop")
        b = signal(api, kind="errors", service="cart", team="shop")
        c = signal(api, kind="latency", service="billing", team="finance")
        assert len({a, b, c}) == 3
        worker.run_once()
        assert hook.requests == []  # still inside group_wait
        worker.run_once(now=int(time.time() * 1000) + 31_000)
        groups = {m.json()["group_labels"]["team"]: sorted(i["id"] for i in
                                                           m.json()["incidents"])
                  for m in hook.requests}
        assert groups == {"shop": sorted([a, b]), "finance": [c]}
        assert hook.requests[0].json()["incidents"]  # two messages, not three


def test_silence_suppresses_until_it_is_expired(api, worker):
    with http_receiver() as hook:
        channel(api, "hook", "webhook", {"url": hook.url})
        route(api, "all", "hook", group_by=["service"])
        r = api.post("/api/v1/notifications/silences", json={
            "matchers": ['service="checkout"'], "duration_s": 3600, "comment": "deploy"})
        assert r.status_code == 201, r.text
        silence = r.json()
        assert silence["active"] is True and silence["created_by"]
        signal(api, service="checkout")
        signal(api, service="billing")
        drain(worker)
        assert [m.json()["incidents"][0]["subject"] for m in hook.requests] == [
            "service:billing"]
        assert sorted(d["status"] for d in deliveries(api)) == ["sent", "silenced"]

        expired = api.delete(f"/api/v1/notifications/silences/{silence['id']}").json()
        assert expired["active"] is False
        assert api.get("/api/v1/notifications/silences", params={"active": True}).json() == []
        # Worse news on the silenced service's incident is announced once the silence
        # has expired.
        signal(api, kind="errors", service="checkout", severity="critical")
        drain(worker)
        assert len(hook.requests) == 2


def test_repeat_interval_re_announces_active_incidents(api, worker):
    with http_receiver() as hook:
        channel(api, "hook", "webhook", {"url": hook.url})
        route(api, "all", "hook", repeat_interval_s=600)
        incident = signal(api)
        drain(worker)
        worker.run_once(now=int(time.time() * 1000) + 60_000)  # too early
        assert len(hook.requests) == 1
        worker.run_once(now=int(time.time() * 1000) + 601_000)
        assert len(hook.requests) == 2
        assert hook.requests[1].json()["incidents"][0]["id"] == incident


def test_email_through_smtp(api, worker):
    with smtp_receiver() as (port, received):
        channel(api, "mail", "email", {"host": "127.0.0.1", "port": port, "starttls": False,
                                       "from": "triops@example.org",
                                       "to": ["oncall@example.org"]})
        route(api, "all", "mail")
        signal(api)
        drain(worker)
        assert len(received) == 1
        envelope = received[0]
        assert envelope.mail_from == "triops@example.org"
        assert envelope.rcpt_tos == ["oncall@example.org"]
        text = envelope.content.decode()
        assert "Subject: [FIRING:1] latency on checkout" in text
        assert "runbook_url: https://runbooks.example/latency" in text
    assert deliveries(api)[0]["status"] == "sent"


def test_projects_are_isolated(api, worker):
    with http_receiver() as hook:
        channel(api, "hook", "webhook", {"url": hook.url}, project="alpha")
        route(api, "all", "hook", project="alpha")
        signal(api, project="beta")
        drain(worker)
        assert hook.requests == []
        mine = signal(api, project="alpha")
        drain(worker)
        assert [m.json()["project"] for m in hook.requests] == ["alpha"]
    beta = api.get("/api/v1/notifications/deliveries", headers={"X-Triops-Project": "beta"})
    assert beta.json() == []
    alpha = api.get("/api/v1/notifications/deliveries", headers={"X-Triops-Project": "alpha"})
    assert [d["incidents"] for d in alpha.json()] == [[mine]]
    assert api.get("/api/v1/notifications/channels",
                   headers={"X-Triops-Project": "beta"}).json() == []


def test_writes_need_admin_and_bad_config_is_400(api, runtime):
    from triops.core.principals import Role
    from triops.store.repos import keys

    with runtime.db.write() as session:
        editor = keys.create(session, project="default", role=Role.editor, name="ed").secret
    as_editor = {"Authorization": f"Bearer {editor}"}
    r = api.put("/api/v1/notifications/channels/x", headers=as_editor,
                json={"kind": "slack", "config": {"url": "http://x"}})
    assert r.status_code == 403
    r = api.post("/api/v1/notifications/silences", headers=as_editor,
                 json={"matchers": ['a="b"'], "duration_s": 60})
    assert r.status_code == 201  # editors may silence
    for body in ({"kind": "pager", "config": {}}, {"kind": "slack", "config": {}},
                 {"kind": "slack", "config": {"url": "ftp://x"}},
                 {"kind": "email", "config": {"host": "h", "from": "a@b", "to": ["nobody"]}}):
        assert api.put("/api/v1/notifications/channels/x", json=body).status_code == 400, body
    assert api.put("/api/v1/notifications/routes/r",
                   json={"channel": "missing"}).status_code == 404
    channel(api, "c", "slack", {"url": "http://127.0.0.1:9"})
    assert api.put("/api/v1/notifications/routes/r", json={
        "channel": "c", "matchers": ["severity=~\"(\""]}).status_code == 400
    # updating a channel without a secret keeps the stored one
    channel(api, "h", "webhook", {"url": "http://127.0.0.1:9"}, secret=SECRET)
    assert channel(api, "h", "webhook", {"url": "http://127.0.0.1:8"})["has_secret"] is True


def test_a_new_lease_holder_sends_what_a_dead_worker_had_claimed(api, worker):
    with http_receiver() as hook:
        channel(api, "hook", "webhook", {"url": hook.url})
        route(api, "all", "hook")
        signal(api)
        # A worker claimed the delivery for a minute, then died before sending it.
        with worker.db.write() as session:
            [claimed] = notify_repo.claim_due(session, int(time.time() * 1000) + 1000,
                                              "dead-worker", 60_000, 10)
        worker.run_once()
        assert hook.requests == []  # its lease still stands
        assert worker.take_over() == 1  # what taking the notifications lease runs
        worker.run_once()
        assert [r.headers["X-Triops-Delivery"] for r in hook.requests] == [claimed]
        assert [(d["status"], d["attempts"]) for d in deliveries(api)] == [("sent", 1)]
