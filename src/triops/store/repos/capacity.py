"""Capacity rules and the per-series evaluation state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from triops.core.errors import NotFound
from triops.store.schema_capacity import CapacityRuleRow, CapacitySeriesState


def put_rule(session: Session, project: str, name: str, spec: dict[str, Any], actor: str,
             now: int) -> CapacityRuleRow:
    row = session.get(CapacityRuleRow, (project, name))
    if row is None:
        row = CapacityRuleRow(project=project, name=name, spec=spec, updated_by=actor,
                              updated_ms=now)
        session.add(row)
    else:
        row.spec, row.updated_by, row.updated_ms = spec, actor, now
    session.flush()
    return row


def list_rules(session: Session, project: str) -> list[CapacityRuleRow]:
    query = select(CapacityRuleRow).where(CapacityRuleRow.project == project)
    return list(session.scalars(query.order_by(CapacityRuleRow.name)))


def delete_rule(session: Session, project: str, name: str) -> None:
    row = session.get(CapacityRuleRow, (project, name))
    if row is None:
        raise NotFound(f"capacity rule {name!r} does not exist")
    session.delete(row)
    session.execute(delete(CapacitySeriesState).where(
        CapacitySeriesState.project == project, CapacitySeriesState.rule == name))


def get_state(session: Session, project: str, rule: str, series: str
              ) -> CapacitySeriesState | None:
    return session.get(CapacitySeriesState, (project, rule, series))


def lock_state(session: Session, project: str, rule: str, series: str) -> CapacitySeriesState:
    """The series' state under the rule, locked for the caller's write transaction; a new
    row has never been evaluated (``evaluated_ms`` 0)."""
    make = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(make(CapacitySeriesState).values(
        project=project, rule=rule, series=series, evaluated_ms=0, crossing_ms=None,
    ).on_conflict_do_nothing())
    query = select(CapacitySeriesState).where(
        CapacitySeriesState.project == project, CapacitySeriesState.rule == rule,
        CapacitySeriesState.series == series).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).one()
