"""Log lines: storage, online template mining per stream, and the signals they raise.

Every line is stored through the append-only record interface (kind ``log``, stream =
the service name) with its severity, body, attributes, trace and span ids and the id of
the template the stream's miner put it in. The miner and a per-template rate tracker
are kept per stream in the store and advance in the same transaction as the lines.

Signals (subject ``service:<stream>``):

* ``log_template_new`` when a line creates a template, once the stream has seen
  :data:`NEW_TEMPLATE_WARMUP` lines (before that every line is "new"); all new
  templates of a stream fold into one incident;
* ``log_rate_jump`` when a template's count in a :data:`RATE_WINDOW_S` window jumps
  far above its history (labels: ``template``), see
  :class:`triops.ops.logmining.RateTracker`.

Bodies longer than :data:`MAX_BODY_CHARS` are stored cut to that length, with the
original length kept in ``truncated``; the miner reads the first 10,000 characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from triops.core.baselines import EwmaBaseline
from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.core.signals import Pillar, Severity, Signal
from triops.ops.incidents import ingest
from triops.ops.logmining import RateTracker, TemplateMiner, event_id
from triops.store import records
from triops.store.repos import ops as repo

LOG = "log"
MAX_BODY_CHARS = 65_536
NEW_TEMPLATE_WARMUP = 1_000
RATE_WINDOW_S = 60.0
#: Empty windows closed one by one at most; a longer silence counts as one empty window.
MAX_SKIPPED_WINDOWS = 1_440
NEW_TEMPLATE = "log_template_new"
RATE_JUMP = "log_rate_jump"
_STREAM = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


@dataclass(frozen=True)
class LogLine:
    stream: str
    ts_ms: int
    body: str
    severity: str = ""
    attributes: Mapping[str, object] = field(default_factory=dict)
    trace_id: str = ""
    span_id: str = ""
    #: The message part to mine (a log format's ``<Content>``); the body when None.
    content: str | None = None


@dataclass
class LogReport:
    accepted: int = 0
    truncated: int = 0
    new_templates: int = 0
    signals: int = 0


@dataclass(frozen=True)
class TemplateInfo:
    stream: str
    template_id: int
    template: str
    count: int
    first_ms: int | None
    last_ms: int | None

    @property
    def event_id(self) -> str:
        return event_id(self.template_id)


def check_stream(name: str) -> str:
    if not _STREAM.match(name or ""):
        raise InvalidInput(
            f"log stream {name[:80]!r} is not valid: 1 to 200 characters, no control characters"
        )
    return name


def ingest_lines(session: Session, project: str, lines: Sequence[LogLine]) -> LogReport:
    """Store, mine and signal ``lines`` in the caller's transaction.

    Everything is validated before anything is written: a bad stream name or a
    negative timestamp raises :class:`InvalidInput`.
    """
    groups: dict[str, list[LogLine]] = {}
    for line in lines:
        check_stream(line.stream)
        if line.ts_ms < 0:
            raise InvalidInput(f"log line time {line.ts_ms} is negative")
        groups.setdefault(line.stream, []).append(line)
    report = LogReport()
    for stream in sorted(groups):  # one lock order for every writer
        _ingest_stream(session, project, stream, groups[stream], report)
    return report


def _ingest_stream(
    session: Session, project: str, stream: str, lines: list[LogLine], report: LogReport
) -> None:
    row = repo.lock_stream(session, project, stream)
    miner = TemplateMiner.from_state(row.miner) if row.miner else TemplateMiner()
    tracker = _tracker_from(row.rates)
    seen: dict[str, list[int]] = dict(row.seen)
    subject = f"service:{stream}"
    rows: list[records.RecordRow] = []
    # The rate tracker's windows need time order; mining order follows it too.
    for line in sorted(lines, key=lambda item: item.ts_ms):
        body = line.body
        data: dict[str, object] = {"body": body}
        if len(body) > MAX_BODY_CHARS:
            data = {"body": body[:MAX_BODY_CHARS], "truncated": len(body)}
            report.truncated += 1
        match = miner.add(line.content if line.content is not None else body)
        tid = match.template_id
        first_last = seen.get(str(tid))
        seen[str(tid)] = (
            [line.ts_ms, line.ts_ms] if first_last is None
            else [min(first_last[0], line.ts_ms), max(first_last[1], line.ts_ms)]
        )
        if match.is_new:
            report.new_templates += 1
            if row.lines >= NEW_TEMPLATE_WARMUP:
                _signal(session, project, report, Signal(
                    source=Pillar.ops, kind=NEW_TEMPLATE, subject=subject,
                    severity=Severity.info, value=float(tid), time_ms=line.ts_ms,
                    summary=f"new log template {event_id(tid)} on {stream}: {match.template[:200]}",
                ))
        for jump in _observe(tracker, tid, line.ts_ms / 1000.0):
            live = miner.resolve(jump.template_id)
            _signal(session, project, report, Signal(
                source=Pillar.ops, kind=RATE_JUMP, subject=subject, severity=Severity.warning,
                value=float(jump.count), time_ms=int(jump.window_start * 1000),
                labels={"template": event_id(live)},
                summary=(f"log template {event_id(live)} on {stream}: {jump.count} lines in "
                         f"{RATE_WINDOW_S:g} s, usually {jump.baseline:.1f}"),
            ))
        row.lines += 1
        data.update({"template": tid, "severity": line.severity[:32]})
        if line.attributes:
            data["attributes"] = dict(line.attributes)
        if line.trace_id:
            data["trace_id"] = line.trace_id
        if line.span_id:
            data["span_id"] = line.span_id
        rows.append(records.RecordRow(stream, line.ts_ms, data))
    records.append(session, project, LOG, rows)
    report.accepted += len(rows)
    row.miner = miner.to_state()
    row.rates = _tracker_state(tracker)
    row.seen = seen
    row.updated_ms = now_ms()
    session.flush()


def _signal(session: Session, project: str, report: LogReport, signal: Signal) -> None:
    ingest(session, project, signal)
    report.signals += 1


# RateTracker has no state API of its own; its few attributes are plain numbers and
# dicts, saved and restored here so a restarted server keeps each template's history.
def _tracker_state(tracker: RateTracker) -> dict:
    return {
        "window": tracker.window, "start": tracker._start,
        "counts": {str(k): v for k, v in tracker._counts.items()},
        "history": {str(k): [h.mean, h.windows] for k, h in tracker._history.items()},
    }


def _observe(tracker: RateTracker, template_id: int, seconds: float) -> list:
    """Count one line; a jump of more than :data:`MAX_SKIPPED_WINDOWS` windows ahead
    (a quiet night, a bogus timestamp) closes the current window once and moves on,
    instead of closing every empty window in between one by one."""
    start = tracker._start
    if start is not None and seconds >= start + tracker.window * MAX_SKIPPED_WINDOWS:
        jumps = tracker.flush()
        tracker._start = seconds - (seconds % tracker.window)
        return jumps + tracker.observe(template_id, seconds)
    return tracker.observe(template_id, seconds)


def _tracker_from(state: Mapping[str, object]) -> RateTracker:
    tracker = RateTracker(window=RATE_WINDOW_S)
    if not state:
        return tracker
    start = state.get("start")
    tracker._start = float(start) if isinstance(start, (int, float)) else None
    tracker._counts = {int(k): int(v) for k, v in dict(state.get("counts", {})).items()}
    tracker._history = {
        int(k): EwmaBaseline(float(mean), int(windows))
        for k, (mean, windows) in dict(state.get("history", {})).items()
    }
    return tracker


# -- queries ------------------------------------------------------------------------


def templates(session: Session, project: str, stream: str | None = None) -> list[TemplateInfo]:
    """Live templates per stream, most frequent first, with first and last time seen."""
    rows = [repo.get_stream(session, project, stream)] if stream else repo.list_streams(
        session, project)
    out: list[TemplateInfo] = []
    for row in rows:
        if row is None or not row.miner:
            continue
        miner = TemplateMiner.from_state(row.miner)
        spans: dict[int, list[int]] = {}
        for tid, (first, last) in row.seen.items():
            live = miner.resolve(int(tid))
            old = spans.get(live)
            spans[live] = [first, last] if old is None else [min(old[0], first), max(old[1], last)]
        for tpl in miner.templates:
            first, last = spans.get(tpl.id, [None, None])
            out.append(TemplateInfo(row.stream, tpl.id, tpl.text, tpl.count, first, last))
    out.sort(key=lambda t: (t.stream, -t.count, t.template_id))
    return out


def parse_template_id(text: str) -> int:
    raw = text[1:] if text[:1] in ("E", "e") else text
    if not raw.isdigit():
        raise InvalidInput(f"template {text!r} is not a template id like 'E12' or '12'")
    return int(raw)


@dataclass(frozen=True)
class StoredLine:
    stream: str
    ts_ms: int
    data: Mapping[str, object]
    #: The live template id: the one the line was mined into, after later merges.
    template_id: int


def query_lines(
    session: Session, project: str, *, stream: str | None = None, template: str | None = None,
    start_ms: int | None = None, end_ms: int | None = None, limit: int = 1000,
    scan_limit: int = 200_000,
) -> list[StoredLine]:
    """Lines in time order; ``template`` (id, merged ids included) needs ``stream``.

    The template filter reads at most ``scan_limit`` lines of the range.
    """
    target: int | None = None
    if template is not None:
        if not stream:
            raise InvalidInput("filtering by template needs a stream: template ids are per stream")
        target = parse_template_id(template)
    miners: dict[str, TemplateMiner | None] = {}

    def live(stream_name: str, tid: int) -> int:
        if stream_name not in miners:
            row = repo.get_stream(session, project, stream_name)
            miners[stream_name] = TemplateMiner.from_state(row.miner) if row and row.miner else None
        miner = miners[stream_name]
        return miner.resolve(tid) if miner is not None else tid

    if target is not None:
        assert stream is not None
        target = live(stream, target)
    scanned = records.scan(
        session, project, LOG, streams=[stream] if stream else None, start_ms=start_ms,
        end_ms=end_ms, limit=limit if target is None else scan_limit,
    )
    out = []
    for rec in scanned:
        tid = live(rec.stream, int(rec.data.get("template", 0)))
        if target is None or tid == target:
            out.append(StoredLine(rec.stream, rec.ts_ms, rec.data, tid))
            if len(out) >= limit:
                break
    return out
