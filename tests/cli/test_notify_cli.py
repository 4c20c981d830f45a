"""``triops notify``: channels, routes, silences and deliveries through the CLI on a store.

The verbs run in this process (the real command line, through Typer's runner): a
subprocess per verb cost a second or more each, and how the ``triops`` process prints an
error and exits is tested once for all verbs in test_cli.py."""

from __future__ import annotations

from tests.cli.in_process import cli, failure
from triops.core.signals import Pillar, Severity, Signal
from triops.ops import ingest
from triops.store import Database


def test_channel_route_silence_and_deliveries(store_url):
    run = lambda *args: cli("notify", *args, "--store", store_url)
    made = run("channel-set", "hook", "--kind", "webhook",
               "--config", '{"url": "http://127.0.0.1:9/in"}', "--secret", "s3cret-key")
    assert made.exit_code == 0, made.output
    listed = run("channels").stdout
    assert "hook" in listed and "yes" in listed and "s3cret-key" not in listed
    assert run("route-set", "urgent", "--channel", "hook", "--match", 'severity=~"error|critical"',
               "--group-wait-s", "0").exit_code == 0
    assert 'severity=~"error|critical"' in run("routes").stdout

    silenced = run("silence", "--match", 'service="x"', "--duration-s", "600",
                   "--comment", "maintenance")
    silence_id = silenced.stdout.strip()
    assert silenced.exit_code == 0 and len(silence_id) > 8
    assert "maintenance" in run("silences").stdout

    db = Database(store_url)
    with db.write() as session:
        folded = ingest(session, "default", Signal(source=Pillar.ops, kind="k", subject="service:x",
                                                   severity=Severity.critical))
    db.dispose()
    queued = run("deliveries", "--status", "pending").stdout
    assert folded.incident_id in queued and "urgent" in queued
    assert run("unsilence", silence_id).exit_code == 0
    assert "no" in run("silences").stdout

    assert "matcher" in failure(run("route-set", "r", "--channel", "hook", "--match",
                                    "severity=~("))
    assert "pager" in failure(run("channel-set", "c", "--kind", "pager", "--config", "{}"))
