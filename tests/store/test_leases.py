"""Leases on background duties: one holder at a time, and a holder's death frees the
lease (PostgreSQL: its connection closes and the advisory lock goes with it)."""

from __future__ import annotations

import doctest
import subprocess
import sys

from tests.waiting import wait_until
from triops.store import leases
from triops.store.engine import Database
from triops.store.leases import Lease


def test_the_module_example_runs():
    result = doctest.testmod(leases)
    assert result.attempted > 0 and result.failed == 0


def test_one_holder_at_a_time_and_release_passes_it_on(db: Database):
    first, second = Lease(db, "test-duty"), Lease(db, "test-duty")
    assert first.hold() and not second.hold()
    assert first.hold()  # still held on the next tick
    with Lease(db, "another-duty") as held:
        assert held  # duties are leased apart
    first.release()
    assert second.hold() and not first.hold()
    second.release()


def test_a_killed_holder_loses_its_lease_to_the_next_asker(pg_databases):
    # PostgreSQL only: SQLite serves one process, so its leases are locks inside it.
    store_url = pg_databases.new()
    code = ("import sys, time; from triops.store.engine import Database; "
            "from triops.store.leases import Lease; "
            "print(Lease(Database(sys.argv[1]), 'test-duty').hold(), flush=True); "
            "time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, store_url],
                              stdout=subprocess.PIPE, text=True)
    db = Database(store_url)
    taken: list[bool] = []
    waiting = Lease(db, "test-duty", on_take=lambda: taken.append(True))
    try:
        assert holder.stdout.readline().strip() == "True"
        assert not waiting.hold()
        holder.kill()
        holder.wait(10)
        wait_until(waiting.hold, timeout=10, message="the lease to pass to a live process")
        assert waiting.hold() and taken == [True]  # once per taking, not per tick
    finally:
        holder.kill()
        waiting.release()
        db.dispose()


def test_a_failed_take_over_is_tried_again_on_the_next_tick(db: Database):
    calls: list[int] = []

    def take_over() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("store busy")

    lease = Lease(db, "test-duty", on_take=take_over)
    try:
        lease.hold()
    except RuntimeError:
        pass
    assert lease.hold() and lease.hold() and len(calls) == 2
    lease.release()
