"""Tumbling windows per key and the exponentially weighted baseline they are judged by."""

from __future__ import annotations

import doctest

import pytest

from triops.core import baselines
from triops.core.baselines import EwmaBaseline, TumblingWindows


def test_a_window_starts_at_its_first_event_and_closes_on_the_first_one_past_its_width():
    windows = TumblingWindows[str, list](width_s=60.0, new=lambda start_s: [start_s])
    first, closed = windows.advance("a", 10.0)
    assert first == [10.0] and closed is None
    assert windows.advance("a", 69.9) == (first, None)
    assert windows.advance("b", 30.0)[1] is None  # keys do not share windows
    second, closed = windows.advance("a", 70.0)
    assert closed is first and second == [70.0]
    third, closed = windows.advance("a", 500.0)  # a long gap closes one window only
    assert closed is second and third == [500.0]


def test_the_baseline_starts_at_the_first_value_then_moves_by_alpha():
    base = EwmaBaseline()
    assert not base.ready(warmup=1)
    base.learn(10.0, alpha=0.3)
    assert (base.mean, base.windows) == (10.0, 1)
    base.learn(20.0, alpha=0.3)
    assert base.mean == pytest.approx(13.0) and base.ready(warmup=2)


def test_the_module_example_runs():
    result = doctest.testmod(baselines)
    assert result.attempted > 0 and result.failed == 0
