"""E-mail through an SMTP server (optionally STARTTLS and login)."""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

from triops.core.errors import InvalidInput, UpstreamError
from triops.ops.notifications.channel_config import require_str
from triops.ops.notifications.messages import Message


class EmailChannel:
    secret_role = "SMTP password (with config.username)"

    def check(self, config: Mapping[str, Any]) -> dict[str, Any]:
        port = config.get("port", 587)
        if not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidInput("config.port of an email channel must be a TCP port number")
        to = config.get("to")
        if isinstance(to, str):
            to = [to]
        if not isinstance(to, list) or not to or not all(isinstance(a, str) and "@" in a
                                                          for a in to):
            raise InvalidInput("an email channel needs config.to: one or more addresses")
        sender = require_str(config, "from", "email")
        return {"host": require_str(config, "host", "email"), "port": port,
                "starttls": bool(config.get("starttls", True)),
                "username": str(config.get("username") or ""), "from": sender, "to": to}

    def send(self, message: Message, config: Mapping[str, Any], secret: str | None,
             timeout_s: float) -> None:
        mail = EmailMessage()
        mail["Subject"] = message.subject()
        mail["From"] = config["from"]
        mail["To"] = ", ".join(config["to"])
        mail["X-Triops-Delivery"] = message.delivery_id
        mail.set_content(message.text())
        try:
            with smtplib.SMTP(config["host"], config["port"], timeout=timeout_s) as smtp:
                if config["starttls"]:
                    smtp.starttls()
                if config["username"]:
                    smtp.login(config["username"], secret or "")
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise UpstreamError(f"SMTP {config['host']}:{config['port']} failed: "
                                f"{exc.__class__.__name__}: {exc}") from None
