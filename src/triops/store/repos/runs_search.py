"""``runs/search``: MLflow filters and sort keys pushed into one SQL query.

Each clause becomes an ``EXISTS`` on the primary key of the params, tags or latest
metrics table, and each sort key an outer join on the same key, so the database does
the filtering and ordering and only one page of runs is ever loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, case, exists, select
from sqlalchemy.orm import Session, aliased

from triops.core.errors import InvalidInput
from triops.store.repos.experiments import VIEW_STAGES
from triops.store.repos.ml_search import (
    ATTRIBUTE,
    DATASET,
    METRIC,
    PARAM,
    TAG,
    Clause,
    SortKey,
    compare,
    decode_page_token,
    encode_page_token,
)
from triops.store.schema_ml import LatestMetric, Run, RunInput, RunParam, RunTag

#: Attribute names MLflow accepts in filters and order_by, with their columns.
ATTRIBUTES = {
    "run_id": Run.run_id, "run_name": Run.run_name, "status": Run.status,
    "user_id": Run.user_id, "artifact_uri": Run.artifact_uri, "start_time": Run.start_time,
    "end_time": Run.end_time, "created": Run.start_time, "Created": Run.start_time,
    "experiment_id": Run.experiment_id,
}
NUMERIC_ATTRIBUTES = {"start_time", "end_time", "created", "Created"}
_DATASET_COLUMNS = {"name": RunInput.dataset_name, "digest": RunInput.dataset_digest}


def _condition(clause: Clause, sqlite: bool) -> ColumnElement[bool]:
    if clause.entity == ATTRIBUTE:
        column = ATTRIBUTES.get(clause.key)
        if column is None:
            raise InvalidInput(
                f"Invalid attribute key '{clause.key}' specified. Valid keys are "
                f"{sorted(ATTRIBUTES)}")
        value = clause.value
        if clause.key in NUMERIC_ATTRIBUTES:
            try:
                value = int(float(value))
            except (TypeError, ValueError):
                raise InvalidInput(f"attribute {clause.key} must be compared with a number") from None
        return compare(column, clause.op, value, sqlite=sqlite)
    if clause.entity == METRIC:
        table = LatestMetric
    elif clause.entity == PARAM:
        table = RunParam
    elif clause.entity == TAG:
        table = RunTag
    elif clause.entity == DATASET:
        column = _DATASET_COLUMNS.get(clause.key)
        if column is None:
            raise InvalidInput(f"Invalid dataset key '{clause.key}'; use name or digest")
        return exists().where(RunInput.run_id == Run.run_id,
                              compare(column, clause.op, clause.value, sqlite=sqlite))
    else:
        raise InvalidInput(f"runs cannot be filtered by {clause.entity}")
    return exists().where(table.run_id == Run.run_id, table.key == clause.key,
                          compare(table.value, clause.op, clause.value, sqlite=sqlite))


def search(
    session: Session, project: str, experiment_ids: Sequence[str], *,
    clauses: Sequence[Clause] = (), view_type: str = "ACTIVE_ONLY",
    order_by: Sequence[SortKey] = (), max_results: int = 1000, page_token: str | None = None,
    sqlite: bool = False,
) -> tuple[list[Row[Any]], str | None]:
    """One page of runs (rows of the run table, read by column name like ``Run``) and
    the next page's token, if any."""
    if view_type not in VIEW_STAGES:
        raise InvalidInput(f"run_view_type {view_type!r} is not one of {sorted(VIEW_STAGES)}")
    # The run table's columns, not ``Run`` objects: a page is read as rows (what the
    # callers read are its columns), without an ORM object and identity-map entry each.
    query = select(Run.__table__).where(
        Run.project == project, Run.experiment_id.in_([str(e) for e in experiment_ids]),
        Run.lifecycle_stage.in_(VIEW_STAGES[view_type]),
    )
    for clause in clauses:
        query = query.where(_condition(clause, sqlite))
    ordering = []
    for key in order_by:
        if key.entity == ATTRIBUTE:
            column = ATTRIBUTES.get(key.key)
            if column is None:
                raise InvalidInput(f"Invalid order_by key '{key.key}'")
        else:
            table = {METRIC: LatestMetric, PARAM: RunParam, TAG: RunTag}.get(key.entity)
            if table is None:
                raise InvalidInput(f"runs cannot be ordered by {key.entity}")
            joined = aliased(table)
            query = query.outerjoin(
                joined, (joined.run_id == Run.run_id) & (joined.key == key.key))
            column = joined.value
        # MLflow puts runs without the value last, whichever the direction.
        ordering.append(case((column.is_(None), 1), else_=0))
        ordering.append(column.asc() if key.ascending else column.desc())
    ordering += [Run.start_time.desc(), Run.run_id.asc()]
    offset = decode_page_token(page_token)
    rows = list(session.connection().execute(
        query.order_by(*ordering).offset(offset).limit(max_results + 1)))
    token = encode_page_token(offset + max_results) if len(rows) > max_results else None
    return rows[:max_results], token
