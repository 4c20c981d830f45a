"""``triops notify …``: notification channels, routes, silences and deliveries, on the
store directly (the server's worker sends what is queued)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from triops.cli.admin import _when
from triops.cli.common import ProjectOpt, StoreOpt, console, open_database, settings_from
from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.ops.notifications import channel_kind, parse_matchers
from triops.ops.notifications import notification_store as repo
from triops.server import DEFAULT_PROJECT
from triops.server import audit_log as audit

notify_app = typer.Typer(help="Notifications out: channels, routes, silences, deliveries.",
                         no_args_is_help=True)


def _db(store: str | None):  # type: ignore[no-untyped-def]
    return open_database(settings_from(store=store))


@notify_app.command("channel-set")
def channel_set(
    name: str,
    kind: Annotated[str, typer.Option(help="slack, webhook, email or alertmanager")],
    config: Annotated[str, typer.Option(help='JSON, e.g. \'{"url": "https://..."}\'')],
    secret: Annotated[str | None, typer.Option(help="signing key, SMTP password or token; "
                                                    "omitted: keep the stored one")] = None,
    project: ProjectOpt = DEFAULT_PROJECT, store: StoreOpt = None,
) -> None:
    """Create or replace a channel."""
    try:
        parsed = json.loads(config)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--config is not JSON: {exc}") from None
    checked = channel_kind(kind).check(parsed if isinstance(parsed, dict) else {})
    with _db(store).write() as session:
        repo.put_channel(session, project, name, kind, checked, secret, keep_secret=True)
        audit.record(session, project=project, actor="cli", action="notify.channel.put",
                     target=name, detail={"kind": kind})
    console.print(f"channel {name} ({kind}) saved")


@notify_app.command("channels")
def channels(project: ProjectOpt = DEFAULT_PROJECT, store: StoreOpt = None) -> None:
    """List channels (never their secrets)."""
    with _db(store).read() as session:
        rows = repo.list_channels(session, project)
    table = Table("name", "kind", "config", "has secret")
    for r in rows:
        table.add_row(r.name, r.kind, json.dumps(r.config), "yes" if r.secret else "no")
    console.print(table)


@notify_app.command("route-set")
def route_set(
    name: str,
    channel: Annotated[str, typer.Option(help="channel to send to")],
    match: Annotated[list[str] | None, typer.Option(help='matcher, e.g. severity=~"error|critical"')] = None,
    group_by: Annotated[list[str] | None, typer.Option(help="label to group by")] = None,
    group_wait_s: Annotated[int, typer.Option(min=0)] = 30,
    repeat_interval_s: Annotated[int, typer.Option(min=0, help="0: never re-announce")] = 14400,
    send_resolved: Annotated[bool, typer.Option()] = True,
    project: ProjectOpt = DEFAULT_PROJECT, store: StoreOpt = None,
) -> None:
    """Create or replace a route."""
    parse_matchers(match or [])
    with _db(store).write() as session:
        repo.put_route(session, project, name, channel=channel, matchers=match or [],
                       group_by=group_by or [], group_wait_s=group_wait_s,
                       repeat_interval_s=repeat_interval_s, send_resolved=send_resolved)
        audit.record(session, project=project, actor="cli", action="notify.route.put",
                     target=name)
    console.print(f"route {name} → {channel} saved")


@notify_app.command("routes")
def routes(project: ProjectOpt = DEFAULT_PROJECT, store: StoreOpt = None) -> None:
    """List routes."""
    with _db(store).read() as session:
        rows = repo.list_routes(session, project)
    table = Table("name", "channel", "matchers", "group by", "wait s", "repeat s", "resolved")
    for r in rows:
        table.add_row(r.name, r.channel, " ".join(r.matchers), ",".join(r.group_by),
                      str(r.group_wait_s), str(r.repeat_interval_s), str(r.send_resolved))
    console.print(table)


@notify_app.command("silence")
def silence(
    match: Annotated[list[str], typer.Option(help='matcher, e.g. service="checkout"')],
    duration_s: Annotated[int, typer.Option(min=1, help="how long, from now")],
    comment: Annotated[str, typer.Option()] = "",
    project: ProjectOpt = DEFAULT_PROJECT, store: StoreOpt = None,
) -> None:
    """Silence matching incidents for a while; prints the silence id."""
    parse_matchers(match)
    start = now_ms()
    with _db(store).write() as session:
        row = repo.add_silence(session, project, match, start, start + duration_s * 1000,
                               "cli", comment)
        audit.record(session, project=project, actor="cli", action="notify.silence.create",
                     target=row.id, detail={"matchers": match})
    console.print(row.id)


@notify_app.command("silences")
def silences(project: ProjectOpt = DEFAULT_PROJECT, store: StoreOpt = None) -> None:
    """List silences, latest ending first."""
    now = now_ms()
    with _db(store).read() as session:
        rows = repo.list_silences(session, project)
    table = Table("id", "matchers", "starts (UTC)", "ends (UTC)", "active", "by", "comment")
    for r in rows:
        table.add_row(r.id, " ".join(r.matchers), _when(r.starts_ms), _when(r.ends_ms),
                      "yes" if r.starts_ms <= now < r.ends_ms else "no", r.created_by,
                      r.comment)
    console.print(table)


@notify_app.command("unsilence")
def unsilence(silence_id: str, project: ProjectOpt = DEFAULT_PROJECT,
              store: StoreOpt = None) -> None:
    """Expire a silence now."""
    with _db(store).write() as session:
        repo.expire_silence(session, project, silence_id)
        audit.record(session, project=project, actor="cli", action="notify.silence.expire",
                     target=silence_id)
    console.print(f"expired {silence_id}")


@notify_app.command("deliveries")
def deliveries(
    status: Annotated[str | None, typer.Option(help="pending, sent, failed or silenced")] = None,
    incident: Annotated[str | None, typer.Option(help="only this incident's")] = None,
    project: ProjectOpt = DEFAULT_PROJECT, store: StoreOpt = None,
) -> None:
    """List deliveries, newest first, with their attempts and last error."""
    with _db(store).read() as session:
        rows = [(r, repo.incident_ids(session, r.id)) for r in repo.list_deliveries(
            session, project, status=status, incident_id=incident)]
    table = Table("id", "route", "channel", "event", "status", "attempts", "incidents",
                  "created (UTC)", "last error")
    for r, ids in rows:
        table.add_row(r.id, r.route, r.channel, r.event, r.status, str(r.attempts),
                      ",".join(ids), _when(r.created_ms), r.last_error[:80])
    console.print(table)
