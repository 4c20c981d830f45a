"""AIOps state: detector state per series, miner state per log stream, anomaly marks.

``lock_*`` functions return the row locked for the rest of the caller's write
transaction (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE``
already serialises writers), creating it first when absent, so two requests for the same
series never score from the same stale state.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import set_committed_value

from triops.core.ids import now_ms
from triops.store.schema import IncidentMember, IncidentSignal
from triops.store.schema_ops import OpsLogStream, OpsSeriesState

#: Rows per multi-row INSERT: well under both stores' limits on bound parameters.
_INSERT_ROWS = 1000


def _insert_missing(session: Session, model: type, values: dict | list[dict]) -> None:
    dialect = session.get_bind().dialect.name
    make = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(make(model).values(values).on_conflict_do_nothing())


def lock_series(session: Session, project: str, series: Sequence[str], detector: str,
                ) -> dict[str, OpsSeriesState]:
    """The state rows of ``series`` by name, locked; a new row has an empty state.

    The rows' ``state`` (a detector's checkpoint, the large column) is not read: a
    caller that needs it for some rows reads it with :func:`load_series_states` (a
    row's ``state`` read before that is fetched on its own). One locking query for all of them, its rows locked in its ``ORDER BY``, so two
    writers never wait on each other in a cycle; rows missing are created first, in
    sorted order, and locked by a second query.
    """
    def locked(names: Sequence[str]) -> dict[str, OpsSeriesState]:
        query = select(OpsSeriesState).options(defer(OpsSeriesState.state)).where(
            OpsSeriesState.project == project, OpsSeriesState.series.in_(names)
        ).order_by(OpsSeriesState.series).with_for_update()
        rows = session.scalars(query.execution_options(populate_existing=True))
        return {row.series: row for row in rows}

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


def load_series_states(session: Session, rows: Sequence[OpsSeriesState]) -> None:
    """Read the ``state`` of rows returned by :func:`lock_series` (of one project), in
    one query; the rows stay unmodified until the caller changes them."""
    if not rows:
        return
    by_name = {row.series: row for row in rows}
    query = select(OpsSeriesState.series, OpsSeriesState.state).where(
        OpsSeriesState.project == rows[0].project, OpsSeriesState.series.in_(list(by_name)))
    for name, state in session.execute(query):
        set_committed_value(by_name[name], "state", state)


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
