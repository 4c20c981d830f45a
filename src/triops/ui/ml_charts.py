"""Overlaid metric curves of several runs by step, one colour per run (the same colours
as the run's swatch on the compare page). Built on ``triops.ui.charts``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from triops.ui.charts import base_option, line_series, render

#: Distinguishable on white and for the common colour-vision deficiencies (Okabe-Ito).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000",
           "#f0e442")


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]  # (step, value), sorted by step


def color_of(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def overlay_chart(series: Sequence[Series], *, width: int = 900, height: int = 260,
                  title: str = "") -> Markup:
    """One line per series over the step axis; a series of one step is a dot."""
    if not any(math.isfinite(y) for s in series for _, y in s.points):
        return Markup('<p class="chart-empty empty">no finite values</p>')
    option = base_option(x_type="value", title=title, legend=True)
    option["xAxis"].update(name="step", nameLocation="middle", nameGap=24, minInterval=1)
    option["series"] = [line_series(s.label, s.points, color=color_of(i), columns=width)
                        for i, s in enumerate(series)]
    steps = {x for s in series for x, _ in s.points}
    if len(steps) == 1:  # one step: the dot in the middle, not on the axis
        [step] = steps
        option["xAxis"].update(min=step - 1, max=step + 1)
    return render(option, height=height, title=title, width=width)
