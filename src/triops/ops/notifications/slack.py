"""Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat...)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from triops.ops.notifications.channel_config import require_http_url
from triops.ops.notifications.http_delivery import post
from triops.ops.notifications.messages import Message


class SlackChannel:
    secret_role = "unused (the webhook URL is the credential)"

    def check(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"url": require_http_url(config, "url", "slack")}

    def send(self, message: Message, config: Mapping[str, Any], secret: str | None,
             timeout_s: float) -> None:
        post(config["url"], json.dumps(payload(message)).encode(), {}, timeout_s)


def payload(message: Message) -> dict[str, Any]:
    """``text`` for clients without blocks, a header and one section per incident."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.subject()[:150]}}]
    for incident in message.incidents[:20]:  # Slack takes at most 50 blocks
        lines = [f"*[{incident.severity}] {incident.title}*",
                 f"`{incident.subject}` · incident `{incident.id}` · {incident.status}"]
        for key in ("description", "runbook_url", "generatorURL"):
            if incident.annotations.get(key):
                lines.append(f"{key}: {incident.annotations[key]}")
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}})
    return {"text": message.text(), "blocks": blocks}
