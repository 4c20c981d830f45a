"""Reading traces back: the filtered list, one trace as a span tree, and scores."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput, NotFound
from triops.core.ids import now_ms
from triops.llm import scores
from triops.llm.spans import Span
from triops.llm.tracing._store import SPAN, span_from_data
from triops.store import records
from triops.store.repos import llm_traces as repo
from triops.store.repos.llm_traces import TraceFilter
from triops.store.schema_llm_traces import TraceScore, TraceSummary

SCORE_SOURCES = ("human", "llm", "code")


@dataclass(frozen=True)
class Trace:
    trace_id: str
    name: str
    start_ns: int
    end_ns: int
    span_count: int
    error_count: int
    model: str | None
    input_tokens: int
    output_tokens: int
    cost: float
    user_id: str | None
    session_id: str | None
    api_key: str | None
    service: str | None

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @property
    def start_ms(self) -> int:
        return self.start_ns // 1_000_000

    @property
    def status(self) -> str:
        return "ERROR" if self.error_count else "OK"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Score:
    id: int
    trace_id: str
    span_id: str | None
    name: str
    value: float
    comment: str
    source: str
    actor: str
    created_ms: int
    #: ``numeric``, ``boolean`` or ``categorical`` (see ``triops.llm.scores``).
    data_type: str = "numeric"
    #: A category's label or ``true``/``false``; None for a number.
    string_value: str | None = None

    @property
    def shown(self) -> str:
        """The value as people read it: the label, or the number."""
        return self.string_value if self.string_value is not None else f"{self.value:g}"


@dataclass(frozen=True)
class SpanNode:
    """A span placed in its trace's tree: depth for indentation, children's ids for links."""

    span: Span
    depth: int
    children: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TraceDetail:
    trace: Trace
    spans: list[SpanNode]
    scores: list[Score]


def _trace(row: TraceSummary) -> Trace:
    return Trace(
        trace_id=row.trace_id, name=row.name, start_ns=row.start_ns, end_ns=row.end_ns,
        span_count=row.span_count, error_count=row.error_count, model=row.model,
        input_tokens=row.input_tokens, output_tokens=row.output_tokens, cost=row.cost,
        user_id=row.user_id, session_id=row.session_id, api_key=row.api_key,
        service=row.service,
    )


def _score(row: TraceScore) -> Score:
    return Score(id=row.id, trace_id=row.trace_id, span_id=row.span_id, name=row.name,
                 value=row.value, comment=row.comment, source=row.source, actor=row.actor,
                 created_ms=row.created_ms, data_type=row.data_type,
                 string_value=row.string_value)


def list_traces(session: Session, project: str, f: TraceFilter) -> tuple[list[Trace], int]:
    rows, total = repo.search(session, project, f)
    return [_trace(r) for r in rows], total


def tree_order(spans: list[Span]) -> list[SpanNode]:
    """Depth-first order, children by start time; orphans (parent not here) become roots."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[Span]] = {}
    for s in spans:
        parent = s.parent_span_id if s.parent_span_id in ids else None
        children.setdefault(parent, []).append(s)
    for group in children.values():
        group.sort(key=lambda s: (s.start_ns, s.span_id))
    out: list[SpanNode] = []
    stack = [(s, 0) for s in reversed(children.get(None, []))]
    seen: set[str] = set()
    while stack:
        span, depth = stack.pop()
        if span.span_id in seen:  # a repeated span id must not loop the walk
            continue
        seen.add(span.span_id)
        kids = children.get(span.span_id, [])
        out.append(SpanNode(span=span, depth=depth, children=[k.span_id for k in kids]))
        stack.extend((k, depth + 1) for k in reversed(kids))
    return out


def get_trace(session: Session, project: str, trace_id: str) -> TraceDetail:
    row = repo.get(session, project, trace_id.lower())
    if row is None:
        raise NotFound(f"trace {trace_id!r} does not exist in project {project!r}")
    spans = [span_from_data(r.data) for r in records.scan(session, project, SPAN,
                                                          streams=[row.trace_id])]
    scores = [_score(s) for s in repo.scores_of(session, project, row.trace_id)]
    return TraceDetail(trace=_trace(row), spans=tree_order(spans), scores=scores)


def add_score(
    session: Session, project: str, trace_id: str, *, name: str, value: float | bool | str,
    comment: str = "", source: str = "human", actor: str = "", span_id: str | None = None,
) -> Score:
    """Attach a score or a piece of user feedback to a stored trace.

    ``value`` is a number, a boolean or a category's label, checked against the score
    config of ``name`` when there is one (``triops.llm.scores``)."""
    if source not in SCORE_SOURCES:
        raise InvalidInput(f"score source must be one of {', '.join(SCORE_SOURCES)}, got {source!r}")
    if repo.get(session, project, trace_id) is None:
        raise NotFound(f"trace {trace_id!r} does not exist in project {project!r}")
    fit = scores.typed(session, project, name, value)
    row = repo.add_score(session, TraceScore(
        project=project, trace_id=trace_id, span_id=span_id, name=name, value=fit.value,
        data_type=fit.data_type, string_value=fit.label, comment=comment, source=source,
        actor=actor, created_ms=now_ms(),
    ))
    return _score(row)
