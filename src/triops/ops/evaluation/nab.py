"""Numenta Anomaly Benchmark (NAB) scoring, as NAB v1.1 scores a detector.

The rules follow numenta/NAB's ``nab/sweeper.py`` (per-row weights), its corpus-wide
threshold optimiser (``nab/optimizer.py``: every distinct anomaly score of the corpus
is tried as the threshold, the best one wins) and ``nab/runner.py`` (normalisation):

* the first ``min(floor(0.15 * rows), 750)`` rows of a series are probationary and
  never scored;
* a row inside an anomaly window ``[left, right]`` is worth
  ``tpWeight * S(-(right - i + 1) / width) / S(-1)`` where ``S(x) = 2 / (1 + e^(5x)) - 1``
  is the scaled sigmoid and ``width = right - left + 1``; only the best (earliest)
  detection of a window counts, an undetected window costs ``fnWeight``;
* a detection outside every window costs ``fpWeight`` before the first window and
  ``fpWeight * S(|i - right| / (width - 1))`` after one (``right``/``width`` of the
  closest preceding window), so false alarms just after a window cost little;
* one threshold per profile for the whole corpus: a row is a detection when its
  score is ``>=`` the threshold; the threshold with the highest total wins (ties go
  to the higher threshold, as NAB's stable sort does);
* the normalised score is ``100 * (raw - null) / (perfect - null)``, where the null
  detector detects nothing (``-fnWeight`` per window) and the perfect one detects
  every window at its first row (``tpWeight`` per window).

Example (one series with one window, a detection at the window's first row)::

    >>> import numpy as np
    >>> ts = np.arange(100).astype("datetime64[m]")
    >>> series = NabSeries("toy/a.csv", ts, np.zeros(100), [(ts[50], ts[59])])
    >>> scores = np.zeros(100); scores[50] = 1.0
    >>> round(score_corpus({"toy/a.csv": scores}, [series])["standard"].normalized, 6)
    100.0
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

PROBATIONARY_PERCENT = 0.15
# NAB's sweeper: min(floor(0.15 * rows), 0.15 * 5000) -> at most 750 rows.
PROBATIONARY_CAP_ROWS = 5000


@dataclass(frozen=True)
class Profile:
    """A NAB application profile: the weights of its cost matrix."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


# config/profiles.json of numenta/NAB (tnWeight is 0 in every profile and unused).
PROFILES: dict[str, Profile] = {
    "standard": Profile("standard", 1.0, 0.11, 1.0),
    "reward_low_FP_rate": Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    "reward_low_FN_rate": Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
}


@dataclass
class NabSeries:
    """One data file of the corpus: its timestamps, values and anomaly windows."""

    name: str
    timestamps: np.ndarray  # datetime64, one per row, in file order
    values: np.ndarray  # float64
    windows: list[tuple[np.datetime64, np.datetime64]] = field(default_factory=list)


@dataclass(frozen=True)
class NabResult:
    """The corpus score of one detector under one profile."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float

    @property
    def normalized(self) -> float:
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


def probation_length(rows: int, percent: float = PROBATIONARY_PERCENT) -> float:
    """Rows at the start of a series that NAB never scores (compare with ``i <``)."""
    return min(math.floor(percent * rows), percent * PROBATIONARY_CAP_ROWS)


def scaled_sigmoid(position: float) -> float:
    """NAB's weight for a relative position: ~+1 early in a window, -1 far after it."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def _scaled_sigmoid_array(position: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        out = 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0
    return np.where(position >= 3.0, -1.0, out)


def _row_of(timestamps: np.ndarray, stamp: np.datetime64) -> int:
    """Row of a window limit: the first row with exactly that timestamp (as NAB)."""
    hits = np.flatnonzero(timestamps == stamp)
    if len(hits):
        return int(hits[0])
    # Not in NAB's own data; a limit between rows snaps to the next row.
    return int(np.searchsorted(timestamps, stamp, side="left"))


def row_weights(series: NabSeries, profile: Profile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row sweep weight, window number (-1 outside windows) and scorable mask."""
    n = len(series.timestamps)
    idx = np.arange(n)
    weights = np.full(n, -profile.fp_weight)  # false positive before any window
    window_of = np.full(n, -1, dtype=np.int64)
    max_tp = scaled_sigmoid(-1.0)
    spans = sorted(
        (_row_of(series.timestamps, np.datetime64(a)), _row_of(series.timestamps, np.datetime64(b)))
        for a, b in series.windows
    )
    for k, (left, right) in enumerate(spans):
        right = min(right, n - 1)
        width = float(right - left + 1)
        inside = slice(left, right + 1)
        weights[inside] = (
            _scaled_sigmoid_array(-(right - idx[inside] + 1) / width) * profile.tp_weight / max_tp
        )
        window_of[inside] = k
        end = spans[k + 1][0] if k + 1 < len(spans) else n
        after = slice(right + 1, end)
        if width > 1:
            position = np.abs(right - idx[after]) / (width - 1.0)
        else:
            position = np.full(end - right - 1, 3.0)
        weights[after] = _scaled_sigmoid_array(position) * profile.fp_weight
    scorable = idx >= probation_length(n)
    return weights, window_of, scorable


@dataclass
class _Prepared:
    weights: np.ndarray
    window_ids: np.ndarray  # global window ids, -1 outside
    windows: int


def _prepare(corpus: Sequence[NabSeries], profile: Profile) -> tuple[list[np.ndarray], _Prepared]:
    weights, ids, masks = [], [], []
    offset = 0
    for series in corpus:
        w, k, scorable = row_weights(series, profile)
        k = k[scorable]
        # A window counts only where at least one of its rows is scorable.
        inside = k >= 0
        used, inverse = np.unique(k[inside], return_inverse=True)
        global_ids = np.full(len(k), -1, dtype=np.int64)
        global_ids[inside] = offset + inverse
        offset += len(used)
        weights.append(w[scorable])
        ids.append(global_ids)
        masks.append(scorable)
    prepared = _Prepared(np.concatenate(weights), np.concatenate(ids), offset)
    return masks, prepared


def threshold_sweep(
    scores: np.ndarray, prepared: _Prepared, profile: Profile
) -> tuple[np.ndarray, np.ndarray]:
    """Corpus score at every candidate threshold, highest threshold first.

    The first candidate is 1.1 (no detection at all, as NAB starts); then every
    distinct score of the scorable rows, in descending order, where the corpus score
    at threshold ``t`` is that of detecting every row with score ``>= t``.
    """
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    w = prepared.weights[order]
    g = prepared.window_ids[order]
    n = len(s)
    fp_part = np.cumsum(np.where(g < 0, w, 0.0))
    increments = np.zeros(n)
    in_win = np.flatnonzero(g >= 0)
    if len(in_win):
        # Per window, the running best weight over its detected rows (start: -fn).
        by_window = in_win[np.lexsort((in_win, g[in_win]))]
        gw = g[by_window]
        vals = np.maximum(w[by_window], -profile.fn_weight)
        span = 4.0 * (profile.tp_weight + profile.fn_weight + 1.0)
        running = np.maximum.accumulate(vals + gw * span) - gw * span
        first = np.ones(len(by_window), dtype=bool)
        first[1:] = gw[1:] != gw[:-1]
        previous = np.empty(len(by_window))
        previous[1:] = running[:-1]
        previous[first] = -profile.fn_weight
        increments[by_window] = running - previous
    total = -profile.fn_weight * prepared.windows + fp_part + np.cumsum(increments)
    last_of_group = np.ones(n, dtype=bool)
    last_of_group[:-1] = s[1:] != s[:-1]
    thresholds = np.concatenate([[1.1], s[last_of_group]])
    totals = np.concatenate([[-profile.fn_weight * prepared.windows], total[last_of_group]])
    return thresholds, totals


def score_corpus(
    scores_by_series: Mapping[str, np.ndarray],
    corpus: Sequence[NabSeries],
    profiles: Sequence[str] = tuple(PROFILES),
    threshold: float | None = None,
) -> dict[str, NabResult]:
    """Score a detector's per-row anomaly scores on a corpus, one result per profile.

    Each profile's threshold is NAB's optimum on this corpus unless ``threshold`` is
    given (one chosen elsewhere, as on training series when scoring held-out ones).
    """
    results = {}
    for name in profiles:
        profile = PROFILES[name]
        masks, prepared = _prepare(corpus, profile)
        parts = []
        for series, mask in zip(corpus, masks):
            values = np.asarray(scores_by_series[series.name], dtype=float)
            if len(values) != len(series.timestamps):
                raise ValueError(
                    f"{series.name}: {len(values)} scores for {len(series.timestamps)} rows"
                )
            parts.append(np.nan_to_num(values, nan=0.0)[mask])
        thresholds, totals = threshold_sweep(np.concatenate(parts), prepared, profile)
        if threshold is None:
            best = int(np.argmax(totals))
        else:  # the lowest candidate at or above it detects exactly the same rows
            best = max(int(np.count_nonzero(thresholds >= threshold)) - 1, 0)
        results[name] = NabResult(
            profile=name,
            threshold=float(thresholds[best] if threshold is None else threshold),
            raw=float(totals[best]),
            null=-profile.fn_weight * prepared.windows,
            perfect=profile.tp_weight * prepared.windows,
        )
    return results


def load_corpus(root: str | Path) -> list[NabSeries]:
    """Load ``data/<category>/<series>.csv`` and ``labels/combined_windows.json``."""
    root = Path(root)
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    corpus = []
    for name in sorted(windows):
        frame = pd.read_csv(root / "data" / name)
        corpus.append(
            NabSeries(
                name=name,
                timestamps=pd.to_datetime(frame["timestamp"]).to_numpy(),
                values=frame["value"].to_numpy(dtype=float),
                windows=[
                    (pd.Timestamp(a).to_datetime64(), pd.Timestamp(b).to_datetime64())
                    for a, b in windows[name]
                ],
            )
        )
    return corpus


def load_published_scores(root: str | Path, detector: str) -> dict[str, np.ndarray]:
    """Per-row ``anomaly_score`` of a published detector: ``results/<detector>/<name>``."""
    base = Path(root) / "results" / detector
    return {
        str(p.relative_to(base)): pd.read_csv(p)["anomaly_score"].to_numpy(dtype=float)
        for p in sorted(base.glob("*/*.csv"))
    }
