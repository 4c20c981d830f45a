"""Annotation queues: traces picked by a filter wait for reviewers, who answer each with
a score of the queue's score config, may correct the output, or skip it.

A queue's filter holds trace-list filters (``model``, ``user``, ``session``, ``service``,
``name``, ``status``), score conditions (``score``: ``["judge<0.5", "thumbs=false"]``,
see ``triops.llm.scores``), ``since_ms``, and ``sample_rate`` (keep that share of the
matching traces, decided by the trace id, so refilling keeps the same ones). Filling adds
the matching traces not in the queue yet. Answers become scores on the traces
(``source="human"``, by the reviewer); corrected outputs become dataset cases on request.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from triops.core.errors import Conflict, InvalidInput, NotFound
from triops.core.ids import now_ms
from triops.llm import scores
from triops.llm.evals.datasets import cases_from_traces
from triops.llm.tracing import TraceFilter, add_score, list_traces
from triops.store.repos import annotations as repo
from triops.store.repos import evals as eval_repo
from triops.store.repos.evals import CaseData
from triops.store.schema_annotations import AnnotationItem, AnnotationQueue

FILTER_KEYS = {"model", "user", "session", "service", "name", "status", "score", "since_ms",
               "sample_rate"}
MAX_FILL = 10_000
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_PAGE = 500


@dataclass(frozen=True)
class ItemView:
    """An item with what a reviewer reads: the conversation and the answer given."""

    item: AnnotationItem
    messages: list[Any]
    output: str | None


def _trace_filter(spec: dict[str, Any], limit: int, offset: int) -> TraceFilter:
    conditions = tuple(scores.parse_condition(c) for c in spec.get("score", []))
    return TraceFilter(
        model=spec.get("model"), user=spec.get("user"), session=spec.get("session"),
        service=spec.get("service"), name=spec.get("name"), status=spec.get("status"),
        start_ms=spec.get("since_ms"), scores=conditions, limit=limit, offset=offset)


def check_filter(spec: dict[str, Any]) -> dict[str, Any]:
    unknown = set(spec) - FILTER_KEYS
    if unknown:
        raise InvalidInput(f"unknown filter key(s) {', '.join(sorted(unknown))}; known: "
                           f"{', '.join(sorted(FILTER_KEYS))}")
    for key in ("model", "user", "session", "service", "name"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise InvalidInput(f"filter {key!r} must be text")
    if spec.get("status") not in (None, "ok", "error"):
        raise InvalidInput("filter 'status' is 'ok' or 'error'")
    score = spec.get("score", [])
    if not isinstance(score, list) or not all(isinstance(c, str) for c in score):
        raise InvalidInput("filter 'score' is a list of conditions such as 'judge<0.5'")
    rate = spec.get("sample_rate", 1.0)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
        raise InvalidInput("filter 'sample_rate' is a number in (0, 1]")
    since = spec.get("since_ms")
    if since is not None and (isinstance(since, bool) or not isinstance(since, int)
                              or not 0 <= since < 2**53):
        raise InvalidInput("filter 'since_ms' is a time in ms since the epoch")
    _trace_filter(spec, 1, 0)  # the score conditions parse
    return dict(spec)


def create_queue(session: Session, project: str, name: str, *, score_name: str,
                 filter: dict[str, Any], description: str = "", actor: str = ""
                 ) -> AnnotationQueue:
    scores.get_config(session, project, score_name)  # reviewers answer in its terms
    return repo.create_queue(session, AnnotationQueue(
        project=project, name=name, description=description, filter=check_filter(filter),
        score_name=score_name, created_by=actor, created_ms=now_ms()))


def _sampled(trace_id: str, rate: float) -> bool:
    # The trace id is random already: its first 32 bits are a uniform draw.
    return rate >= 1 or int(trace_id[:8], 16) < rate * 2**32


def fill(session: Session, project: str, name: str, limit: int = 1000) -> int:
    """Add up to ``limit`` matching traces not in the queue yet; how many were added."""
    if not 1 <= limit <= MAX_FILL:
        raise InvalidInput(f"limit must be between 1 and {MAX_FILL}")
    queue = repo.get_queue(session, project, name)
    known = repo.known_traces(session, project, name)
    rate = float(queue.filter.get("sample_rate", 1.0))
    found: list[str] = []
    offset = 0
    while len(found) < limit:
        page, total = list_traces(session, project, _trace_filter(queue.filter, _PAGE, offset))
        found.extend(t.trace_id for t in page
                     if t.trace_id not in known and _sampled(t.trace_id, rate))
        offset += _PAGE
        if offset >= total or not page:
            break
    now = now_ms()
    return repo.add_items(session, [AnnotationItem(
        project=project, queue=name, trace_id=t, status="pending", comment="",
        exported=False, created_ms=now) for t in found[:limit]])


def assign(session: Session, project: str, name: str, reviewers: list[str]) -> dict[str, int]:
    """Share the unassigned pending items among ``reviewers``, in turn."""
    repo.get_queue(session, project, name)
    if not reviewers or any(not r.strip() for r in reviewers):
        raise InvalidInput("name at least one reviewer")
    shares = dict.fromkeys(reviewers, 0)
    for n, item in enumerate(repo.unassigned(session, project, name)):
        who = reviewers[n % len(reviewers)]
        item.assignee = who
        shares[who] += 1
    session.flush()
    return shares


def view(session: Session, project: str, item: AnnotationItem) -> ItemView:
    try:
        (case,) = cases_from_traces(session, project, [item.trace_id])
    except NotFound:
        return ItemView(item, [], None)
    messages = case.inputs.get("messages")
    if not isinstance(messages, list):  # a prompt's variables: shown as one input
        messages = [{"role": "input", "content": case.inputs}]
    return ItemView(item, [_readable(m) for m in messages], case.expected)


def _readable(message: Any) -> dict[str, str]:
    """A message as a reviewer reads it: its role and its content as text."""
    if not isinstance(message, dict):
        return {"role": "input", "content": json.dumps(message, ensure_ascii=False)}
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    elif not isinstance(content, str):
        content = json.dumps(content, ensure_ascii=False)
    return {"role": str(message.get("role", "user")), "content": content}


def next_item(session: Session, project: str, name: str, reviewer: str) -> ItemView | None:
    repo.get_queue(session, project, name)
    item = repo.next_for(session, project, name, reviewer)
    return None if item is None else view(session, project, item)


def answer(session: Session, project: str, name: str, item_id: int, *, reviewer: str,
           skip: bool = False, value: Any = None, correction: str | None = None,
           comment: str = "") -> AnnotationItem:
    """Score (and maybe correct) an item, or skip it. The score lands on the trace."""
    queue = repo.get_queue(session, project, name)
    item = repo.get_item(session, project, name, item_id)
    if item.status != "pending":
        raise Conflict(f"item {item_id} is {item.status} already")
    if item.assignee not in (None, reviewer):
        raise Conflict(f"item {item_id} is assigned to {item.assignee}")
    item.reviewer, item.done_ms, item.comment = reviewer, now_ms(), comment
    if skip:
        item.status = "skipped"
    else:
        if value is None:
            raise InvalidInput(f"answer with a value of score {queue.score_name!r}, or skip")
        score = add_score(session, project, item.trace_id, name=queue.score_name, value=value,
                          comment=comment, source="human", actor=reviewer)
        item.status = "done"
        item.value = score.string_value if score.string_value is not None else f"{score.value:g}"
        item.correction = correction if correction and correction.strip() else None
    session.flush()
    return item


def get_queue(session: Session, project: str, name: str) -> AnnotationQueue:
    return repo.get_queue(session, project, name)


def list_queues(session: Session, project: str) -> list[AnnotationQueue]:
    return repo.list_queues(session, project)


def progress(session: Session, project: str, name: str) -> dict[str, dict[str, int]]:
    """Items by status, overall (``"*"``) and per reviewer."""
    return repo.progress(session, project, name)


def items(session: Session, project: str, name: str, limit: int = 500) -> list[AnnotationItem]:
    return repo.items(session, project, name, limit)


def to_dataset(session: Session, project: str, name: str, dataset: str, actor: str
               ) -> tuple[int, int]:
    """Corrected items not yet in a dataset become cases of ``dataset`` (created when
    new), the corrected output expected, in one new version: ``(version, cases)``."""
    repo.get_queue(session, project, name)
    if not DATASET_NAME.match(dataset):
        raise InvalidInput("a dataset name is letters, digits, '_', '.' and '-' (at most "
                           "128), starting with a letter or digit")
    items = repo.corrected_unexported(session, project, name)
    if not items:
        raise Conflict(f"queue {name!r} has no corrected item that is not in a dataset yet")
    found = cases_from_traces(session, project, [i.trace_id for i in items])
    cases = [CaseData(c.inputs, i.correction, {**c.metadata, "annotation_queue": name,
                                                "reviewer": i.reviewer or ""}, c.source)
             for c, i in zip(found, items, strict=True)]
    target = eval_repo.find_dataset(session, project, dataset) or eval_repo.create_dataset(
        session, project, dataset, "", actor)
    eval_repo.add_cases(session, target, cases,
                        f"{len(cases)} correction(s) from annotation queue {name}", actor)
    for item in items:
        item.exported = True
    session.flush()
    return target.version, len(cases)
