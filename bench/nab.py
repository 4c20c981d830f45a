"""Score every registered triops detector on the NAB corpus with NAB's own rules.

Usage: python bench/nab.py [--data /work/shared/datasets/nab] [--detector NAME ...]

Prints a markdown table: detector, NAB score under the three profiles, the
standard-profile threshold and the streaming throughput. The published per-row
results found under ``results/`` are scored the same way as a check of the scorer.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from triops.ops.detectors import DEFAULT_DETECTOR, DETECTORS
from triops.ops.evaluation.nab import PROFILES, load_corpus, load_published_scores, score_corpus

DEFAULT_DATA = Path("/work/shared/datasets/nab")


def run_detector(name: str, corpus) -> tuple[dict[str, np.ndarray], float]:
    cls = DETECTORS.get(name)
    scores, points, elapsed = {}, 0, 0.0
    for series in corpus:
        stamps = series.timestamps.astype("datetime64[ns]").astype(np.int64) / 1e9
        detector = cls()
        update = detector.update
        start = time.perf_counter()
        scores[series.name] = np.array(
            [update(t, v) for t, v in zip(stamps.tolist(), series.values.tolist(), strict=True)]
        )
        elapsed += time.perf_counter() - start
        points += len(series.values)
    return scores, points / elapsed


def row(label: str, results, speed: str) -> str:
    cells = [f"{results[p].normalized:.1f}" for p in PROFILES]
    return f"| {label} | {' | '.join(cells)} | {results['standard'].threshold:.4f} | {speed} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--detector", action="append", choices=DETECTORS.names())
    args = parser.parse_args()
    corpus = load_corpus(args.data)
    print(f"NAB corpus: {len(corpus)} series, {sum(len(s.values) for s in corpus)} rows\n")
    print("| detector | standard | reward_low_FP_rate | reward_low_FN_rate | threshold | points/s |")
    print("|---|---|---|---|---|---|")
    for name in args.detector or DETECTORS.names():
        scores, speed = run_detector(name, corpus)
        label = f"triops {name}" + (" (default)" if name == DEFAULT_DETECTOR else "")
        print(row(label, score_corpus(scores, corpus), f"{speed:,.0f}"), flush=True)
    results_dir = args.data / "results"
    for published in sorted(p.name for p in results_dir.iterdir()) if results_dir.exists() else []:
        scored = score_corpus(load_published_scores(args.data, published), corpus)
        print(row(f"published {published}", scored, "n/a"))


if __name__ == "__main__":
    main()
