"""Generic JSON webhooks, signed with HMAC-SHA256.

Each request carries ``X-Triops-Timestamp`` (Unix seconds) and
``X-Triops-Signature: sha256=<hex>``, the HMAC of ``<timestamp>.<raw body>`` under the
channel's secret. Signing the timestamp with the body lets a receiver refuse replays:
it recomputes the HMAC and rejects a timestamp older than a few minutes.
``X-Triops-Delivery`` names the delivery, so a receiver can drop a retried duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from triops.ops.notifications.channel_config import require_http_url
from triops.ops.notifications.http_delivery import post
from triops.ops.notifications.messages import Message

SIGNATURE_HEADER = "X-Triops-Signature"
TIMESTAMP_HEADER = "X-Triops-Timestamp"
DELIVERY_HEADER = "X-Triops-Delivery"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Triops-Signature`` value of a request.

    >>> signature("s3cret", "1700000000", b'{"a":1}')[:15]
    'sha256=1698a50b'
    """
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, header: str, *,
           now_s: float | None = None, tolerance_s: float = 300) -> bool:
    """What a receiver does: constant-time compare, then refuse stale timestamps."""
    if not hmac.compare_digest(signature(secret, timestamp, body), header):
        return False
    try:
        sent = float(timestamp)
    except ValueError:
        return False
    return abs((time.time() if now_s is None else now_s) - sent) <= tolerance_s


class WebhookChannel:
    secret_role = "HMAC-SHA256 signing key"

    def check(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"url": require_http_url(config, "url", "webhook")}

    def send(self, message: Message, config: Mapping[str, Any], secret: str | None,
             timeout_s: float) -> None:
        body = json.dumps(message.as_json(), separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {TIMESTAMP_HEADER: timestamp, DELIVERY_HEADER: message.delivery_id}
        if secret:
            headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
        post(config["url"], body, headers, timeout_s)
