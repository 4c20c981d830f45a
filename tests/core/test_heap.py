"""The server freezes what it builds to last; other processes freeze nothing. Run in a
child process: a frozen heap would stay frozen for every test after this one."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import gc
from triops.core import heap

heap.refreeze()
assert gc.get_freeze_count() == 0, "refreeze before freeze froze something"
heap.freeze()
started = gc.get_freeze_count()
assert started > 0
kept = [[i] for i in range(1000)]  # long-lived state built after start-up (a model, say)
heap.refreeze()
assert gc.get_freeze_count() >= started + 1000
"""


def test_refreeze_freezes_only_in_a_process_that_froze_its_startup():
    done = subprocess.run([sys.executable, "-c", CHILD], check=False, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
