"""Writes records off the request path: requests queue, one thread commits in batches.

Request handlers only append to a deque (no lock, no I/O, no thread wake-up), so the
hot path never hands the GIL to the writer. The writer wakes on its own clock, takes
everything queued meanwhile, and commits one transaction per project. ``flush()``
waits for what was queued so far; ``close()`` drains the queue before returning.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from triops.store.engine import Database

log = logging.getLogger("triops.store")

T = TypeVar("T")

_BATCH = 2_000
_ATTEMPTS = 3


class BatchWriter(Generic[T]):
    """Subclasses say what to write (``persist``) and may prepare work outside the
    transaction (``prepare``), e.g. feeding a monitor that returns signals."""

    def __init__(self, db: Database, *, name: str, interval_s: float = 0.25) -> None:
        self._db = db
        self._name = name
        self._interval_s = interval_s
        self._pending: deque[tuple[str, T]] = deque()
        self._queued = 0
        self._written = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def prepare(self, project: str, items: list[T]) -> Any:
        return None

    def persist(self, session: Session, project: str, items: list[T], prepared: Any) -> None:
        raise NotImplementedError

    def enqueue(self, project: str, item: T) -> None:
        self._pending.append((project, item))
        self._queued += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written (tests and shutdown use it)."""
        target, deadline = self._queued, time.monotonic() + timeout
        self._wake.set()
        while self._written < target:
            if time.monotonic() > deadline or not self._thread.is_alive():
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join(30)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            stopping = self._stopping
            while self._pending:
                batch = []
                while self._pending and len(batch) < _BATCH:
                    batch.append(self._pending.popleft())
                self._write(batch)
                self._written += len(batch)
            if stopping:
                return

    def _write(self, batch: list[tuple[str, T]]) -> None:
        by_project: dict[str, list[T]] = defaultdict(list)
        for project, item in batch:
            by_project[project].append(item)
        for project, items in by_project.items():
            prepared = self.prepare(project, items)
            for attempt in range(_ATTEMPTS):
                try:
                    with self._db.write() as session:
                        self.persist(session, project, items, prepared)
                    break
                except Exception:
                    # A locked or restarting database gets more chances; after that the
                    # log says what was lost rather than the writer thread dying.
                    if attempt == _ATTEMPTS - 1:
                        log.exception("%s could not write %d records for project %s",
                                      self._name, len(items), project)
                    else:
                        time.sleep(0.5 * (attempt + 1))
