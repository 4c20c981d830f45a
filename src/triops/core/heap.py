"""Keeping a server's long-lived objects out of the cyclic garbage collector's passes.

A full collection walks every object it tracks, with the event loop stopped. What a
server builds to last (its startup state, then every model it loads: estimators, their
trees, the libraries imported to load them, compiled kernels) never becomes garbage, so
``triops up`` collects once and freezes what is left (``gc.freeze``), and does it again
after each model load. Unfrozen, a deployed forest and the libraries behind it made
each full collection take 50–200 ms, every second or so under load: the serving p99.

Elsewhere (tests, the CLI's other verbs) nothing is frozen: a collection per load would
cost them time for nothing.

The server also collects its youngest generation less often (``YOUNG_THRESHOLD``
allocations of tracked objects, Python's default is 700). A young collection visits
every tracked object allocated since the last one and still alive: under load that is
the requests in flight, a 64-row prediction's lists of 1,280 numbers among them,
visited number by number. At 700 it ran every few requests: ~1,100 young collections
in 10 s of 64-row predictions at concurrency 32, ~0.5 s of CPU, with 100 older ones
behind them; at 10,000, 3. What a request allocates is freed by reference counting as
it ends, so the garbage waiting for a collection is only the few cycles made.

``triops up`` also caps glibc's malloc arenas (``limit_arenas``). glibc gives a thread
that finds the arenas in use a new one, up to eight per core, and an arena keeps the
memory freed in it for its own later use; a server's request threads, writer threads
and database driver allocate at once in ever new combinations, so the process's RSS
kept creeping up long after its caches were full. In a 10-minute soak of three replicas
on two cores (``bench/scale.py``) the replicas grew 5.8–7.8 MB a minute after warm-up
uncapped and 1.4–2.1 capped at two arenas, under the same load.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys

_freezing = False
#: The server's threshold for the youngest generation's collection (see above).
YOUNG_THRESHOLD = 10_000
#: ``mallopt``'s parameter for the number of arenas (glibc's malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8
SERVER_ARENAS = 2


def freeze() -> None:
    """Collect, then freeze every object alive now; later calls to ``refreeze`` do the
    same (``triops up`` calls this once started). From now on the youngest generation
    is collected after ``YOUNG_THRESHOLD`` allocations."""
    global _freezing
    _freezing = True
    refreeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def refreeze() -> None:
    """After long-lived state was built (a model loaded): freeze it too, in a process
    that called ``freeze``; a no-op anywhere else."""
    if _freezing:
        gc.collect()
        gc.freeze()


def limit_arenas(arenas: int = SERVER_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` for the rest of the process's life (call it
    before threads start). ``MALLOC_ARENA_MAX`` in the environment is the operator's
    choice and wins; elsewhere than glibc this does nothing. True when the cap was set."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))  # glibc answers 1; musl's stub 0
