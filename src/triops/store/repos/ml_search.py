"""Search building blocks shared by the ML repositories: parsed filter clauses, sort
keys, offset page tokens and SQL comparisons that behave the same on both backends.

The filter *language* (MLflow's ``metrics.rmse < 0.5 and params.alpha = '0.1'``) is
parsed in ``triops.ml``; repositories receive the parsed ``Clause`` values and turn
them into SQL, so filters run in the database, never over rows in Python.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, or_
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.elements import ColumnElement as _Col

from triops.core.errors import InvalidInput

#: Entity kinds a clause can name.
METRIC, PARAM, TAG, ATTRIBUTE, DATASET = "metric", "param", "tag", "attribute", "dataset"


@dataclass(frozen=True)
class Clause:
    entity: str
    key: str
    op: str  # "=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN"
    value: Any  # a str, a float, or a tuple of str for IN / NOT IN


@dataclass(frozen=True)
class SortKey:
    entity: str
    key: str
    ascending: bool


def encode_page_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.b64decode(token, validate=True))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidInput(f"page_token {token!r} is not a token this server issued") from None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInput(f"page_token {token!r} is not a token this server issued")
    return offset


def glob_of(pattern: str) -> str:
    """A LIKE pattern as a case-sensitive GLOB (SQLite's LIKE ignores case): what
    ``compare`` pairs with a LIKE on SQLite."""
    out = []
    for ch in pattern:
        if ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return "".join(out)


def compare(column: _Col, op: str, value: Any, *, sqlite: bool,
            glob: Any = None) -> ColumnElement[bool]:
    """``column <op> value`` with MLflow's semantics on SQLite and PostgreSQL alike.

    ``value`` may also be a bound parameter (``bindparam``, expanding for IN and NOT
    IN), so that one statement serves every value; a LIKE on SQLite then needs
    ``glob``, the parameter bound to ``glob_of`` of the same pattern."""
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "LIKE":
        if sqlite:
            return and_(column.like(value),
                        column.op("GLOB")(glob_of(value) if glob is None else glob))
        return column.like(value)
    if op == "ILIKE":
        return func.lower(column).like(func.lower(value))
    if op in ("IN", "NOT IN"):
        member = column.in_(value if isinstance(value, BindParameter) else list(value))
        return member if op == "IN" else not_(member)
    raise InvalidInput(f"comparator {op!r} is not supported")


def compare_optional(column: _Col, op: str, value: Any, *, sqlite: bool) -> ColumnElement[bool]:
    """Like ``compare`` for a value that may be missing (a tag in a JSON column): a
    missing value satisfies ``!=`` and ``NOT IN``, as the client's own filter
    ``tags.`mlflow.prompt.is_prompt` != 'true'`` expects of ordinary models."""
    condition = compare(column, op, value, sqlite=sqlite)
    if op in ("!=", "NOT IN"):
        return or_(column.is_(None), condition)
    return condition
