"""Buffer a run's values in memory and send them in large batches from a thread.

``log_metric`` appends a tuple under a lock (well under a microsecond); the thread
wakes when ``batch_size`` points are waiting or ``flush_interval_s`` has passed, and
sends them as one ``POST /api/v1/runs/{id}/batch`` with a fresh ``batch_id``. Params
and tags travel in batches of their own, so a refused param (MLflow's params are
write-once) cannot take metric points down with it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import orjson

from triops.client.delivery import Delivery
from triops.client.http import Rejected

log = logging.getLogger("triops.client")

Point = tuple[str, float | None, int, int]


class Batcher:
    def __init__(self, delivery: Delivery, run_id: str, *, batch_size: int = 10_000,
                 flush_interval_s: float = 1.0, max_buffered: int = 1_000_000) -> None:
        self.delivery = delivery
        self.path = f"/api/v1/runs/{run_id}/batch"
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_buffered = max(max_buffered, batch_size)
        self.sent_points = 0
        self.spooled_points = 0
        self._points: list[Point] = []
        self._entries: dict[str, dict[str, str]] = {"params": {}, "tags": {}}
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._closed = False
        self._send_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="triops-batcher", daemon=True)
        self._thread.start()

    # -- producer side ----------------------------------------------------------------

    def add_point(self, point: Point) -> None:
        with self._lock:
            self._points.append(point)
            n = len(self._points)
            if n >= self.max_buffered:
                # The server is slower than the program: wait instead of growing forever.
                self._wake.set()
                self._room.wait_for(lambda: len(self._points) < self.max_buffered)
        if n >= self.batch_size:
            self._wake.set()

    def add_points(self, points: list[Point]) -> None:
        with self._lock:
            self._points.extend(points)
            n = len(self._points)
        if n >= self.batch_size:
            self._wake.set()

    def add_entries(self, kind: str, values: dict[str, str]) -> None:
        with self._lock:
            self._entries[kind].update(values)
        self._wake.set()

    # -- sending ----------------------------------------------------------------------

    def _take(self) -> tuple[list[Point], dict[str, str], dict[str, str]]:
        with self._lock:
            points, self._points = self._points, []
            params, tags = self._entries["params"], self._entries["tags"]
            self._entries = {"params": {}, "tags": {}}
            self._room.notify_all()
        return points, params, tags

    def send_pending(self) -> None:
        """Send everything buffered now (from the thread, or from ``flush``)."""
        with self._send_lock:
            points, params, tags = self._take()
            if params or tags:
                self._post({"params": params, "tags": tags}, 0)
            for start in range(0, len(points), self.batch_size):
                chunk = points[start:start + self.batch_size]
                self._post({"metrics": chunk}, len(chunk))

    def _post(self, payload: dict[str, Any], points: int) -> None:
        payload["batch_id"] = uuid.uuid4().hex
        body = orjson.dumps(payload)
        try:
            reply = self.delivery.send(self.path, body)
        except Rejected:
            return  # kept on disk and listed by the delivery; the next batch goes on
        if reply is None:
            self.spooled_points += points
        else:
            self.sent_points += points

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            self._idle.clear()
            try:
                self.send_pending()
            except Exception:  # the thread must survive anything to keep sending
                log.exception("triops batcher failed to send")
            finally:
                self._idle.set()

    def flush(self) -> None:
        self.send_pending()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=60)
        self.send_pending()
