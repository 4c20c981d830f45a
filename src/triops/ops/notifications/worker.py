"""The delivery worker: claims due deliveries under a lease, sends them, records the
outcome, and retries failures with exponential backoff.

Several server replicas run a worker over one store; the one holding the
``notifications`` lease (``triops.store.leases``) queues repeats and sends, so a repeat
is queued once and a message goes out once. When that replica dies another takes the
lease within seconds and frees the rows the dead one had claimed: a message it was
sending at that moment goes out again, and receivers can drop such a duplicate by its
delivery id. Each claimed row is also leased for ``lease_s``, so two workers that both
believe they hold the lease (a holder cut off from the database mid-tick) still do not
send one row at once.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass

from triops.core.errors import TriopsError
from triops.core.ids import now_ms
from triops.ops.notifications.dispatch import enqueue_repeats, group_labels
from triops.ops.notifications.kinds import channel_kind
from triops.ops.notifications.matchers import matches_all, parse_matchers
from triops.ops.notifications.messages import IncidentView, Message, labels_of
from triops.store.engine import Database
from triops.store.leases import Lease
from triops.store.repos import notifications as repo

log = logging.getLogger("triops.notifications")


@dataclass(frozen=True)
class WorkerSettings:
    tick_s: float = 1.0
    lease_s: float = 60.0
    timeout_s: float = 10.0
    backoff_s: float = 2.0
    max_backoff_s: float = 600.0
    max_attempts: int = 10
    batch: int = 20

    def backoff_ms(self, attempts: int) -> int:
        """Wait before attempt ``attempts + 1``: 2 s, 4 s, 8 s... capped."""
        return int(min(self.max_backoff_s, self.backoff_s * 2 ** (attempts - 1)) * 1000)


class NotificationWorker:
    def __init__(self, db: Database, settings: WorkerSettings | None = None) -> None:
        self.db = db
        self.settings = settings or WorkerSettings()
        self.owner = uuid.uuid4().hex
        self.lease = Lease(db, "notifications", on_take=self.take_over)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> NotificationWorker:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="triops-notify",
                                            daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.settings.timeout_s + 5)
        self.lease.release()

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.tick_s):
            try:
                if self.lease.hold():
                    self.run_once()
            except Exception:
                log.exception("notification worker tick failed")

    def take_over(self) -> int:
        """Free the deliveries other workers had leased: called when this worker has just
        taken the notifications lease, so those workers are gone."""
        with self.db.write() as session:
            freed = repo.release_others(session, self.owner)
        if freed:
            log.warning("took over %d deliveries from a worker that lost its lease", freed)
        return freed

    def run_once(self, now: int | None = None) -> int:
        """Queue due repeats, then send every due delivery; returns how many were tried."""
        moment = now_ms() if now is None else now
        with self.db.write() as session:
            enqueue_repeats(session, moment)
        with self.db.write() as session:
            claimed = repo.claim_due(session, moment, self.owner,
                                     int(self.settings.lease_s * 1000), self.settings.batch)
        for delivery_id in claimed:
            self._deliver(delivery_id)
        return len(claimed)

    def _deliver(self, delivery_id: str) -> None:
        with self.db.read() as session:
            delivery = repo.get_delivery(session, delivery_id)
            if delivery is None:
                return
            silences = [parse_matchers(s.matchers)
                        for s in repo.list_silences(session, delivery.project,
                                                    active_at=now_ms())]
            incidents = [IncidentView.of(i) for i in repo.incidents_of(session, delivery)
                         if not any(matches_all(s, labels_of(i)) for s in silences)]
            try:
                channel = repo.get_channel(session, delivery.project, delivery.channel)
            except TriopsError as exc:
                channel, error = None, exc.message
        if not incidents:
            self._finish(delivery_id, status=repo.SILENCED, error="", attempted=False)
            return
        if channel is None:
            self._finish(delivery_id, status=repo.FAILED, error=error, attempted=True)
            return
        message = Message(delivery_id=delivery.id, project=delivery.project,
                          route=delivery.route, event=delivery.event,
                          group_labels=group_labels(delivery.group_key), incidents=incidents)
        try:
            channel_kind(channel.kind).send(message, channel.config, channel.secret,
                                            self.settings.timeout_s)
        except TriopsError as exc:
            self._failed(delivery.attempts + 1, delivery_id, exc.message)
        except Exception as exc:  # a bug in a channel must not stop the worker
            log.exception("channel %s failed unexpectedly", channel.kind)
            self._failed(delivery.attempts + 1, delivery_id, f"{exc.__class__.__name__}: {exc}")
        else:
            self._finish(delivery_id, status=repo.SENT, error="", attempted=True)

    def _failed(self, attempts: int, delivery_id: str, error: str) -> None:
        if attempts >= self.settings.max_attempts:
            self._finish(delivery_id, status=repo.FAILED, error=error, attempted=True)
        else:
            self._finish(delivery_id, status=repo.PENDING, error=error, attempted=True,
                         next_ms=now_ms() + self.settings.backoff_ms(attempts))

    def _finish(self, delivery_id: str, **outcome: object) -> None:
        with self.db.write() as session:
            if not repo.finish(session, delivery_id, self.owner, **outcome):  # type: ignore[arg-type]
                log.warning("delivery %s: lease lost before its outcome was recorded",
                            delivery_id)
