"""``triops notify``: channels, routes, silences and deliveries through the CLI on a store."""

from __future__ import annotations

from tests.cli.test_cli import triops
from triops.core.signals import Pillar, Severity, Signal
from triops.ops import ingest
from triops.store import Database


def test_channel_route_silence_and_deliveries(store_url):
    run = lambda *args: triops("notify", *args, "--store", store_url)
    made = run("channel-set", "hook", "--kind", "webhook",
               "--config", '{"url": "http://127.0.0.1:9/in"}', "--secret", "s3cret-key")
    assert made.returncode == 0, made.stderr
    listed = run("channels").stdout
    assert "hook" in listed and "yes" in listed and "s3cret-key" not in listed
    assert run("route-set", "urgent", "--channel", "hook", "--match", 'severity=~"error|critical"',
               "--group-wait-s", "0").returncode == 0
    assert 'severity=~"error|critical"' in run("routes").stdout

    silenced = run("silence", "--match", 'service="x"', "--duration-s", "600",
                   "--comment", "maintenance")
    silence_id = silenced.stdout.strip()
    assert silenced.returncode == 0 and len(silence_id) > 8
    assert "maintenance" in run("silences").stdout

    db = Database(store_url)
    with db.write() as session:
        folded = ingest(session, "default", Signal(source=Pillar.ops, kind="k", subject="service:x",
                                                   severity=Severity.critical))
    db.dispose()
    queued = run("deliveries", "--status", "pending").stdout
    assert folded.incident_id in queued and "urgent" in queued
    assert run("unsilence", silence_id).returncode == 0
    assert "no" in run("silences").stdout

    bad = run("route-set", "r", "--channel", "hook", "--match", "severity=~(")
    assert bad.returncode == 1 and "matcher" in bad.stderr
    bad = run("channel-set", "c", "--kind", "pager", "--config", "{}")
    assert bad.returncode == 1 and "pager" in bad.stderr
