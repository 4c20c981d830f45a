"""The Signal: what every monitor in every pillar emits.

A signal says "something about this subject looks wrong". The incident engine folds
signals that share a fingerprint into one incident. Subjects are typed strings such as ``model:churn@champion``,
``endpoint:churn``, ``service:checkout``, ``route:gpt-4o`` or ``prompt:support@production``.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field

from triops.core.ids import now_ms


class Pillar(str, enum.Enum):
    ml = "ml"
    llm = "llm"
    ops = "ops"


class Severity(enum.IntEnum):
    info = 1
    warning = 2
    error = 3
    critical = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        aliases = {"warn": "warning", "page": "critical", "crit": "critical", "err": "error"}
        name = aliases.get(text.lower(), text.lower())
        try:
            return cls[name]
        except KeyError:
            return cls.warning


@dataclass(frozen=True)
class Signal:
    source: Pillar
    kind: str
    subject: str
    severity: Severity = Severity.warning
    value: float | None = None
    time_ms: int = field(default_factory=now_ms)
    labels: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    #: Links and prose for people (runbook_url, generatorURL, description); not identity.
    annotations: dict[str, str] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Signals of the same kind about the same subject and labels fold together.

        Value, time, severity, summary and annotations are left out on purpose: they change from one
        occurrence to the next while the problem stays the same.
        """
        parts = [self.source.value, self.kind, self.subject]
        parts += [f"{k}={v}" for k, v in sorted(self.labels.items())]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
