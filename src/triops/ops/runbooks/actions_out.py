"""Runbook actions that reach out: a JSON webhook (optionally HMAC-signed) and notify."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from triops.core.errors import InvalidInput, UpstreamError
from triops.ops.notifications.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from triops.ops.runbooks.actions import Action, ActionContext, Change, Outcome, register


class _WebhookParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(..., pattern=r"^https?://")
    body: dict[str, Any] = Field(default_factory=dict)
    secret: str | None = Field(None, description="name of a secret in runbook_secrets")
    timeout_s: float = Field(10.0, gt=0, le=120)


class WebhookCall(Action):
    """POST JSON to a URL; a 2xx answer is success."""

    name = "webhook.call"
    Params = _WebhookParams

    def _payload(self, ctx: ActionContext, p: _WebhookParams) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(p.body or {"incident": ctx.incident}, sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        if p.secret is not None:
            if p.secret not in ctx.secrets:
                raise InvalidInput(f"webhook secret {p.secret!r} is not in runbook_secrets")
            # Signed the way notification webhooks are, so one receiver verifies both.
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = signature(ctx.secrets[p.secret], timestamp, body)
        return body, headers

    def dry_run(self, ctx: ActionContext, params: _WebhookParams) -> list[Change]:
        body, _headers = self._payload(ctx, params)
        return [Change(params.url, "POST", None, json.loads(body))]

    def run(self, ctx: ActionContext, params: _WebhookParams) -> Outcome:
        body, headers = self._payload(ctx, params)
        try:
            reply = httpx.post(params.url, content=body, headers=headers,
                               timeout=params.timeout_s)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"webhook {params.url} failed: {exc}") from None
        if not reply.is_success:
            raise UpstreamError(f"webhook {params.url} answered {reply.status_code}")
        return Outcome([Change(params.url, "POST", None, json.loads(body))],
                       detail={"status": reply.status_code})


class _NotifyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = "default"
    message: str = ""


class Notify(Action):
    """Ask for a notification; the run records the request."""

    name = "notify"
    changes_production = False
    Params = _NotifyParams

    def _request(self, ctx: ActionContext, p: _NotifyParams) -> dict[str, Any]:
        return {"channel": p.channel, "message": p.message or ctx.incident.get("title", ""),
                "incident_id": ctx.incident.get("id"), "project": ctx.project}

    def dry_run(self, ctx: ActionContext, params: _NotifyParams) -> list[Change]:
        return [Change(f"channel:{params.channel}", "notification", None,
                       self._request(ctx, params))]

    def run(self, ctx: ActionContext, params: _NotifyParams) -> Outcome:
        request = self._request(ctx, params)
        if ctx.notifier is not None:
            ctx.notifier(params.channel, request)
        return Outcome([Change(f"channel:{params.channel}", "notification", None, request)])


for _action in (WebhookCall(), Notify()):
    register(_action)
