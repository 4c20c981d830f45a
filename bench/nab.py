"""Score every registered triops detector on the NAB corpus with NAB's own rules.

Usage: python bench/nab.py [--data /work/shared/datasets/nab] [--detector NAME ...]

Prints a markdown table: detector, NAB score under the three profiles, the
standard-profile threshold, the split check (standard profile on the even- and on the
odd-numbered series, each half with its own threshold) and the streaming throughput.
Two more rows check the ports: the ARTime port run as NAB runs ARTime (given each
file's minimum, maximum and length in advance, which a streaming detector cannot know),
and the published per-row results found under ``results/``, scored the same way as a
check of the scorer.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from triops.ops.detectors import DEFAULT_DETECTOR, DETECTORS
from triops.ops.evaluation.nab import PROFILES, load_corpus, load_published_scores, score_corpus

DEFAULT_DATA = Path("/work/shared/datasets/nab")


def run_detector(name: str, corpus, nab_inputs: bool = False):
    """Per-series scores and points per second; ``nab_inputs`` as NAB runs ARTime."""
    cls = DETECTORS[name]
    scores, points, elapsed = {}, 0, 0.0
    for series in corpus:
        stamps = series.timestamps.astype("datetime64[ns]").astype(np.int64) / 1e9
        if nab_inputs:
            v = series.values
            detector = cls(dmin=float(v.min()), dmax=float(v.max()), length=len(v))
        else:
            detector = cls()
        update = detector.update
        start = time.perf_counter()
        scores[series.name] = np.array(
            [update(t, v) for t, v in zip(stamps.tolist(), series.values.tolist(), strict=True)]
        )
        elapsed += time.perf_counter() - start
        points += len(series.values)
    return scores, points / elapsed


def split_check(scores, corpus) -> str:
    """Standard-profile score of the even- and of the odd-numbered series."""
    halves = []
    for start in (0, 1):
        part = corpus[start::2]
        result = score_corpus({s.name: scores[s.name] for s in part}, part, ("standard",))
        halves.append(f"{result['standard'].normalized:.1f}")
    return " / ".join(halves)


def row(label: str, results, split: str, speed: str) -> str:
    cells = [f"{results[p].normalized:.1f}" for p in PROFILES]
    threshold = results["standard"].threshold
    return f"| {label} | {' | '.join(cells)} | {threshold:.4f} | {split} | {speed} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--detector", action="append", choices=sorted(DETECTORS))
    args = parser.parse_args()
    corpus = load_corpus(args.data)
    print(f"NAB corpus: {len(corpus)} series, {sum(len(s.values) for s in corpus)} rows\n")
    print(
        "| detector | standard | reward_low_FP_rate | reward_low_FN_rate | threshold "
        "| even / odd | points/s |"
    )
    print("|---|---|---|---|---|---|---|")
    names = args.detector or sorted(DETECTORS, key=lambda n: (n != DEFAULT_DETECTOR, n))
    for name in names:
        scores, speed = run_detector(name, corpus)
        label = f"triops {name}" + (" (default)" if name == DEFAULT_DETECTOR else "")
        results = score_corpus(scores, corpus)
        print(row(label, results, split_check(scores, corpus), f"{speed:,.0f}"), flush=True)
    if "artime" in names:
        scores, speed = run_detector("artime", corpus, nab_inputs=True)
        label = "triops artime given NAB's inputs (look-ahead, check only)"
        results = score_corpus(scores, corpus)
        print(row(label, results, split_check(scores, corpus), f"{speed:,.0f}"), flush=True)
    results_dir = args.data / "results"
    for published in sorted(p.name for p in results_dir.iterdir()) if results_dir.exists() else []:
        scores = load_published_scores(args.data, published)
        results = score_corpus(scores, corpus)
        print(row(f"published {published}", results, split_check(scores, corpus), "n/a"))


if __name__ == "__main__":
    main()
