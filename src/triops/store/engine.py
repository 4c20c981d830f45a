"""The database engine and its transactions.

SQLite runs in WAL mode with a busy timeout and foreign keys on. Writes open their
transaction with ``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout
instead of failing when a read lock would have to be upgraded; reads stay deferred and
never block each other. Within one process, writers queue on a lock first: SQLite's
busy handler polls with sleeps of up to 100 ms, so concurrent requests waiting on it
left the one write lock idle between holders. A writer still waiting when the busy
timeout runs out gets :class:`~triops.core.errors.Unavailable` (a 503 with
``Retry-After``): its transaction wrote nothing, and OTLP exporters and the MLflow
client retry such an answer.

``write_now`` is the hot routes' write: a Core connection instead of an ORM session,
and on SQLite the transaction runs right on the event loop's thread when the write lock
is free. A write with ``synchronous=NORMAL`` in WAL mode appends to the WAL file and
returns (no fsync), so it costs the loop less than the two thread wake-ups of a worker
thread cost the request, which on a busy machine are most of a small request's time.
The answer still leaves only after the commit, and a committed WAL frame survives the
process being killed (``kill -9``); what NORMAL gives up is the last commits before a
power loss or an OS crash, which FULL would keep at one fsync per commit. When another
writer holds the lock, the write goes to a worker thread and waits there as before.

WAL checkpoints (copying committed frames into the database file, with two fsyncs) run
on a thread of their own after writes, at most every ``CHECKPOINT_EVERY_S``, instead of
inside whichever commit crossed SQLite's threshold while the writers queued behind it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from triops.core.errors import InvalidInput, Unavailable

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: A commit checkpoints the WAL itself only past this many pages (40 MB of 4 KiB pages);
#: below it the checkpointer thread does, off the writers' path.
BACKSTOP_CHECKPOINT_PAGES = 10_000
#: The checkpointer thread runs at most this often, and only after a write.
CHECKPOINT_EVERY_S = 0.5
#: A WAL this long (pages, 16 MB) is finished under the write lock, so that the next write
#: starts it over (see ``_Checkpointer``). Writers wait for that pass's two fsyncs (10-15
#: ms on the bench machine), so a WAL that grows slowly pays it less often than at every
#: checkpoint; and it comes before the backstop: at 35 MB/s (64-row predictions at 2,500
#: requests/s) the WAL grows ~4,300 pages between two checkpoints, so it is finished
#: at ~8,300 at most.
RESTART_WAL_PAGES = 4_000

T = TypeVar("T")
log = logging.getLogger(__name__)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=8,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        # Checkpoints are the checkpointer thread's (see ``_Checkpointer``); a commit
        # runs one itself only if the WAL outgrows this many pages regardless.
        cur.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_CHECKPOINT_PAGES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        mode = "BEGIN IMMEDIATE" if conn.get_execution_options().get("triops_write") else "BEGIN"
        conn.exec_driver_sql(mode)

    return engine


@contextmanager
def _unstorable_values_are_invalid_input() -> Iterator[None]:
    """A value the database cannot hold is the caller's mistake, not the server's.

    PostgreSQL refuses NUL in text and numbers beyond a column's range (``DataError``);
    the SQLite driver refuses integers beyond 64 bits (``OverflowError``); both drivers
    refuse strings with lone surrogates (``UnicodeEncodeError``).
    """
    try:
        yield
    except DataError as exc:
        raise InvalidInput(f"a value cannot be stored: {_first_line(exc.orig)}") from exc
    except (OverflowError, UnicodeEncodeError) as exc:
        raise InvalidInput(f"a value cannot be stored: {exc}") from exc


def _busy() -> Unavailable:
    return Unavailable(
        f"the store was busy with other writes for {SQLITE_BUSY_TIMEOUT_MS // 1000} s; "
        "nothing was written: retry the request")


@contextmanager
def _busy_sqlite_is_unavailable() -> Iterator[None]:
    """SQLite's "database is locked" after the busy timeout means other writers held
    the one write lock all that time: the server is overloaded, the request was not."""
    try:
        yield
    except OperationalError as exc:
        if "database is locked" not in str(exc.orig):
            raise
        raise _busy() from exc


@contextmanager
def _one_at_a_time(lock: threading.Lock | None) -> Iterator[None]:
    """Hold this process's SQLite write lock (none on PostgreSQL), waiting at most the
    busy timeout for it."""
    if lock is None:
        yield
        return
    if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
        raise _busy()
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _write_transaction_guards(lock: threading.Lock | None) -> Iterator[None]:
    """What every write transaction runs inside, whichever connection it takes: one
    writer at a time in this process on SQLite, a value the database refuses as the
    caller's mistake, and SQLite's busy timeout as an overloaded server."""
    with (_one_at_a_time(lock), _unstorable_values_are_invalid_input(),
          _busy_sqlite_is_unavailable()):
        yield


class KeptWriter:
    """``Database.write_core`` for the one thread that owns it (the prediction log's
    writer), keeping its SQLite connection between transactions: checking one out of the
    pool and back in cost about a third of a one-row insert's commit. On PostgreSQL each
    transaction checks a connection out as ``write_core`` does, since the checkout's
    ping is what notices a restarted server."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: Connection | None = None

    def write(self, work: Callable[[Connection], T]) -> T:
        db = self._db
        if not db.is_sqlite:
            return db.write_core(work)
        with _write_transaction_guards(db._write_lock):
            if self._conn is None:
                self._conn = db._writes.connect()
            try:
                with self._conn.begin():
                    result = work(self._conn)
            except BaseException:
                self.close()  # whatever went wrong, the next transaction starts afresh
                raise
        db._committed()
        return result

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _first_line(error: BaseException | None) -> str:
    return str(error).split("\n", 1)[0]


def _passive_checkpoint(connection: sqlite3.Connection) -> int:
    """Copy what it can of the WAL into the file; the WAL's length in frames (-1 when
    another checkpoint was running)."""
    (_busy, wal_pages, _copied), = connection.execute(
        "PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return int(wal_pages)


class _Checkpointer:
    """Copies committed WAL frames into the database file on a thread of its own.

    SQLite's own automatic checkpoint runs inside the commit that crosses its threshold
    (1,000 pages), and with ``synchronous=NORMAL`` it syncs the WAL and the database
    file: that commit, and every writer queued behind the write lock, waited for two
    fsyncs. A ``PASSIVE`` checkpoint on a connection of its own needs no write lock, so
    writers go on appending while it copies. It changes nothing about durability: a
    commit is in the WAL before it is acknowledged, checkpointed or not.

    A write starts the WAL over from its beginning only when every frame in it was
    copied. Under steady writes a passive checkpoint never catches up (commits land while
    it copies), so the WAL grew to the backstop, and the commit that crossed it ran the
    checkpoint on the write path after all: every 1-2 s under 64-row predictions
    (~14 KB logged each), 15-25 ms of the log writer's CPU, with every request waiting
    on its log row behind it. So when the WAL has grown past ``RESTART_WAL_PAGES``, a
    second checkpoint runs holding this process's write lock: it copies only what was
    committed during the first, writers wait for that alone, and the next write starts
    the WAL over.
    """

    def __init__(self, path: str, write_lock: threading.Lock) -> None:
        self._path = path
        self._write_lock = write_lock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def poke(self) -> None:
        """A write committed: checkpoint soon."""
        if self._thread is None:
            with self._start:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(target=self._run, daemon=True,
                                                    name=f"triops-sqlite-checkpoint {self._path}")
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                                     isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._wake.wait()
                if self._stop.is_set():
                    return
                self._wake.clear()
                try:
                    self._checkpoint(connection)
                except sqlite3.Error:
                    log.warning("WAL checkpoint failed; the next one retries", exc_info=True)
                if self._stop.wait(CHECKPOINT_EVERY_S):
                    return
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        # The WAL's length as of the checkpoint's start: commits made while it copied
        # are not counted, so a long one says "frames were left" whatever it copied.
        if _passive_checkpoint(connection) >= RESTART_WAL_PAGES \
                and self._write_lock.acquire(timeout=CHECKPOINT_EVERY_S):
            try:
                _passive_checkpoint(connection)
            finally:
                self._write_lock.release()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


class Database:
    """Owns the engine and hands out read and write sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        # ORM write sessions and ``write_core``'s connections: one engine view for both.
        self._writes = self.engine.execution_options(triops_write=True)
        self._writer = sessionmaker(self._writes, expire_on_commit=False)
        self._dedicated: Engine | None = None
        self._write_lock = threading.Lock() if self.is_sqlite else None
        database = self.engine.url.database
        self._checkpointer = (_Checkpointer(database, self._write_lock)
                              if self._write_lock is not None and database
                              and database != ":memory:" and not database.startswith("file:")
                              else None)
        # The event loop's own connection (see ``write_now``): it only tries the write
        # lock, never waits on it, so a busy lock (or a second loop thread, in tests)
        # sends the write to a worker thread.
        self._inline: Connection | None = None

    @contextmanager
    def read(self) -> Iterator[Session]:
        with _unstorable_values_are_invalid_input(), self._reader() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on any error."""
        with (_write_transaction_guards(self._write_lock), self._writer() as session,
              session.begin()):
            yield session
        self._committed()

    def write_core(self, work: Callable[[Connection], T]) -> T:
        """``work`` in one write transaction on a Core connection, committed on success."""
        with (_write_transaction_guards(self._write_lock), self._writes.connect() as conn,
              conn.begin()):
            result = work(conn)
        self._committed()
        return result

    def kept_writer(self) -> KeptWriter:
        """``write_core`` for one thread that writes often: see ``KeptWriter``."""
        return KeptWriter(self)

    def _committed(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.poke()

    async def write_now(self, work: Callable[[Connection], T]) -> T:
        """``write_core`` from async code: returns once the transaction is committed."""
        if self._write_lock is not None and self._write_lock.acquire(blocking=False):
            try:
                done, result = self._write_inline(work)
            finally:
                self._write_lock.release()
            if done:
                self._committed()
                return result  # type: ignore[return-value]
        return await anyio.to_thread.run_sync(self.write_core, work)

    def _write_inline(self, work: Callable[[Connection], T]) -> tuple[bool, T | None]:
        if self._inline is None:
            self._inline = self._writes.connect()
            # Never wait for the lock on the loop: busy means "use a worker thread".
            # (On the driver's connection: a statement through SQLAlchemy would begin
            # a transaction.)
            self._inline.connection.dbapi_connection.execute("PRAGMA busy_timeout=0")
        conn = self._inline
        with _unstorable_values_are_invalid_input():
            try:
                transaction = conn.begin()
            except OperationalError as exc:
                if "database is locked" not in str(exc.orig):
                    raise
                conn.rollback()
                return False, None
            with transaction:
                return True, work(conn)

    def dedicated(self) -> Connection:
        """A PostgreSQL connection of its own outside the pool, in autocommit, for
        something that holds one for long (a lease): requests never wait for a pool slot it
        took, and TCP keepalives notice a vanished server in seconds."""
        if self._dedicated is None:
            self._dedicated = create_engine(self.url, poolclass=NullPool, connect_args={
                "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 1,
                "keepalives_count": 3})
        return self._dedicated.connect().execution_options(isolation_level="AUTOCOMMIT")

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._write_lock is not None:
            with self._write_lock:
                if self._inline is not None:
                    self._inline.close()
                    self._inline = None
        self.engine.dispose()
        if self._dedicated is not None:
            self._dedicated.dispose()
