"""Alertmanager's API: ``POST /api/v2/alerts`` with one alert per incident.

Labels are the incident's labels plus ``alertname``, ``severity``, ``subject``,
``triops_project`` and ``triops_incident``; annotations are the incident's plus its
title as ``summary``. A resolved incident is sent with ``endsAt``; a firing one without,
so Alertmanager keeps it for its ``resolve_timeout`` and the route's repeat interval
re-sends it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from triops.ops.notifications.channel_config import require_http_url
from triops.ops.notifications.http_delivery import post
from triops.ops.notifications.messages import IncidentView, Message, rfc3339

_BAD_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_]")


def _label_name(name: str) -> str:
    cleaned = _BAD_LABEL_CHARS.sub("_", name)
    return cleaned if cleaned[:1].isalpha() or cleaned[:1] == "_" else f"_{cleaned}"


class AlertmanagerChannel:
    secret_role = "bearer token (optional)"

    def check(self, config: Mapping[str, Any]) -> dict[str, Any]:
        checked = {"url": require_http_url(config, "url", "alertmanager")}
        if config.get("generator_url_base"):
            checked["generator_url_base"] = require_http_url(config, "generator_url_base",
                                                             "alertmanager")
        return checked

    def send(self, message: Message, config: Mapping[str, Any], secret: str | None,
             timeout_s: float) -> None:
        alerts = [alert_of(i, message.project, config.get("generator_url_base", ""))
                  for i in message.incidents]
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        post(f"{config['url'].rstrip('/')}/api/v2/alerts", json.dumps(alerts).encode(),
             headers, timeout_s)


def alert_of(incident: IncidentView, project: str, generator_base: str) -> dict[str, Any]:
    labels = {_label_name(k): v for k, v in incident.labels.items()}
    labels.update(alertname=incident.kind.removeprefix("alert:"), severity=incident.severity,
                  subject=incident.subject, triops_project=project,
                  triops_incident=incident.id)
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {"summary": incident.title, **incident.annotations},
        "startsAt": rfc3339(incident.first_ms),
    }
    if incident.resolved_ms is not None:
        alert["endsAt"] = rfc3339(incident.resolved_ms)
    if generator_base:
        alert["generatorURL"] = f"{generator_base.rstrip('/')}/ui/incidents/{incident.id}"
    return alert
