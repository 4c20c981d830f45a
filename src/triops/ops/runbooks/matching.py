"""Does a runbook's trigger fit an incident and its ranked causes?"""

from __future__ import annotations

from typing import Any

from triops.core.signals import Severity
from triops.ops.causes import ProbableCause
from triops.ops.runbooks.spec import CauseMatch, Trigger


def _cause_fits(match: CauseMatch, causes: list[ProbableCause]) -> bool:
    for cause in causes[:match.within_top]:
        if match.kind is not None and cause.kind != match.kind:
            continue
        if match.entity is not None and cause.entity != match.entity:
            continue
        if match.entity_prefix is not None and not cause.entity.startswith(match.entity_prefix):
            continue
        if cause.score >= match.min_score:
            return True
    return False


def matches(trigger: Trigger, incident: dict[str, Any], causes: list[ProbableCause]) -> bool:
    if trigger.kind and incident["kind"] not in trigger.kind:
        return False
    if trigger.source is not None and incident["source"] != trigger.source:
        return False
    if trigger.entity is not None and incident["subject"] != trigger.entity:
        return False
    if trigger.entity_prefix is not None and \
            not incident["subject"].startswith(trigger.entity_prefix):
        return False
    if Severity[incident["severity"]] < trigger.severity:
        return False
    labels = incident["labels"]
    for key, wanted in trigger.labels.items():
        allowed = [wanted] if isinstance(wanted, str) else wanted
        if labels.get(key) not in allowed:
            return False
    return trigger.cause is None or _cause_fits(trigger.cause, causes)
