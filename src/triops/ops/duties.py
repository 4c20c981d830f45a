"""The server's duty loop: one background thread that, every tick, runs the duties that
several replicas share over one store (Prometheus source polls, retention). Each duty
claims its own work in the store, so whichever replica's loop gets there first does it
and the others skip it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

log = logging.getLogger("triops.ops.duties")


class Duty(Protocol):
    def run_due(self) -> int: ...

    def close(self) -> None: ...


class DutyLoop:
    def __init__(self, duties: Sequence[Duty], tick_s: float = 1.0) -> None:
        self.duties, self.tick_s = list(duties), tick_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DutyLoop:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="triops-duties",
                                            daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            for duty in self.duties:
                try:
                    duty.run_due()
                except Exception:
                    log.exception("duty %s failed", type(duty).__name__)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for duty in self.duties:
            duty.close()
