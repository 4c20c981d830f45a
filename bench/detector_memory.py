"""Memory a series' streaming detector holds as its history grows (``tracemalloc``).

Usage: python bench/detector_memory.py [--detector ensemble] [--series 10]
                                       [--points 1000 5000 20000 40000]

Scores ``--series`` series of the soak's OTLP shape (``bench/scale_cluster.py``: a sine
of period 2π hours, one point every 10 s, each series its own phase) in batches of 10
points, as intake does, and prints at each history length the Python objects the
detectors hold (per series), the context counts of the first one's ``context_novelty``
(where it has one) and the size of its stored state as JSON. The compiled loops are
warmed first, so numba's own memory is not counted.
"""

from __future__ import annotations

import argparse
import json
import math
import tracemalloc

from scale_cluster import STEP_MS

from triops.ops.detectors import DEFAULT_DETECTOR, DETECTORS, get_detector

#: A fixed start, so that runs see the same hours of the day (context_novelty counts them).
BASE_MS = 1_765_000_000_000
BATCH = 10


def novelty(detector) -> object | None:
    """The ``context_novelty`` in ``detector`` (itself or an ensemble member), if any."""
    for d in [detector, *getattr(detector, "members", [])]:
        if d.name == "context_novelty":
            return d
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTORS.names())
    parser.add_argument("--series", type=int, default=10)
    parser.add_argument("--points", type=int, nargs="+", default=[1000, 5000, 20000, 40000])
    args = parser.parse_args()
    warm = get_detector(args.detector)
    warm.update_many([float(i) for i in range(200)], [math.sin(i) for i in range(200)])
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    detectors = [get_detector(args.detector) for _ in range(args.series)]
    done = 0
    print("| points a series | KB a series (Python objects) | contexts | state JSON KB |")
    print("|---|---|---|---|")
    for target in sorted(args.points):
        for first in range(done, target, BATCH):
            for k, d in enumerate(detectors):
                ts = [BASE_MS + (first + j) * STEP_MS for j in range(BATCH)]
                d.update_many([t / 1000 for t in ts],
                              [50 + 10 * math.sin(t / 3_600_000 + k) for t in ts])
        done = target
        held = (tracemalloc.get_traced_memory()[0] - start) / args.series / 1024
        counts = novelty(detectors[0])
        state = len(json.dumps(detectors[0].state())) / 1024
        print(f"| {target:,} | {held:.0f} | {len(counts.counts) if counts else '—'} "
              f"| {state:.0f} |", flush=True)


if __name__ == "__main__":
    main()
