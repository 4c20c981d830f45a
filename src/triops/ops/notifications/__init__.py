"""Notifications out: channels (Slack, signed webhook, e-mail, Alertmanager), routes with
matchers and grouping, silences, and a durable outbox delivered by a worker.

The incident engine calls :func:`notify_incident` in the transaction that opens,
escalates or resolves an incident; the server runs a :class:`NotificationWorker`. ``notification_store`` holds the channels,
routes, silences and deliveries; its functions take the caller's session.
"""

from triops.ops.notifications.dispatch import notify_incident
from triops.ops.notifications.kinds import CHANNEL_KINDS, Channel, channel_kind
from triops.ops.notifications.matchers import Matcher, matches_all, parse_matcher, parse_matchers
from triops.ops.notifications.messages import FIRING, RESOLVED, Message, labels_of
from triops.ops.notifications.webhook import signature, verify
from triops.ops.notifications.worker import NotificationWorker, WorkerSettings
from triops.store.repos import notifications as notification_store

__all__ = [
    "CHANNEL_KINDS", "FIRING", "RESOLVED", "Channel", "Matcher", "Message",
    "NotificationWorker", "WorkerSettings", "channel_kind", "labels_of", "matches_all",
    "notification_store", "notify_incident", "parse_matcher", "parse_matchers", "signature", "verify",
]
