"""Three real ``triops up`` replicas on one PostgreSQL database share the background
duties through leases: kill -9 the replica holding them, and the duties go on in a
surviving replica within seconds, with nothing done twice.

The duties watched are notification delivery (a webhook channel) and runbook steps (a
runbook whose step calls a webhook); both receivers here count what they were sent.
"""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psycopg

from tests.conftest import ServerProcess, free_port, new_server
from tests.ops.notify_receivers import http_receiver
from tests.waiting import wait_until

DUTIES = ("monitors", "notifications", "online-evals", "runbooks")
HOLDERS = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE l.locktype = 'advisory' AND l.classid = 1953655151 AND l.granted
"""
RUNBOOK = """
trigger: {{kind: [latency, errors]}}
steps:
  - action: webhook.call
    params: {{url: "{url}/runbook", body: {{incident: "{{{{ incident.id }}}}"}}}}
approval: auto
"""


def holders(store_url: str) -> dict[str, int]:
    """Each held duty and the process id of the replica holding it."""
    with psycopg.connect(store_url.replace("+psycopg", ""), autocommit=True) as conn:
        names = [row[0] for row in conn.execute(HOLDERS)]
    found = (re.fullmatch(r"triops lease (\S+) pid (\d+) on .*", name) for name in names)
    return {m[1]: int(m[2]) for m in found if m}


def all_held(store_url: str, among: set[int]) -> bool:
    """Every duty has a holder, and each is one of the processes ``among``."""
    held = holders(store_url)
    return set(held) >= set(DUTIES) and set(held.values()) <= among


def signal(replica: ServerProcess, kind: str, service: str) -> str:
    with replica.http() as http:
        r = http.post("/api/v1/signals", json={
            "source": "ops", "kind": kind, "subject": f"service:{service}",
            "severity": "error", "labels": {"service": service},
            "summary": f"{kind} on {service}"})
    assert r.status_code == 201, r.text
    return r.json()["incident_id"]


def test_killing_the_lease_holder_moves_the_duties_and_repeats_nothing(tmp_path,
                                                                        pg_databases):
    first = new_server("postgresql", tmp_path / "r0", pg_databases)
    replicas = [first] + [
        ServerProcess(url=f"http://127.0.0.1:{port}", store_url=first.store_url,
                      home=tmp_path / f"r{i}", admin_key=first.admin_key, port=port)
        for i, port in ((1, free_port()), (2, free_port()))]
    for replica in replicas[1:]:
        replica.home.mkdir()
    with http_receiver() as receiver, ThreadPoolExecutor(2) as starting:
        try:
            # The first replica migrates the new database and takes every duty's lease
            # before the others start, so killing it moves them all.
            first.start(timeout=120)
            wait_until(lambda: all_held(first.store_url, {first.process.pid}), timeout=20,
                       message="the first replica to lease every duty")
            list(starting.map(lambda r: r.start(timeout=120), replicas[1:]))
            with first.http() as http:
                assert http.put("/api/v1/notifications/channels/hook", json={
                    "kind": "webhook", "config": {"url": f"{receiver.url}/notify"}}
                ).status_code == 200
                assert http.put("/api/v1/notifications/routes/all", json={
                    "channel": "hook", "group_wait_s": 0}).status_code == 200
                assert http.put("/api/v1/runbooks/tell", content=RUNBOOK.format(
                    url=receiver.url)).status_code == 201

            def received(path: str) -> Counter[str]:
                return Counter(r.headers.get("X-Triops-Delivery") or r.json()["incident"]
                               for r in list(receiver.requests) if r.path == path)

            before = signal(replicas[0], "latency", "checkout")
            wait_until(lambda: received("/notify") and received("/runbook"), timeout=15,
                       message="the first incident's notification and runbook step")

            # kill -9 the replica holding the leases.
            assert all_held(first.store_url, {first.process.pid})
            first.kill()
            survivors = replicas[1:]
            after = signal(survivors[0], "errors", "billing")

            def survivors_state() -> str:
                return (f"the second incident's notification and runbook step, from a "
                        f"surviving replica (notified {dict(received('/notify'))}, runbook "
                        f"{dict(received('/runbook'))}, leases "
                        f"{holders(first.store_url)}); survivors' logs:\n"
                        + "\n".join(r.log_text()[-3000:] for r in survivors))

            # 30 s: on CI's two cores three replicas, PostgreSQL and the suite share the
            # CPU; a survivor takes the leases within a tick (~1 s) when it gets a core.
            wait_until(lambda: len(received("/notify")) == 2 and after in received("/runbook"),
                       timeout=30, message=survivors_state)
            wait_until(lambda: all_held(first.store_url, {r.process.pid for r in survivors}),
                       timeout=15, message="every duty to be leased by a survivor")

            # Nothing done twice: one message per delivery, one runbook call per incident,
            # each delivery sent on its first attempt, one run per incident.
            assert list(received("/notify").values()) == [1, 1]
            assert received("/runbook") == Counter({before: 1, after: 1})
            with survivors[0].http() as http:
                deliveries = http.get("/api/v1/notifications/deliveries").json()
                runs = http.get("/api/v1/runbook-runs").json()
            assert sorted((d["status"], d["attempts"]) for d in deliveries) == [("sent", 1)] * 2
            assert sorted(r["incident_id"] for r in runs) == sorted([before, after])
        finally:
            for replica in replicas:
                replica.stop()
