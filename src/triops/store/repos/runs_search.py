"""``runs/search``: MLflow filters and sort keys pushed into one SQL query.

Each clause becomes an ``EXISTS`` on the primary key of the params, tags or latest
metrics table, and each sort key an outer join on the same key, so the database does
the filtering and ordering and only one page of runs is ever loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, bindparam, case, exists, select
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
    glob_of,
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
#: The tables of the entities filtered and sorted by key and value.
_KEYED = {METRIC: LatestMetric, PARAM: RunParam, TAG: RunTag}


#: A search's structure without its values: per clause (entity, op) and for
#: attributes and datasets the key (it picks the column); per sort key (entity,
#: ascending) and for attributes the key. Values and the keys of metrics, params and
#: tags are bound parameters (``v0``, ``k0``, ``g0``, ``o0``…).
Shape = tuple[tuple[tuple[str, ...], ...], tuple[tuple[str | bool, ...], ...]]


def _clause_shape(i: int, clause: Clause, sqlite: bool,
                  params: dict[str, Any]) -> tuple[str, ...]:
    """The clause's part of the shape; its values go into ``params``."""
    value = clause.value
    if clause.entity == ATTRIBUTE:
        if clause.key not in ATTRIBUTES:
            raise InvalidInput(
                f"Invalid attribute key '{clause.key}' specified. Valid keys are "
                f"{sorted(ATTRIBUTES)}")
        if clause.key in NUMERIC_ATTRIBUTES:
            try:
                value = int(float(value))
            except (TypeError, ValueError):
                raise InvalidInput(f"attribute {clause.key} must be compared with a number") from None
        shape: tuple[str, ...] = (ATTRIBUTE, clause.op, clause.key)
    elif clause.entity == DATASET:
        if clause.key not in _DATASET_COLUMNS:
            raise InvalidInput(f"Invalid dataset key '{clause.key}'; use name or digest")
        shape = (DATASET, clause.op, clause.key)
    elif clause.entity in _KEYED:
        params[f"k{i}"] = clause.key
        shape = (clause.entity, clause.op)
    else:
        raise InvalidInput(f"runs cannot be filtered by {clause.entity}")
    params[f"v{i}"] = list(value) if clause.op in ("IN", "NOT IN") else value
    if clause.op == "LIKE" and sqlite:
        params[f"g{i}"] = glob_of(value)
    return shape


def _condition(i: int, shape: tuple[str, ...], sqlite: bool) -> ColumnElement[bool]:
    entity, op = shape[0], shape[1]
    value = bindparam(f"v{i}", expanding=op in ("IN", "NOT IN"))
    glob = bindparam(f"g{i}") if op == "LIKE" and sqlite else None
    if entity == ATTRIBUTE:
        return compare(ATTRIBUTES[shape[2]], op, value, sqlite=sqlite, glob=glob)
    if entity == DATASET:
        return exists().where(RunInput.run_id == Run.run_id,
                              compare(_DATASET_COLUMNS[shape[2]], op, value, sqlite=sqlite,
                                      glob=glob))
    table = _KEYED[entity]
    return exists().where(table.run_id == Run.run_id, table.key == bindparam(f"k{i}"),
                          compare(table.value, op, value, sqlite=sqlite, glob=glob))


def _order_shape(j: int, key: SortKey, params: dict[str, Any]) -> tuple[str | bool, ...]:
    if key.entity == ATTRIBUTE:
        if key.key not in ATTRIBUTES:
            raise InvalidInput(f"Invalid order_by key '{key.key}'")
        return (ATTRIBUTE, key.ascending, key.key)
    if key.entity not in _KEYED:
        raise InvalidInput(f"runs cannot be ordered by {key.entity}")
    params[f"o{j}"] = key.key
    return (key.entity, key.ascending)


@lru_cache(maxsize=256)
def _statement(shape: Shape, sqlite: bool) -> Select[Any]:
    """The search of this shape, built once: building and hashing the statement cost
    about as much as running it (100 runs out of 10,000 on SQLite). Its parameters:
    ``project``, ``experiment_ids``, ``stages``, ``limit``, ``offset`` and the
    clauses' and sort keys' (``_clause_shape``, ``_order_shape``)."""
    clauses, order_by = shape
    # The run table's columns, not ``Run`` objects: a page is read as rows (what the
    # callers read are its columns), without an ORM object and identity-map entry each.
    query = select(Run.__table__).where(
        Run.project == bindparam("project"),
        Run.experiment_id.in_(bindparam("experiment_ids", expanding=True)),
        Run.lifecycle_stage.in_(bindparam("stages", expanding=True)),
    )
    for i, clause in enumerate(clauses):
        query = query.where(_condition(i, clause, sqlite))
    ordering = []
    for j, key in enumerate(order_by):
        if key[0] == ATTRIBUTE:
            column = ATTRIBUTES[str(key[2])]
        else:
            joined = aliased(_KEYED[str(key[0])])
            query = query.outerjoin(
                joined, (joined.run_id == Run.run_id) & (joined.key == bindparam(f"o{j}")))
            column = joined.value
        # MLflow puts runs without the value last, whichever the direction.
        ordering.append(case((column.is_(None), 1), else_=0))
        ordering.append(column.asc() if key[1] else column.desc())
    ordering += [Run.start_time.desc(), Run.run_id.asc()]
    return query.order_by(*ordering).limit(bindparam("limit")).offset(bindparam("offset"))


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
    params: dict[str, Any] = {}
    shape = (tuple(_clause_shape(i, c, sqlite, params) for i, c in enumerate(clauses)),
             tuple(_order_shape(j, k, params) for j, k in enumerate(order_by)))
    offset = decode_page_token(page_token)
    params.update(project=project, experiment_ids=[str(e) for e in experiment_ids],
                  stages=list(VIEW_STAGES[view_type]), limit=max_results + 1, offset=offset)
    rows = list(session.connection().execute(_statement(shape, sqlite), params))
    token = encode_page_token(offset + max_results) if len(rows) > max_results else None
    return rows[:max_results], token
