"""Stored guardrail rules, and the per-check records the dashboard counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triops.core.errors import NotFound
from triops.core.ids import now_ms
from triops.store import records
from triops.store.repos import changes
from triops.store.schema_guardrails import GuardrailRuleRow

#: Record kind of one guardrail check (stream = rule name).
CHECK_KIND = "guardrail_check"


def list_rules(session: Session) -> list[GuardrailRuleRow]:
    return list(session.scalars(select(GuardrailRuleRow).order_by(GuardrailRuleRow.name)))


def put_rule(session: Session, name: str, spec: dict[str, Any], actor: str = ""
             ) -> GuardrailRuleRow:
    row = session.get(GuardrailRuleRow, name)
    if row is None:
        row = GuardrailRuleRow(name=name, spec=spec, updated_ms=now_ms())
        session.add(row)
    else:
        row.spec, row.updated_ms = spec, now_ms()
    session.flush()
    changes.add_server_wide(session, f"guardrail:{name}", "guardrail.rule.put", actor, spec)
    return row


def delete_rule(session: Session, name: str, actor: str = "") -> None:
    row = session.get(GuardrailRuleRow, name)
    if row is None:
        raise NotFound(f"no stored guardrail rule {name!r}")
    session.delete(row)
    changes.add_server_wide(session, f"guardrail:{name}", "guardrail.rule.delete", actor)


def version(session: Session) -> tuple[int, int]:
    """Changes whenever a rule is added, changed or removed."""
    count, newest = session.execute(
        select(func.count(), func.max(GuardrailRuleRow.updated_ms))).one()
    return int(count), int(newest or 0)


def append_checks(session: Session, project: str, rows: list[records.RecordRow]) -> None:
    records.append(session, project, CHECK_KIND, rows)


def scan_checks(session: Session, project: str, start_ms: int, end_ms: int,
                rules: list[str] | None = None) -> Iterator[records.StoredRecord]:
    return records.scan(session, project, CHECK_KIND, streams=rules, start_ms=start_ms,
                        end_ms=end_ms)
