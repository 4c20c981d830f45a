"""AIOps state: detector state per series, miner state per log stream, anomaly marks.

``lock_*`` functions return the row locked for the rest of the caller's write
transaction (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE``
already serialises writers), creating it first when absent, so two requests for the same
series never score from the same stale state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from triops.core.ids import now_ms
from triops.store.schema import IncidentMember, IncidentSignal
from triops.store.schema_ops import OpsLogStream, OpsSeriesState

#: Rows per multi-row INSERT: well under both stores' limits on bound parameters.
_INSERT_ROWS = 1000


def _insert_missing(session: Session, model: type, values: dict | list[dict]) -> None:
    dialect = session.get_bind().dialect.name
    make = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(make(model).values(values).on_conflict_do_nothing())


@dataclass(eq=False)
class SeriesRow:
    """A series' state row, locked by :func:`lock_series` and written back by
    :func:`save_series`: plain attributes, no ORM object (a request locks and writes
    one per series it carries, and the ORM's bookkeeping cost more than the SQL)."""

    project: str
    series: str
    detector: str
    last_ts_ms: int | None
    points: int
    anomalies: int
    updated_ms: int
    #: The detector's checkpoint; ``None`` until :func:`load_series_states` reads it.
    state: dict[str, Any] | None = None
    #: Whether :func:`save_series` writes ``state`` too (a new checkpoint).
    state_changed: bool = False

    def checkpoint(self, state: dict[str, Any]) -> None:
        self.state, self.state_changed = state, True


_T = OpsSeriesState.__table__
_COUNTERS = (_T.c.series, _T.c.detector, _T.c.last_ts_ms, _T.c.points, _T.c.anomalies,
             _T.c.updated_ms)


def lock_series(session: Session, project: str, series: Sequence[str], detector: str,
                ) -> dict[str, SeriesRow]:
    """The state rows of ``series`` by name, locked; a new row has an empty state.

    The rows' ``state`` (a detector's checkpoint, the large column) is not read: a
    caller that needs it for some rows reads it with :func:`load_series_states`. One
    locking query for all of them, its rows locked in its ``ORDER BY``, so two writers
    never wait on each other in a cycle; rows missing are created first, in sorted
    order, and locked by a second query.
    """
    conn = session.connection()

    def locked(names: Sequence[str]) -> dict[str, SeriesRow]:
        query = select(*_COUNTERS).where(
            _T.c.project == project, _T.c.series.in_(names)
        ).order_by(_T.c.series).with_for_update()
        return {row[0]: SeriesRow(project, *row) for row in conn.execute(query)}

    rows = locked(series)
    missing = sorted(set(series) - rows.keys())
    if missing:
        now = now_ms()
        for start in range(0, len(missing), _INSERT_ROWS):
            _insert_missing(session, OpsSeriesState, [
                {"project": project, "series": name, "detector": detector, "state": {},
                 "last_ts_ms": None, "points": 0, "anomalies": 0, "updated_ms": now}
                for name in missing[start:start + _INSERT_ROWS]])
        rows.update(locked(missing))
    return rows


def load_series_states(session: Session, rows: Sequence[SeriesRow]) -> None:
    """Read the ``state`` of rows returned by :func:`lock_series` (of one project), in
    one query."""
    if not rows:
        return
    by_name = {row.series: row for row in rows}
    query = select(_T.c.series, _T.c.state).where(
        _T.c.project == rows[0].project, _T.c.series.in_(list(by_name)))
    for name, state in session.connection().execute(query):
        by_name[name].state = state


_SAVE = update(_T).where(_T.c.project == bindparam("b_project"),
                         _T.c.series == bindparam("b_series"))
# Bound names differ from the columns': SQLAlchemy keeps those for its own SET params.
_SET = {name: bindparam(f"b_{name}")
        for name in ("detector", "last_ts_ms", "points", "anomalies", "updated_ms")}
_SAVE_COUNTERS = _SAVE.values(**_SET)
_SAVE_CHECKPOINTS = _SAVE.values(**_SET, state=bindparam("b_state", type_=_T.c.state.type))


def save_series(session: Session, rows: Sequence[SeriesRow]) -> None:
    """Write ``rows`` back — their counters, and the state of those given a new
    checkpoint — in the caller's transaction: one batched ``UPDATE`` for each kind."""
    plain, checkpoints = [], []
    for row in rows:
        values = {"b_project": row.project, "b_series": row.series,
                  "b_detector": row.detector, "b_last_ts_ms": row.last_ts_ms,
                  "b_points": row.points, "b_anomalies": row.anomalies,
                  "b_updated_ms": row.updated_ms}
        if row.state_changed:
            values["b_state"] = row.state
            checkpoints.append(values)
            row.state_changed = False
        else:
            plain.append(values)
    conn = session.connection()
    if plain:
        conn.execute(_SAVE_COUNTERS, plain)
    if checkpoints:
        conn.execute(_SAVE_CHECKPOINTS, checkpoints)


def get_series_state(session: Session, project: str, series: str) -> OpsSeriesState | None:
    return session.get(OpsSeriesState, (project, series))


def lock_stream(session: Session, project: str, stream: str) -> OpsLogStream:
    """The log stream's mining state, locked; a new row has empty states."""
    _insert_missing(session, OpsLogStream, {
        "project": project, "stream": stream, "miner": {}, "rates": {}, "seen": {},
        "lines": 0, "updated_ms": now_ms(),
    })
    query = select(OpsLogStream).where(
        OpsLogStream.project == project, OpsLogStream.stream == stream
    ).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).one()


def get_stream(session: Session, project: str, stream: str) -> OpsLogStream | None:
    return session.get(OpsLogStream, (project, stream))


def list_streams(session: Session, project: str) -> list[OpsLogStream]:
    query = select(OpsLogStream).where(OpsLogStream.project == project)
    return list(session.scalars(query.order_by(OpsLogStream.stream)))


def signal_marks(
    session: Session, project: str, kind: str, subject: str,
    start_ms: int | None = None, end_ms: int | None = None, limit: int = 10_000,
) -> list[tuple[int, float | None, str]]:
    """(time, value, incident id) of every signal of ``kind`` about ``subject``."""
    # Through the member: a signal of the series may sit in an incident another
    # fingerprint opened, when it joined by correlation.
    query = (
        select(IncidentSignal.time_ms, IncidentSignal.value, IncidentSignal.incident_id)
        .join(IncidentMember, (IncidentMember.incident_id == IncidentSignal.incident_id)
              & (IncidentMember.fingerprint == IncidentSignal.fingerprint))
        .where(IncidentMember.project == project, IncidentMember.kind == kind,
               IncidentMember.subject == subject)
    )
    if start_ms is not None:
        query = query.where(IncidentSignal.time_ms >= start_ms)
    if end_ms is not None:
        query = query.where(IncidentSignal.time_ms < end_ms)
    query = query.distinct().order_by(IncidentSignal.time_ms).limit(limit)
    return [(r.time_ms, r.value, r.incident_id) for r in session.execute(query)]
