"""The channel kinds: one protocol, one table of kinds.

Adding a kind is one class with ``check`` and ``send`` and one entry in ``CHANNEL_KINDS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from triops.core.errors import InvalidInput
from triops.ops.notifications.messages import Message


class Channel(Protocol):
    #: What ``has_secret`` means for this kind (shown in errors and docs).
    secret_role: str

    def check(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The validated config to store; raises InvalidInput with what is wrong."""

    def send(self, message: Message, config: Mapping[str, Any], secret: str | None,
             timeout_s: float) -> None:
        """Deliver the message; raises UpstreamError when the far side did not take it."""


def _kinds() -> dict[str, Channel]:
    from triops.ops.notifications.alertmanager_out import AlertmanagerChannel
    from triops.ops.notifications.email import EmailChannel
    from triops.ops.notifications.slack import SlackChannel
    from triops.ops.notifications.webhook import WebhookChannel

    return {"slack": SlackChannel(), "webhook": WebhookChannel(), "email": EmailChannel(),
            "alertmanager": AlertmanagerChannel()}


#: Every channel kind by name.
CHANNEL_KINDS: dict[str, Channel] = _kinds()


def channel_kind(kind: str) -> Channel:
    try:
        return CHANNEL_KINDS[kind]
    except KeyError:
        raise InvalidInput(f"channel kind {kind!r} is not one of: "
                           f"{', '.join(sorted(CHANNEL_KINDS))}") from None
