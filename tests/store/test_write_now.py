"""``Database.write_now``: on SQLite the transaction runs on the calling (event loop)
thread while the write lock is free, and on a worker thread, waiting for the lock as
every other writer does, while someone else holds it; either way it is committed
before the call returns, and a failed write leaves nothing."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from sqlalchemy import text

from tests.waiting import wait_until
from triops.core.errors import InvalidInput
from triops.store import Database, engine


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 't.db'}")
    with database.write() as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    yield database
    database.dispose()


def _insert(n: int):  # type: ignore[no-untyped-def]
    def work(conn):  # type: ignore[no-untyped-def]
        conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
        return threading.get_ident()
    return work


def _stored(db: Database) -> list[int]:
    with db.read() as session:
        return [n for (n,) in session.execute(text("SELECT n FROM t ORDER BY n"))]


def test_free_lock_writes_on_the_loop_thread_and_commits(db):
    async def main() -> tuple[int, int]:
        return threading.get_ident(), await db.write_now(_insert(1))

    loop_thread, writer_thread = asyncio.run(main())
    assert writer_thread == loop_thread
    assert _stored(db) == [1]


def test_held_lock_sends_the_write_to_a_worker_that_waits_for_it(db, tmp_path):
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (2)")
    threading.Timer(0.3, other.execute, ("COMMIT",)).start()

    async def main() -> tuple[int, int]:
        return threading.get_ident(), await db.write_now(_insert(3))

    loop_thread, writer_thread = asyncio.run(main())
    other.close()
    assert writer_thread != loop_thread
    assert _stored(db) == [2, 3]
    # The loop's connection is usable again once the lock is free.
    asyncio.run(db.write_now(_insert(4)))
    assert _stored(db) == [2, 3, 4]


def test_a_failed_write_leaves_nothing(db):
    def half_then_fail(conn):  # type: ignore[no-untyped-def]
        _insert(5)(conn)
        conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": 2**70})  # beyond 64 bits

    with pytest.raises(InvalidInput):
        asyncio.run(db.write_now(half_then_fail))
    asyncio.run(db.write_now(_insert(6)))
    assert _stored(db) == [6]


def test_committed_wal_frames_reach_the_database_file_off_the_write_path(db, tmp_path):
    """The checkpointer thread copies the WAL into the file after writes (SQLite's own
    checkpoint would wait for 10,000 pages); disposing the database stops it."""
    path = tmp_path / "t.db"
    before = path.stat().st_size
    db.write_core(lambda conn: conn.execute(text("INSERT INTO t VALUES (1)")))
    db.write_core(lambda conn: (conn.execute(text("CREATE TABLE blobs (b BLOB)")),
                                conn.execute(text("INSERT INTO blobs VALUES (zeroblob(1000000))"))))
    wait_until(lambda: path.stat().st_size >= before + 1_000_000,
               message="the WAL's frames in the database file")
    assert _stored(db) == [1]
    mine = f"triops-sqlite-checkpoint {path}"
    assert any(t.name == mine for t in threading.enumerate())
    db.dispose()
    # Other tests' databases may still have theirs: this one's is named by its path.
    assert not any(t.name == mine for t in threading.enumerate())


def test_a_long_wal_is_finished_under_the_write_lock_so_the_next_write_starts_it_over(
        tmp_path, monkeypatch):
    """Frames a checkpoint could not copy (under steady writes: those committed while it
    copied) kept the WAL from ever starting over; past ``RESTART_WAL_PAGES`` a second
    checkpoint, holding the write lock, copies them."""
    path = tmp_path / "w.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # only the checkpointer copies here
    writer.execute("CREATE TABLE b (x BLOB)")
    writer.execute("INSERT INTO b VALUES (zeroblob(?))", ((engine.RESTART_WAL_PAGES + 50) * 4096,))
    # A reader's snapshot from before the last commit: the first checkpoint copies up
    # to it and no further, as one does that a commit overtakes.
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM b").fetchall()
    writer.execute("INSERT INTO b VALUES (zeroblob(4096))")
    lock = threading.Lock()
    passive = engine._passive_checkpoint
    held: list[bool] = []

    def overtaken(connection):  # type: ignore[no-untyped-def]
        held.append(lock.locked())
        pages = passive(connection)
        if reader.in_transaction:
            reader.execute("COMMIT")
        return pages

    monkeypatch.setattr(engine, "_passive_checkpoint", overtaken)
    connection = sqlite3.connect(path, isolation_level=None)
    engine._Checkpointer(str(path), lock)._checkpoint(connection)
    assert held == [False, True] and not lock.locked()
    writer.execute("INSERT INTO b VALUES (zeroblob(4096))")
    # Started over: the WAL holds that last write's frames alone.
    assert passive(connection) < 10
    for c in (connection, reader, writer):
        c.close()


class _TriedLock:
    tried = False

    def acquire(self, timeout: float = -1) -> bool:
        self.tried = True
        return False


def test_a_short_wal_is_left_to_the_passive_checkpoint(tmp_path):
    path = tmp_path / "s.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE b (x BLOB)")
    writer.execute("INSERT INTO b VALUES (zeroblob(4096))")
    lock = _TriedLock()
    connection = sqlite3.connect(path, isolation_level=None)
    engine._Checkpointer(str(path), lock)._checkpoint(connection)  # type: ignore[arg-type]
    assert not lock.tried  # writers never wait for a short WAL's checkpoint
    connection.close()
    writer.close()


def test_kept_writer_keeps_its_connection_and_starts_afresh_after_a_failure(db):
    writer = db.kept_writer()
    writer.write(_insert(1))
    kept = writer._conn
    writer.write(_insert(2))
    assert writer._conn is kept  # one connection for every transaction

    def half_then_fail(conn):  # type: ignore[no-untyped-def]
        _insert(3)(conn)
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        writer.write(half_then_fail)
    writer.write(_insert(4))
    writer.close()
    assert _stored(db) == [1, 2, 4]  # the failed transaction left nothing
    with pytest.raises(InvalidInput):  # and a value SQLite cannot hold reads as the caller's
        db.kept_writer().write(_insert(2**70))
