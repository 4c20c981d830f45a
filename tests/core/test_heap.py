"""The server freezes what it builds to last; other processes freeze nothing. Run in a
child process: a frozen heap would stay frozen for every test after this one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from triops.core import heap

CHILD = """
import gc
from triops.core import heap

default = gc.get_threshold()
heap.refreeze()
assert gc.get_freeze_count() == 0, "refreeze before freeze froze something"
assert gc.get_threshold() == default
heap.freeze()
assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, *default[1:])
started = gc.get_freeze_count()
assert started > 0
kept = [[i] for i in range(1000)]  # long-lived state built after start-up (a model, say)
heap.refreeze()
assert gc.get_freeze_count() >= started + 1000
"""


def test_refreeze_freezes_only_in_a_process_that_froze_its_startup():
    """Only a process that froze its start-up freezes what it builds later, and only it
    collects its youngest generation less often."""
    done = subprocess.run([sys.executable, "-c", CHILD], check=False, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


ARENAS_CHILD = """
import ctypes, sys, threading
from triops.core import heap

assert heap.limit_arenas() is True

def churn():
    for _ in range(2000):
        blocks = [bytearray(256) for _ in range(50)]
        del blocks

threads = [threading.Thread(target=churn) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
sys.stderr.flush()
ctypes.CDLL(None).malloc_stats()  # glibc: one "Arena N:" block per arena, on stderr
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc arenas")
def test_the_server_caps_malloc_arenas_unless_the_operator_chose():
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run([sys.executable, "-c", ARENAS_CHILD], check=False,
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    arenas = [line for line in done.stderr.splitlines() if line.startswith("Arena ")]
    assert 1 <= len(arenas) <= heap.SERVER_ARENAS, done.stderr
    chosen = subprocess.run([sys.executable, "-c", ("from triops.core import heap; "
                             "print(heap.limit_arenas())")], check=True, capture_output=True,
                            text=True, timeout=120, env={**env, "MALLOC_ARENA_MAX": "4"})
    assert chosen.stdout.strip() == "False"
