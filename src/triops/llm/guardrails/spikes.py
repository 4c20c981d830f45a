"""A spike in a rule's block rate becomes a Signal.

Checks are grouped per (project, rule) into tumbling windows of their time. When a
window closes (the next check after its end arrives) its block rate is judged against
an exponentially weighted baseline of past windows: a rate at least ``min_block_rate``
and ``spike_factor`` times the baseline raises ``guardrail.block_rate`` for the subject
``guardrail:<rule>``. A rule that suddenly blocks much more than usual means an attack
wave, a broken client, or a rule change that went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from triops.core.baselines import EwmaBaseline, TumblingWindows
from triops.core.guardrail_settings import GuardrailSettings
from triops.core.signals import Pillar, Severity, Signal

_WARMUP_WINDOWS = 3
_ALPHA = 0.3


@dataclass
class _Window:
    start_s: float
    checks: int = 0
    blocks: int = 0


class BlockRateSpikes:
    def __init__(self, config: GuardrailSettings) -> None:
        self.config = config
        self._windows: TumblingWindows[tuple[str, str], _Window] = TumblingWindows(
            config.window_s, _Window)
        self._baselines: dict[tuple[str, str], EwmaBaseline] = {}

    def observe(self, project: str, rule: str, at_s: float, blocked: bool) -> list[Signal]:
        """Count one check; returns the signal of the window it closed, if any."""
        key = (project, rule)
        window, closed = self._windows.advance(key, at_s)
        signals = self._judge(rule, key, closed) if closed is not None else []
        window.checks += 1
        window.blocks += blocked
        return signals

    def _judge(self, rule: str, key: tuple[str, str], window: _Window) -> list[Signal]:
        if window.checks < self.config.min_checks:
            return []
        rate = window.blocks / window.checks
        base = self._baselines.setdefault(key, EwmaBaseline())
        signals = []
        if (base.ready(_WARMUP_WINDOWS) and rate >= self.config.min_block_rate
                and rate >= self.config.spike_factor * max(base.mean, 0.01)):
            signals.append(Signal(
                source=Pillar.llm, kind="guardrail.block_rate", subject=f"guardrail:{rule}",
                severity=Severity.warning, value=rate,
                time_ms=int((window.start_s + self.config.window_s) * 1000),
                summary=f"guardrail {rule} blocked {rate:.0%} of {window.checks} checks "
                        f"against a baseline of {base.mean:.1%}",
            ))
        base.learn(rate, _ALPHA)
        return signals
