"""NAB scoring: the rules of numenta/NAB, checked by hand and against published results."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from triops.ops.evaluation.nab import (
    PROFILES,
    NabSeries,
    load_corpus,
    load_published_scores,
    probation_length,
    row_weights,
    scaled_sigmoid,
    score_corpus,
)

NAB_ROOT = Path("/work/shared/datasets/nab")


def _series(rows: int = 100, windows=((50, 59),), name: str = "toy/a.csv") -> NabSeries:
    ts = np.arange(rows).astype("datetime64[m]")
    return NabSeries(name, ts, np.zeros(rows), [(ts[a], ts[b]) for a, b in windows])


def test_probation_is_15_percent_capped_at_750_rows():
    assert probation_length(100) == 15
    assert probation_length(4032) == 604
    assert probation_length(22695) == 750


def test_scaled_sigmoid_matches_nab_reference_points():
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.0) == -1.0


def test_perfect_detector_scores_100_and_null_detector_0():
    corpus = [_series(), _series(200, ((100, 119), (160, 179)), "toy/b.csv")]
    perfect = {}
    for s in corpus:
        scores = np.zeros(len(s.timestamps))
        for a, _ in s.windows:
            scores[int(np.flatnonzero(s.timestamps == a)[0])] = 1.0
        perfect[s.name] = scores
    null = {s.name: np.full(len(s.timestamps), 0.5) for s in corpus}
    for profile in PROFILES:
        assert score_corpus(perfect, corpus)[profile].normalized == pytest.approx(100.0)
        assert score_corpus(null, corpus)[profile].normalized == pytest.approx(0.0)


def test_hand_computed_late_detection_and_false_positives():
    s = _series()  # window rows 50..59 (width 10), probation 15 rows
    scores = np.zeros(100)
    scores[54] = 0.9  # inside: position -(59 - 54 + 1) / 10 = -0.6
    scores[20] = 0.8  # before any window: -fpWeight
    scores[63] = 0.7  # after: position |59 - 63| / 9
    scores[10] = 1.0  # probationary: ignored
    result = score_corpus({s.name: scores}, [s])["standard"]
    tp = scaled_sigmoid(-0.6) / scaled_sigmoid(-1.0)
    after = 0.11 * scaled_sigmoid(4 / 9)
    # Candidates: no detection (-1), >=0.9 (tp), >=0.8 (tp - 0.11), >=0.7 (+ after).
    assert result.threshold == 0.9
    assert result.raw == pytest.approx(tp)
    assert result.normalized == pytest.approx(100 * (tp + 1) / 2)
    assert tp - 0.11 + after < tp


def test_only_earliest_detection_in_a_window_counts():
    s = _series()
    weights, window_of, _scorable = row_weights(s, PROFILES["standard"])
    assert window_of[50] == 0 and window_of[49] == -1
    assert weights[50] == pytest.approx(1.0)
    scores = np.zeros(100)
    scores[50:60] = 1.0
    result = score_corpus({s.name: scores}, [s])["standard"]
    assert result.raw == pytest.approx(1.0)  # ten detections, one window, one TP


def test_low_fn_profile_weights_misses_double():
    s = _series()
    result = score_corpus({s.name: np.zeros(100)}, [s])["reward_low_FN_rate"]
    assert result.null == -2.0 and result.perfect == 1.0
    assert result.raw == -2.0 and math.isclose(result.normalized, 0.0)


@pytest.mark.skipif(not NAB_ROOT.exists(), reason="NAB data not present")
@pytest.mark.parametrize(
    ("detector", "expected"),
    [("windowedGaussian", (41.5, 24.3, 48.9)), ("ARTime", (75.3, 65.8, 80.7))],
)
def test_reproduces_published_nab_scores(detector, expected):
    corpus = load_corpus(NAB_ROOT)
    assert len(corpus) == 47
    results = score_corpus(load_published_scores(NAB_ROOT, detector), corpus)
    got = [results[p].normalized for p in PROFILES]
    assert got == pytest.approx(list(expected), abs=0.1)
