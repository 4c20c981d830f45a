"""Many writers folding signals of one fingerprint at once: exactly one incident holds
them all, on both backends, from threads and from separate processes."""

from __future__ import annotations

import multiprocessing
import threading

from triops.core.signals import Pillar, Severity, Signal
from triops.ops import ingest
from triops.store import Database
from triops.store.repos import incidents as repo

WRITERS, EACH = 8, 40


def _signal(i: int) -> Signal:
    return Signal(source=Pillar.ops, kind="latency", subject="service:checkout",
                  severity=Severity.warning, value=float(i), time_ms=1_000_000 + i,
                  labels={"region": "eu"})


def _write(db: Database, offset: int, start: threading.Barrier | None = None) -> None:
    if start is not None:
        start.wait()
    for i in range(offset, offset + EACH):
        with db.write() as session:
            ingest(session, "p", _signal(i))


def _write_from_process(url: str, offset: int) -> None:
    db = Database(url)
    try:
        _write(db, offset)
    finally:
        db.dispose()


def _only_incident(db: Database) -> tuple[int, int]:
    with db.read() as session:
        rows = repo.list_incidents(session, "p")
        assert len(rows) == 1, [(r.id, r.signal_count) for r in rows]
        return rows[0].signal_count, len(repo.signals_of(session, rows[0].id, limit=10_000))


def test_concurrent_threads_fold_into_one_incident_with_every_signal_counted(db):
    start = threading.Barrier(WRITERS)
    threads = [threading.Thread(target=_write, args=(db, w * EACH, start))
               for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _only_incident(db) == (WRITERS * EACH, WRITERS * EACH)


def test_concurrent_processes_fold_into_one_incident_with_every_signal_counted(db, store_url):
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_write_from_process, args=(store_url, w * EACH))
             for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert _only_incident(db) == (4 * EACH, 4 * EACH)
