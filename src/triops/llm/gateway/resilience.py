"""Retries with exponential backoff and jitter, and a circuit breaker per deployment."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None
                  ) -> float:
    """Delay before retry number ``attempt`` (0-based): full jitter over an exponential cap.

    Full jitter spreads retries of many clients apart instead of having them hit a
    recovering upstream in lock-step.

    >>> 0 <= backoff_delay(3, 0.1, 0.5) <= 0.5
    True
    """
    cap = min(max_s, base_s * (2 ** attempt))
    return (rng or random).uniform(0, cap)


@dataclass
class _State:
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False


class CircuitBreaker:
    """Takes a deployment out after ``failures`` consecutive failures for ``cooldown_s``.

    After the cool-down one trial call is let through (half-open); its success closes
    the circuit, its failure opens it for another cool-down.
    """

    def __init__(self, failures: int, cooldown_s: float, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._states: dict[str, _State] = {}

    def allows(self, key: str) -> bool:
        state = self._states.get(key)
        if state is None or state.failures < self.threshold:
            return True
        if self._clock() < state.open_until or state.probing:
            return False
        state.probing = True  # half-open: exactly one trial
        return True

    def is_open(self, key: str) -> bool:
        state = self._states.get(key)
        return state is not None and state.failures >= self.threshold and (
            self._clock() < state.open_until or state.probing)

    def success(self, key: str) -> None:
        state = self._states.get(key)
        if state is not None:
            state.failures = 0
            state.probing = False

    def failure(self, key: str) -> None:
        state = self._states.setdefault(key, _State())
        state.failures += 1
        state.probing = False
        if state.failures >= self.threshold:
            state.open_until = self._clock() + self.cooldown_s
