"""Leases on background duties: of the server replicas sharing one store, one at a time
holds a duty's lease and does the duty's work.

On PostgreSQL a lease is a session-level advisory lock held on a connection of its own
(``Database.dedicated``). When the holder's process dies, its connection closes and
PostgreSQL releases the lock at once; when its machine vanishes, TCP keepalives on the
connection (idle 5 s, then 3 probes 1 s apart) end it within about 10 s. The other
replicas ask on every tick of their loop (1 to 5 s), so one of them takes the duty over
within seconds. The connection names its process in ``pg_stat_activity``, so the
holders of triops' leases are::

    SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
    WHERE l.locktype = 'advisory' AND l.classid = 1953655151 AND l.granted;

SQLite serves one process, so there a lease is a lock inside the process.

>>> import tempfile
>>> db = Database(f"sqlite:///{tempfile.mkdtemp()}/triops.db")
>>> first, second = Lease(db, "doc"), Lease(db, "doc")
>>> first.hold(), second.hold()
(True, False)
>>> first.release(); second.hold()
True
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from types import TracebackType

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from triops.store.engine import Database

log = logging.getLogger("triops.leases")

#: How long a vanished holder's machine keeps a lease, at most: PostgreSQL's keepalive
#: settings on the lease connection (idle, probe interval, probes).
KEEPALIVE_S = (5, 1, 3)
#: Names the advisory locks of triops, the first half of each lock's two-part key.
_NAMESPACE = 0x7472_696F  # "trio"

_local_locks: dict[tuple[str, str], threading.Lock] = {}
_local_guard = threading.Lock()


def _key(duty: str) -> int:
    return int.from_bytes(hashlib.blake2b(duty.encode(), digest_size=4).digest(), "big",
                          signed=True)


def holder_name(duty: str) -> str:
    """How the lease connection is named in ``pg_stat_activity`` (at most 63 bytes)."""
    return f"triops lease {duty} pid {os.getpid()} on {socket.gethostname()}"[:63]


class Lease:
    """One duty's lease, as seen from this process.

    ``hold()`` is asked on every tick: it takes the lease when it is free and otherwise
    checks that it is still this process's; ``on_take`` runs each time it is taken, so
    the new holder can pick up work a dead holder left half done. Also a context manager
    for a lease held over one piece of work: ``with Lease(db, name) as held: ...``.
    """

    def __init__(self, db: Database, duty: str, on_take: Callable[[], object] | None = None
                 ) -> None:
        self.db, self.duty = db, duty
        self._on_take = on_take
        self._held = False
        #: ``on_take`` has yet to succeed since the lease was taken (asked again each tick).
        self._owed = False
        self._conn: Connection | None = None

    def hold(self) -> bool:
        """True while this process holds the lease (taking it when it is free)."""
        was = self._held
        try:
            self._held = self._check() if was else self._take()
        except SQLAlchemyError as exc:
            log.warning("lease %s: lost the database connection (%s)", self.duty,
                        exc.__class__.__name__)
            self._drop()
        if self._held and not was:
            log.info("lease %s taken", self.duty)
            self._owed = self._on_take is not None
        if self._held and self._owed and self._on_take is not None:
            self._on_take()
            self._owed = False
        return self._held

    def _take(self) -> bool:
        if self.db.is_sqlite:
            return self._local().acquire(blocking=False)
        if self._conn is None:
            self._conn = self.db.dedicated()
            idle, interval, count = KEEPALIVE_S
            self._conn.execute(text(
                "SELECT set_config('application_name', :name, false), "
                "set_config('tcp_keepalives_idle', :idle, false), "
                "set_config('tcp_keepalives_interval', :interval, false), "
                "set_config('tcp_keepalives_count', :count, false)"),
                {"name": holder_name(self.duty), "idle": str(idle),
                 "interval": str(interval), "count": str(count)})
        taken = self._conn.scalar(
            text("SELECT pg_try_advisory_lock(CAST(:ns AS integer), CAST(:key AS integer))"),
            {"ns": _NAMESPACE, "key": _key(self.duty)})
        return bool(taken)

    def _check(self) -> bool:
        if self._conn is not None:
            # The lock lives as long as its connection: a live connection still holds it.
            self._conn.execute(text("SELECT 1"))
        return True

    def _local(self) -> threading.Lock:
        with _local_guard:
            return _local_locks.setdefault((self.db.url, self.duty), threading.Lock())

    def _drop(self) -> None:
        self._held = self._owed = False
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except SQLAlchemyError:
                pass

    def release(self) -> None:
        """Let the lease go, so that the next to ask gets it at once."""
        if self._held and self.db.is_sqlite:
            self._local().release()
        elif self._held and self._conn is not None:
            try:
                # Closing the connection would release it too, but only once the server
                # has noticed the close.
                self._conn.execute(text(
                    "SELECT pg_advisory_unlock(CAST(:ns AS integer), CAST(:key AS integer))"),
                    {"ns": _NAMESPACE, "key": _key(self.duty)})
            except SQLAlchemyError:
                pass  # the connection is gone, and the lock with it
        self._drop()

    def __enter__(self) -> bool:
        return self.hold()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()
