"""The background thread that drives the runbook engine inside a server, while its
replica holds the ``runbooks`` lease."""

from __future__ import annotations

import logging
import threading

from triops.ops.runbooks.engine import Engine
from triops.store.leases import Lease

log = logging.getLogger("triops.runbooks")


class RunbookWorker:
    def __init__(self, engine: Engine, interval_s: float = 1.0) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self.lease = Lease(engine.db, "runbooks", on_take=engine.take_over)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RunbookWorker:
        self._thread = threading.Thread(target=self._loop, name="triops-runbooks", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.engine.tick() if self.lease.hold() else 0
            except Exception:
                log.exception("runbook tick failed")
                busy = 0
            if not busy:
                self._stop.wait(self.interval_s)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.lease.release()
