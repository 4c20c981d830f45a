"""Trace summaries and trace scores: the relational side of LLM tracing.

Summaries are merged with one ``INSERT ... ON CONFLICT DO UPDATE`` per batch, so spans of
one trace may arrive in any order, in any number of requests, from concurrent writers,
and the summary still ends up as the fold of all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from sqlalchemy import and_, case, delete, func, not_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from triops.store import records
from triops.store.schema_llm_traces import ScoreConfig, TraceScore, TraceSummary

#: Record kind of spans in the append-only store; stream = trace id.
SPAN = "span"


@dataclass
class TraceDelta:
    """What one batch of spans adds to one trace's summary."""

    trace_id: str
    name: str
    has_root: bool
    start_ns: int
    end_ns: int
    span_count: int = 0
    error_count: int = 0
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    user_id: str | None = None
    session_id: str | None = None
    api_key: str | None = None
    service: str | None = None


@dataclass(frozen=True)
class ScoreCondition:
    """Traces with at least one score ``name`` whose value compares to ``number`` (or
    whose label equals / differs from ``label``) by ``op``: ``=``, ``!=``, ``<``, ``<=``,
    ``>``, ``>=``. Neither set: any score of that name."""

    name: str
    op: str = "="
    number: float | None = None
    label: str | None = None


_COMPARE = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__",
            ">=": "__ge__"}


def _score_clause(c: ScoreCondition):  # type: ignore[no-untyped-def]
    s = TraceScore
    conds = [s.project == TraceSummary.project, s.trace_id == TraceSummary.trace_id,
             s.name == c.name]
    if c.number is not None:
        conds.append(getattr(s.value, _COMPARE[c.op])(c.number))
    elif c.label is not None:
        conds.append(getattr(s.string_value, _COMPARE[c.op])(c.label))
    return select(s.id).where(*conds).exists()


@dataclass
class TraceFilter:
    model: str | None = None
    status: str | None = None  # "ok" or "error"
    min_latency_ms: float | None = None
    max_latency_ms: float | None = None
    min_cost: float | None = None
    max_cost: float | None = None
    user: str | None = None
    session: str | None = None
    service: str | None = None
    name: str | None = None
    api_key: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    scores: tuple[ScoreCondition, ...] = ()
    limit: int = 50
    offset: int = 0
    #: Oldest first instead of newest first (a session read as a conversation).
    oldest_first: bool = False


def _upsert(insert):  # type: ignore[no-untyped-def]
    """``INSERT ... ON CONFLICT DO UPDATE`` folding a delta into a trace's summary."""
    stmt = insert(TraceSummary.__table__)
    new = stmt.excluded
    old = TraceSummary.__table__.c
    return stmt.on_conflict_do_update(
        index_elements=[old.project, old.trace_id],
        set_={
            "name": case((and_(new.has_root, not_(old.has_root)), new.name), else_=old.name),
            "has_root": or_(old.has_root, new.has_root),
            "start_ns": case((new.start_ns < old.start_ns, new.start_ns), else_=old.start_ns),
            "end_ns": case((new.end_ns > old.end_ns, new.end_ns), else_=old.end_ns),
            "span_count": old.span_count + new.span_count,
            "error_count": old.error_count + new.error_count,
            "model": func.coalesce(old.model, new.model),
            "input_tokens": old.input_tokens + new.input_tokens,
            "output_tokens": old.output_tokens + new.output_tokens,
            "cost": old.cost + new.cost,
            "user_id": func.coalesce(old.user_id, new.user_id),
            "session_id": func.coalesce(old.session_id, new.session_id),
            "api_key": func.coalesce(old.api_key, new.api_key),
            "service": func.coalesce(old.service, new.service),
        },
    )


_DELTA_KEYS = ("project", *(f.name for f in fields(TraceDelta)))
#: Per dialect: the upsert as the driver's SQL, and the order of its positional
#: parameters (None where the driver takes them by name).
_DRIVER_UPSERT: dict[str, tuple[str, tuple[str, ...] | None]] = {}


def _driver_upsert(dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    found = _DRIVER_UPSERT.get(dialect.name)
    if found is None:
        insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        compiled = _upsert(insert).compile(dialect=dialect, column_keys=list(_DELTA_KEYS))
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        found = _DRIVER_UPSERT[dialect.name] = (str(compiled), order)
    return found


def merge_summaries(session: Session, project: str, deltas: Sequence[TraceDelta]) -> None:
    """Fold each delta into its trace's summary, in the caller's transaction.

    The statement is compiled once per dialect and handed to the driver's
    ``executemany`` with plain values: building it and processing each row's
    parameters in SQLAlchemy cost several times the upsert itself (every column is a
    plain number, string or flag, which the drivers take as they are)."""
    if not deltas:
        return
    connection = session.connection()
    sql, order = _driver_upsert(connection.dialect)
    # A fixed order keeps concurrent PostgreSQL writers from deadlocking on row locks.
    # vars(), not asdict(): the fields are flat, and asdict's deep copy cost more than
    # the upsert itself. The rows go straight to the driver: SQLAlchemy's per-row
    # parameter processing cost as much again.
    rows = [{"project": project, **vars(d)} for d in sorted(deltas, key=lambda d: d.trace_id)]
    if order is None:
        connection.exec_driver_sql(sql, rows)
    else:
        connection.exec_driver_sql(sql, [tuple(row[k] for k in order) for row in rows])


def _where(project: str, f: TraceFilter) -> list:  # type: ignore[type-arg]
    t = TraceSummary
    clauses = [t.project == project]
    duration_ns = t.end_ns - t.start_ns
    for column, value in ((t.model, f.model), (t.user_id, f.user), (t.session_id, f.session),
                          (t.service, f.service), (t.api_key, f.api_key)):
        if value:
            clauses.append(column == value)
    if f.status == "error":
        clauses.append(t.error_count > 0)
    elif f.status == "ok":
        clauses.append(t.error_count == 0)
    if f.min_latency_ms is not None:
        clauses.append(duration_ns >= int(f.min_latency_ms * 1e6))
    if f.max_latency_ms is not None:
        clauses.append(duration_ns <= int(f.max_latency_ms * 1e6))
    if f.min_cost is not None:
        clauses.append(t.cost >= f.min_cost)
    if f.max_cost is not None:
        clauses.append(t.cost <= f.max_cost)
    if f.name:
        clauses.append(t.name.icontains(f.name, autoescape=True))
    if f.start_ms is not None:
        clauses.append(t.start_ns >= f.start_ms * 1_000_000)
    if f.end_ms is not None:
        clauses.append(t.start_ns < f.end_ms * 1_000_000)
    clauses.extend(_score_clause(c) for c in f.scores)
    return clauses


def search(session: Session, project: str, f: TraceFilter) -> tuple[list[TraceSummary], int]:
    """One page of matching traces, newest first, and how many match in all."""
    where = _where(project, f)
    total = session.scalar(select(func.count()).select_from(TraceSummary).where(*where)) or 0
    start = TraceSummary.start_ns if f.oldest_first else TraceSummary.start_ns.desc()
    query = (select(TraceSummary).where(*where)
             .order_by(start, TraceSummary.trace_id)
             .limit(f.limit).offset(f.offset))
    return list(session.scalars(query)), int(total)


def get(session: Session, project: str, trace_id: str) -> TraceSummary | None:
    return session.get(TraceSummary, (project, trace_id))


def distinct_values(session: Session, project: str, column: str, limit: int = 200) -> list[str]:
    """Values seen in one summary column, for the filter drop-downs of the UI."""
    col = getattr(TraceSummary, column)
    query = (select(col).where(TraceSummary.project == project, col.is_not(None))
             .distinct().order_by(col).limit(limit))
    return [v for v in session.scalars(query) if v]


def add_score(session: Session, score: TraceScore) -> TraceScore:
    session.add(score)
    session.flush()
    return score


def get_config(session: Session, project: str, name: str) -> ScoreConfig | None:
    return session.get(ScoreConfig, (project, name))


def put_config(session: Session, row: ScoreConfig) -> ScoreConfig:
    merged = session.merge(row)
    session.flush()
    return merged


def list_configs(session: Session, project: str) -> list[ScoreConfig]:
    return list(session.scalars(select(ScoreConfig).where(ScoreConfig.project == project)
                                .order_by(ScoreConfig.name)))


def delete_config(session: Session, project: str, name: str) -> bool:
    row = session.get(ScoreConfig, (project, name))
    if row is None:
        return False
    session.delete(row)
    return True


def scores_of(session: Session, project: str, trace_id: str) -> list[TraceScore]:
    query = (select(TraceScore)
             .where(TraceScore.project == project, TraceScore.trace_id == trace_id)
             .order_by(TraceScore.created_ms, TraceScore.id))
    return list(session.scalars(query))


def window(session: Session, project: str, start_ns: int, end_ns: int, limit: int) -> list[tuple]:  # type: ignore[type-arg]
    """(start_ns, duration_ns, error_count, model, api_key, tokens, cost) of traces started
    in ``[start_ns, end_ns)``, newest first, for dashboards."""
    t = TraceSummary
    query = (select(t.start_ns, t.end_ns - t.start_ns, t.error_count, t.model, t.api_key,
                    t.input_tokens + t.output_tokens, t.cost)
             .where(t.project == project, t.start_ns >= start_ns, t.start_ns < end_ns)
             .order_by(t.start_ns.desc()).limit(limit))
    return [tuple(r) for r in session.execute(query)]


@dataclass(frozen=True)
class GroupTotal:
    """What the traces sharing one user or one session add up to."""

    value: str
    traces: int
    errors: int
    first_ns: int
    last_ns: int
    input_tokens: int
    output_tokens: int
    cost: float


_GROUPABLE = {"user": TraceSummary.user_id, "session": TraceSummary.session_id}


def group_totals(session: Session, project: str, by: str, *, user: str | None = None,
                 value: str | None = None, limit: int = 50, offset: int = 0
                 ) -> tuple[list[GroupTotal], int]:
    """Per user or per session (``by``), most recently active first, and how many there
    are; ``user`` keeps one user's traces only (a user's sessions), ``value`` one group."""
    t = TraceSummary
    col = _GROUPABLE[by]
    where = [t.project == project, col.is_not(None)]
    if user is not None:
        where.append(t.user_id == user)
    if value is not None:
        where.append(col == value)
    total = session.scalar(select(func.count(func.distinct(col))).where(*where)) or 0
    query = (select(col, func.count(), func.coalesce(func.sum(case((t.error_count > 0, 1),
                                                                   else_=0)), 0),
                    func.min(t.start_ns), func.max(t.start_ns),
                    func.coalesce(func.sum(t.input_tokens), 0),
                    func.coalesce(func.sum(t.output_tokens), 0),
                    func.coalesce(func.sum(t.cost), 0.0))
             .where(*where).group_by(col).order_by(func.max(t.start_ns).desc(), col)
             .limit(limit).offset(offset))
    rows = [GroupTotal(value=v, traces=int(n), errors=int(e), first_ns=int(a), last_ns=int(b),
                       input_tokens=int(i), output_tokens=int(o), cost=float(c))
            for v, n, e, a, b, i, o, c in session.execute(query)]
    return rows, int(total)


def score_means(session: Session, project: str, *, user: str | None = None,
                trace_session: str | None = None) -> list[tuple[str, int, float]]:
    """(score name, how many, mean value) over the scores of one user's or one session's
    traces."""
    t, s = TraceSummary, TraceScore
    query = (select(s.name, func.count(), func.avg(s.value))
             .join(t, and_(t.project == s.project, t.trace_id == s.trace_id))
             .where(s.project == project).group_by(s.name).order_by(s.name))
    if user is not None:
        query = query.where(t.user_id == user)
    if trace_session is not None:
        query = query.where(t.session_id == trace_session)
    return [(name, int(n), float(mean)) for name, n, mean in session.execute(query)]


def delete_before(session: Session, project: str, before_ms: int) -> int:
    """Retention: drop the spans that started before ``before_ms``, and the summaries and
    scores of traces that ended before it; returns how many spans went."""
    old = select(TraceSummary.trace_id).where(TraceSummary.project == project,
                                              TraceSummary.end_ns < before_ms * 1_000_000)
    session.execute(delete(TraceScore).where(TraceScore.project == project,
                                             TraceScore.trace_id.in_(old)))
    session.execute(delete(TraceSummary).where(TraceSummary.project == project,
                                               TraceSummary.end_ns < before_ms * 1_000_000))
    return records.delete_before(session, project, SPAN, before_ms)
