"""Checks and block rates per rule over time, from the check records."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy.orm import Session

from triops.store.repos import guardrails as repo


def block_rates(session: Session, project: str, start_ms: int, end_ms: int, bucket_ms: int
                ) -> list[dict[str, Any]]:
    """Per rule: totals by outcome and, per time bucket, checks, blocks and block rate."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    buckets: dict[str, dict[int, list[int]]] = defaultdict(dict)
    for record in repo.scan_checks(session, project, start_ms, end_ms):
        outcome = str(record.data.get("outcome", ""))
        totals[record.stream][outcome] += 1
        slot = start_ms + (record.ts_ms - start_ms) // bucket_ms * bucket_ms
        point = buckets[record.stream].setdefault(slot, [0, 0])
        point[0] += 1
        point[1] += outcome == "blocked"
    out = []
    for rule in sorted(totals):
        t = totals[rule]
        out.append({
            "rule": rule, "checks": sum(t.values()), "blocked": t["blocked"],
            "redacted": t["redacted"], "flagged": t["flagged"], "errors": t["error"],
            "points": [{"start_ms": slot, "checks": c, "blocked": b, "rate": b / c}
                       for slot, (c, b) in sorted(buckets[rule].items())],
        })
    return out
