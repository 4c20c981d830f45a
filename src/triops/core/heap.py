"""Keeping a server's long-lived objects out of the cyclic garbage collector's passes.

A full collection walks every object it tracks, with the event loop stopped. What a
server builds to last (its startup state, then every model it loads: estimators, their
trees, the libraries imported to load them, compiled kernels) never becomes garbage, so
``triops up`` collects once and freezes what is left (``gc.freeze``), and does it again
after each model load. Unfrozen, a deployed forest and the libraries behind it made
each full collection take 50–200 ms, every second or so under load: the serving p99.

Elsewhere (tests, the CLI's other verbs) nothing is frozen: a collection per load would
cost them time for nothing.
"""

from __future__ import annotations

import gc

_freezing = False


def freeze() -> None:
    """Collect, then freeze every object alive now; later calls to ``refreeze`` do the
    same (``triops up`` calls this once started)."""
    global _freezing
    _freezing = True
    refreeze()


def refreeze() -> None:
    """After long-lived state was built (a model loaded): freeze it too, in a process
    that called ``freeze``; a no-op anywhere else."""
    if _freezing:
        gc.collect()
        gc.freeze()
