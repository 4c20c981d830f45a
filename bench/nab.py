"""Score triops detectors on the NAB corpus with NAB's own rules, in both modes.

Usage: python bench/nab.py [--data /work/shared/datasets/nab] [--detector NAME ...]
                           [--mode streaming|protocol] [--cli] [--one-by-one]

Prints a markdown table: detector and mode, NAB score under the three profiles, the
standard-profile threshold and the throughput in points per CPU-second (one core; one ``update_many`` call
per file, the path of ``triops ops detect``; ``--one-by-one`` times one ``update``
call per point instead). *streaming* is how triops
scores live telemetry: nothing is known before the first row. *protocol* gives every
detector what NAB's harness gives its detectors: the file's minimum, maximum and
probation length ``min(floor(0.15 * rows), 750)``. ``--cli`` also runs the default
detector in both modes through the CLI contract (``triops ops detect --input F
--output O [--input-min X --input-max Y --probation N]``), one process per file.
The published per-row results found under ``results/`` are scored the same way as a
check of the scorer.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from triops.ops.detectors import DEFAULT_DETECTOR, DETECTORS, KnownInAdvance
from triops.ops.evaluation.nab import (
    PROFILES,
    NabSeries,
    load_corpus,
    load_published_scores,
    probation_length,
    score_corpus,
)

DEFAULT_DATA = Path("/work/shared/datasets/nab")
MODES = ("streaming", "protocol")
TRIOPS = str(Path(sys.executable).parent / "triops")


def known_in_advance(series: NabSeries, mode: str) -> KnownInAdvance:
    """What the detector is told before the first row in ``mode``."""
    if mode == "streaming":
        return KnownInAdvance()
    return KnownInAdvance(
        value_min=float(series.values.min()),
        value_max=float(series.values.max()),
        probation=int(probation_length(len(series.values))),
    )


def epoch_seconds(series: NabSeries) -> list[float]:
    return (series.timestamps.astype("datetime64[ns]").astype(np.int64) / 1e9).tolist()


def run_detector(
    name: str, corpus: list[NabSeries], mode: str, one_by_one: bool = False, **settings
) -> tuple[dict[str, np.ndarray], float]:
    """Per-row scores of every series and the points per second of the scoring: one
    ``update_many`` call per file, as ``triops ops detect`` does, or with
    ``one_by_one`` one ``update`` call per point, as a live series scores a point
    at a time (the same scores either way)."""
    cls = DETECTORS.get(name)
    scores, points, elapsed = {}, 0, 0.0
    for series in corpus:
        detector = cls(**settings, **known_in_advance(series, mode).params())
        stamps, values = epoch_seconds(series), series.values.tolist()
        start = time.process_time()  # CPU time: a busy shared machine skews wall time
        if one_by_one:
            update = detector.update
            found = [update(t, v) for t, v in zip(stamps, values, strict=True)]
        else:
            found = detector.update_many(stamps, values)
        elapsed += time.process_time() - start
        scores[series.name] = np.array(found)
        points += len(values)
    return scores, points / elapsed


def run_cli(data: Path, corpus: list[NabSeries], mode: str) -> dict[str, np.ndarray]:
    """Per-row scores written by ``triops ops detect``, one process per file."""
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        for series in corpus:
            out = Path(tmp) / "scores.csv"
            known = known_in_advance(series, mode)
            flags = []
            if mode == "protocol":
                flags = [
                    "--input-min", repr(known.value_min),
                    "--input-max", repr(known.value_max),
                    "--probation", str(known.probation),
                ]
            subprocess.run(
                [TRIOPS, "ops", "detect", "--input", str(data / "data" / series.name),
                 "--output", str(out), *flags],
                check=True, capture_output=True,
            )
            scores[series.name] = pd.read_csv(out)["anomaly_score"].to_numpy(dtype=float)
    return scores


def row(label: str, results, speed: str) -> str:
    cells = [f"{results[p].normalized:.1f}" for p in PROFILES]
    return f"| {label} | {' | '.join(cells)} | {results['standard'].threshold:.4f} | {speed} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--detector", action="append", choices=DETECTORS.names())
    parser.add_argument("--mode", action="append", choices=MODES)
    parser.add_argument("--cli", action="store_true", help="also score the CLI contract")
    parser.add_argument("--one-by-one", action="store_true",
                        help="score with one update() call per point instead of one "
                             "update_many() per file (same scores, slower)")
    args = parser.parse_args()
    corpus = load_corpus(args.data)
    print(f"NAB corpus: {len(corpus)} series, {sum(len(s.values) for s in corpus)} rows\n")
    print("| detector | standard | reward_low_FP_rate | reward_low_FN_rate | threshold | points/s |")
    print("|---|---|---|---|---|---|")
    for name in args.detector or DETECTORS.names():
        for mode in args.mode or MODES:
            scores, speed = run_detector(name, corpus, mode, args.one_by_one)
            label = f"triops {name}" + (" (default)" if name == DEFAULT_DETECTOR else "")
            print(row(f"{label}, {mode}", score_corpus(scores, corpus), f"{speed:,.0f}"), flush=True)
    if args.cli:
        for mode in args.mode or MODES:
            scores = run_cli(args.data, corpus, mode)
            label = f"`triops ops detect` (default), {mode}"
            print(row(label, score_corpus(scores, corpus), "n/a"), flush=True)
    results_dir = args.data / "results"
    for published in sorted(p.name for p in results_dir.iterdir()) if results_dir.exists() else []:
        scored = score_corpus(load_published_scores(args.data, published), corpus)
        print(row(f"published {published}", scored, "n/a"))


if __name__ == "__main__":
    main()
