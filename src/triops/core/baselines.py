"""Windows and running baselines: the shape of every "rate spiked" signal in triops.

Events are grouped per key into tumbling windows; when a window closes, a number taken
from it is judged against an exponentially weighted baseline of the key's past windows,
then learnt. The gateway's route health, the guardrails' block rates and the log
templates' line rates are all built from these two pieces.

>>> windows = TumblingWindows[str, list](width_s=60.0, new=lambda start_s: [])
>>> _, closed = windows.advance("k", 0.0)
>>> _, closed = windows.advance("k", 61.0)
>>> closed
[]
>>> base = EwmaBaseline()
>>> for count in (10.0, 20.0):
...     base.learn(count, alpha=0.5)
>>> base.mean, base.windows, base.ready(warmup=2)
(15.0, 2, True)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
W = TypeVar("W")


@dataclass
class EwmaBaseline:
    """The exponentially weighted mean of the values of past windows.

    The first window sets the mean; every later one moves it by ``alpha`` of the
    difference. It is plain data (the weight belongs to whoever feeds it), so it can
    be saved and restored as two numbers.
    """

    mean: float = 0.0
    windows: int = 0

    def learn(self, value: float, alpha: float) -> None:
        self.mean = value if self.windows == 0 else self.mean + alpha * (value - self.mean)
        self.windows += 1

    def ready(self, warmup: int) -> bool:
        """Whether enough windows were seen to judge against it."""
        return self.windows >= warmup


class TumblingWindows(Generic[K, W]):
    """One open window per key; a window starts at its first event's time and closes
    when an event at least ``width_s`` later arrives for the same key."""

    def __init__(self, width_s: float, new: Callable[[float], W]) -> None:
        self.width_s = width_s
        self._new = new
        self._open: dict[K, tuple[float, W]] = {}

    def advance(self, key: K, at_s: float) -> tuple[W, W | None]:
        """The window an event of ``key`` at ``at_s`` belongs to, and the window it
        closed (None when it closed none)."""
        found = self._open.get(key)
        if found is not None and at_s - found[0] < self.width_s:
            return found[1], None
        window = self._new(at_s)
        self._open[key] = (at_s, window)
        return window, found[1] if found is not None else None
