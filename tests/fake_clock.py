"""A clock that tests move by hand, for code that takes a ``clock`` returning seconds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeClock:
    now: float = 16_667 * 60 + 20.0  # 20 s into a calendar minute

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
