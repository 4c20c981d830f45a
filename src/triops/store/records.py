"""The one narrow interface for high-volume append-only records.

Metric points, spans, predictions, log lines and telemetry samples all go through
``append`` and ``scan``. Pillars never touch the ``records`` table directly, so a
columnar backend can replace this one without changing them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from triops.store.schema import Record

#: Rows per INSERT statement: large enough to amortise round trips, small enough to
#: stay under SQLite's bound-parameter limit.
_CHUNK = 5_000


@dataclass(frozen=True)
class RecordRow:
    stream: str
    ts_ms: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredRecord:
    id: int
    stream: str
    ts_ms: int
    data: dict[str, Any]


#: The one INSERT, per dialect, sent straight to the driver (see ``append``).
_DRIVER_INSERT = {
    "sqlite": "INSERT INTO records (project, kind, stream, ts_ms, data) VALUES (?, ?, ?, ?, ?)",
    "postgresql": "INSERT INTO records (project, kind, stream, ts_ms, data) "
                  "VALUES (%s, %s, %s, %s, %s::jsonb)",
}


def dumps(data: dict[str, Any]) -> str:
    """A record's data as the JSON text ``append_json`` takes: ``json.dumps(data)``'s
    meaning at orjson's speed (13x faster per record).

    orjson writes NaN and infinity as ``null`` and refuses some inputs json accepts
    (non-string keys, huge ints); then, or when a ``null`` appears and ``data`` may hold
    a NaN or an infinity, json decides. (A ``null`` alone is common: a record's empty
    field is one, and a 64-row prediction costs json ~10x orjson's time.)
    """
    try:
        out = orjson.dumps(data)
    except TypeError:
        return json.dumps(data)
    return json.dumps(data) if b"null" in out and not _finite(data) else out.decode()


#: Exact types whose values are never a NaN or an infinity; any other (a float, a
#: container, a subclass of anything) is looked at.
_SCALARS_NOT_FLOAT = frozenset({str, int, bool, type(None)})


def _finite(value: Any) -> bool:
    """False if ``value`` may hold a NaN or an infinity (never false when it holds one)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        kinds = set(map(type, value))  # one C loop
        if kinds <= _SCALARS_NOT_FLOAT:
            return True  # names, labels, integers: nothing to look at one by one
        try:
            # A list of numbers in one C loop: NaN and infinities survive a sum; an
            # overflow to infinity only sends the record to json.
            return math.isfinite(sum(value))
        except (TypeError, OverflowError):
            return all(_finite(v) for v in value)
    return True


def append(session: Session | Connection, project: str, kind: str,
           rows: Sequence[RecordRow]) -> int:
    """Insert rows in the caller's transaction; returns how many were written.

    ``data`` is serialised here (to the JSON ``json.dumps`` would write, see ``dumps``)
    and the rows go to ``append_json``.
    """
    return append_json(session, project, kind, [(r.stream, r.ts_ms, dumps(r.data)) for r in rows])


def append_json(session: Session | Connection, project: str, kind: str,
                rows: Sequence[tuple[str, int, str]]) -> int:
    """``append`` for rows whose data the caller already serialised: (stream, ts_ms, JSON).

    The rows go straight to the driver: per-row parameter processing in SQLAlchemy cost
    three times the insert itself on metric batches. On PostgreSQL through psycopg 3
    they are copied (``COPY ... FROM STDIN``), a seventh of ``executemany``'s CPU per row.
    """
    connection = session if isinstance(session, Connection) else session.connection()
    if connection.dialect.driver == "psycopg":
        _copy(connection, project, kind, rows)
        return len(rows)
    sql = _DRIVER_INSERT.get(connection.dialect.name)
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        if sql is None:
            connection.execute(Record.__table__.insert(), [
                {"project": project, "kind": kind, "stream": stream, "ts_ms": ts_ms,
                 # json, not orjson: ``dumps`` writes NaN as json does, which orjson refuses.
                 "data": json.loads(data)} for stream, ts_ms, data in chunk])
        else:
            connection.exec_driver_sql(
                sql, [(project, kind, stream, ts_ms, data) for stream, ts_ms, data in chunk])
    return len(rows)


_COPY = "COPY records (project, kind, stream, ts_ms, data) FROM STDIN"


def _copy_text(value: str) -> str:
    """``value`` as a field of ``COPY``'s text format."""
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def _copy(connection: Connection, project: str, kind: str,
          rows: Sequence[tuple[str, int, str]]) -> None:
    """The rows written as ``COPY``'s text lines by hand, a chunk per ``write``: psycopg's
    ``write_row`` formats each field in Python, which cost more than the copy itself. A
    batch's rows share a few streams, each escaped once."""
    driver = connection.connection.driver_connection
    head = f"{_copy_text(project)}\t{_copy_text(kind)}\t"
    streams: dict[str, str] = {}
    try:
        with driver.cursor() as cursor, cursor.copy(_COPY) as copy:  # type: ignore[union-attr]
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start:start + _CHUNK]
                # Most chunks (a sample's JSON is a number) have nothing to escape:
                # four scans of the chunk's data at once instead of four a row.
                clean = _copy_text(joined := "".join([row[2] for row in chunk])) == joined
                lines = []
                for stream, ts_ms, data in chunk:
                    escaped = streams.get(stream)
                    if escaped is None:
                        escaped = streams[stream] = _copy_text(stream)
                    lines.append(f"{head}{escaped}\t{ts_ms}\t"
                                 f"{data if clean else _copy_text(data)}\n")
                copy.write("".join(lines))
    except connection.dialect.loaded_dbapi.Error as exc:
        # As SQLAlchemy would have raised it (DataError for a value the column refuses).
        raise DBAPIError.instance(_COPY, None, exc, connection.dialect.loaded_dbapi.Error
                                  ) from exc


def scan(
    session: Session,
    project: str,
    kind: str,
    *,
    streams: Iterable[str] | None = None,
    stream_prefix: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> Iterator[StoredRecord]:
    """Records of one kind in ``[start_ms, end_ms)``, ordered by time then insertion."""
    query = select(Record.id, Record.stream, Record.ts_ms, Record.data).where(
        Record.project == project, Record.kind == kind
    )
    if streams is not None:
        query = query.where(Record.stream.in_(list(streams)))
    if stream_prefix is not None:
        query = query.where(Record.stream.startswith(stream_prefix, autoescape=True))
    if start_ms is not None:
        query = query.where(Record.ts_ms >= start_ms)
    if end_ms is not None:
        query = query.where(Record.ts_ms < end_ms)
    if newest_first:
        query = query.order_by(Record.ts_ms.desc(), Record.id.desc())
    else:
        query = query.order_by(Record.ts_ms, Record.id)
    if limit is not None:
        query = query.limit(limit)
    for row in session.execute(query):
        yield StoredRecord(id=row.id, stream=row.stream, ts_ms=row.ts_ms, data=row.data)


def streams(session: Session, project: str, kind: str, prefix: str | None = None) -> list[str]:
    query = select(Record.stream).where(Record.project == project, Record.kind == kind).distinct()
    if prefix is not None:
        query = query.where(Record.stream.startswith(prefix, autoescape=True))
    return sorted(session.scalars(query))


def drop_streams(session: Session, project: str, kind: str, names: Iterable[str]) -> None:
    """Remove whole streams, e.g. when the object that owned them is deleted for good."""
    session.execute(
        delete(Record).where(
            Record.project == project, Record.kind == kind, Record.stream.in_(list(names))
        )
    )


def delete_before(session: Session, project: str, kind: str, before_ms: int) -> int:
    """Remove the records of one kind older than ``before_ms`` (retention); returns how
    many went."""
    return session.execute(delete(Record).where(
        Record.project == project, Record.kind == kind, Record.ts_ms < before_ms)).rowcount


def take(session: Session, project: str, kind: str, stream: str, start_ms: int, end_ms: int
         ) -> list[StoredRecord]:
    """Delete one stream's records in ``[start_ms, end_ms)`` and return them, in one
    statement: of two transactions taking the same rows, only one gets them."""
    query = delete(Record).where(
        Record.project == project, Record.kind == kind, Record.stream == stream,
        Record.ts_ms >= start_ms, Record.ts_ms < end_ms,
    ).returning(Record.id, Record.stream, Record.ts_ms, Record.data)
    return [StoredRecord(id=r.id, stream=r.stream, ts_ms=r.ts_ms, data=r.data)
            for r in session.execute(query)]
