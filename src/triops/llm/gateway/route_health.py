"""Gateway anomalies as Signals: error rate, p95 latency and cost per route.

The error rate counts server faults only (``triops.gateway.fault`` = ``server``: an
upstream failed, timed out or every deployment was down). Requests the gateway refused
(invalid, blocked by a guardrail, over a budget or rate limit, a model the key may not
use) say nothing about the route's health and are counted as calls, not failures.

Calls are grouped per (project, route) into tumbling windows of their end time. When
the next call after a window's end arrives, the window
is judged: an error rate over the threshold, a p95 latency several times its running
baseline, or a cost several times its running baseline becomes a Signal for the
incident engine. Baselines are exponentially weighted over past windows and only
judge once a few windows have been seen, so a fresh server does not cry wolf.

Failover hides a failing upstream from the route's error rate (the next deployment
answers), so each window also counts every upstream's attempts (``triops.gateway.attempts``):
an upstream that failed more than the error-rate threshold of its attempts becomes a
``gateway.upstream_errors`` signal labelled with the upstream, which a runbook can drain.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from triops.core.baselines import EwmaBaseline, TumblingWindows
from triops.core.gateway_settings import SignalConfig
from triops.core.signals import Pillar, Severity, Signal
from triops.llm.spans import Span, SpanStatus

_WARMUP_WINDOWS = 3
_ALPHA = 0.3


@dataclass
class _Window:
    start_s: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    cost: float = 0.0
    tried: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)

    def count_attempts(self, attempts: object) -> None:
        """Entries are ``<upstream>/<model>: ok|<status>|circuit open``."""
        for entry in attempts if isinstance(attempts, list) else ():
            target, _, outcome = str(entry).rpartition(": ")
            upstream = target.partition("/")[0]
            self.tried[upstream] += 1
            self.failed[upstream] += outcome != "ok"


@dataclass
class _Baseline:
    p95_ms: EwmaBaseline = field(default_factory=EwmaBaseline)
    cost: EwmaBaseline = field(default_factory=EwmaBaseline)


class RouteHealth:
    def __init__(self, config: SignalConfig) -> None:
        self.config = config
        self._windows: TumblingWindows[tuple[str, str], _Window] = TumblingWindows(
            config.window_s, _Window)
        self._baselines: dict[tuple[str, str], _Baseline] = {}

    def observe(self, project: str, span: Span) -> list[Signal]:
        """Count one finished gateway call; returns the signals of any window it closed."""
        route = str(span.attributes.get("triops.gateway.route") or span.name)
        key = (project, route)
        # Event time, not the time the writer gets to the span: batches arrive late.
        window, closed = self._windows.advance(key, span.end_ns / 1e9)
        signals = self._judge(route, key, closed) if closed is not None else []
        window.latencies_ms.append(span.duration_ms)
        window.errors += (span.status is SpanStatus.error
                          and span.attributes.get("triops.gateway.fault") != "client")
        window.cost += float(span.attributes.get("triops.cost_usd") or 0.0)
        window.count_attempts(span.attributes.get("triops.gateway.attempts"))
        return signals

    def _judge(self, route: str, key: tuple[str, str], window: _Window) -> list[Signal]:
        calls = len(window.latencies_ms)
        if calls < self.config.min_calls:
            return []
        subject = f"route:{route}"
        at_ms = int(window.start_s * 1000 + self.config.window_s * 1000)
        signals = []
        rate = window.errors / calls
        if rate > self.config.error_rate:
            signals.append(Signal(
                source=Pillar.llm, kind="gateway.error_rate", subject=subject,
                severity=Severity.error, value=rate, time_ms=at_ms,
                summary=f"gateway route {route}: {rate:.0%} of {calls} calls failed",
            ))
        signals += self._failing_upstreams(route, subject, at_ms, window)
        p95 = float(np.percentile(window.latencies_ms, 95))
        base = self._baselines.setdefault(key, _Baseline())
        # Both baselines learn every judged window, so one tells when they are ready.
        if base.p95_ms.ready(_WARMUP_WINDOWS):
            p95_base, cost_base = base.p95_ms.mean, base.cost.mean
            if p95 > self.config.latency_factor * p95_base and p95 - p95_base > 50:
                signals.append(Signal(
                    source=Pillar.llm, kind="gateway.latency", subject=subject,
                    severity=Severity.warning, value=p95, time_ms=at_ms,
                    summary=f"gateway route {route}: p95 latency {p95:.0f} ms against a "
                            f"baseline of {p95_base:.0f} ms",
                ))
            if cost_base > 0 and window.cost > self.config.cost_factor * cost_base:
                signals.append(Signal(
                    source=Pillar.llm, kind="gateway.cost", subject=subject,
                    severity=Severity.warning, value=window.cost, time_ms=at_ms,
                    summary=f"gateway route {route}: ${window.cost:.4f} in one window against "
                            f"a baseline of ${cost_base:.4f}",
                ))
        base.p95_ms.learn(p95, _ALPHA)
        base.cost.learn(window.cost, _ALPHA)
        return signals

    def _failing_upstreams(self, route: str, subject: str, at_ms: int, window: _Window
                           ) -> list[Signal]:
        signals = []
        for upstream, tried in sorted(window.tried.items()):
            rate = window.failed[upstream] / tried
            if tried >= self.config.min_calls and rate > self.config.error_rate:
                signals.append(Signal(
                    source=Pillar.llm, kind="gateway.upstream_errors", subject=subject,
                    severity=Severity.error, value=rate, time_ms=at_ms,
                    labels={"route": route, "upstream": upstream},
                    summary=f"gateway route {route}: upstream {upstream} failed "
                            f"{window.failed[upstream]} of {tried} attempts",
                ))
        return signals
