"""Change-based ranking: the recent changes on or near the incident's entities.

A change scores by the product of four factors, each in (0, 1]:

* **time proximity** — ``0.5 ** (Δt / half_life)``, Δt from the change to the first signal;
* **topology distance** — ``1 / (1 + hops / 2)`` from the nearest affected entity (on the
  entity itself = 1, one hop = 2/3);
* **kind** — 1, or 1/2 for a change that created its entity (an endpoint deployed, a
  monitor created): an entity that did not exist before cannot have become worse than
  before, so a later change to it explains more;
* **history** — ``0.75 + 0.25 × followed / (similar + 1)``: earlier changes of the same
  kind on entities of the same type, and how many of them an incident near the changed
  entity followed within the lookback. No history leaves 0.75; it only raises the score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from triops.ops import changes
from triops.ops.causes._model import CausesConfig, ProbableCause
from triops.ops.topology import TopologyView
from triops.store.repos import incidents as incident_repo


@dataclass(frozen=True)
class _History:
    similar: int
    followed: int

    @property
    def factor(self) -> float:
        return 0.75 + 0.25 * self.followed / (self.similar + 1)


#: Kinds of change that bring their entity into being.
CREATIONS = frozenset({"endpoint.deployed", "monitor.created"})


def duration(ms: int) -> str:
    """``duration(600_000)`` → ``10 min``; ``duration(3_900_000)`` → ``1 h 05 min``."""
    seconds = max(ms, 0) // 1000
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _entity_type(view: TopologyView, entity: str) -> str:
    node = view.graph.nodes.get(entity)
    return node.type if node is not None else entity.partition(":")[0]


def _distances(view: TopologyView, subjects: Sequence[str], max_hops: int
               ) -> dict[str, tuple[int, str]]:
    """Entity → (hops, nearest subject), for everything within ``max_hops``."""
    out: dict[str, tuple[int, str]] = {}
    for subject in subjects:
        near = view.graph.within(subject, max_hops) or {subject: 0}
        for entity, hops in near.items():
            if entity not in out or hops < out[entity][0]:
                out[entity] = (hops, subject)
    return out


def _history(session: Session, project: str, view: TopologyView, change: changes.Change,
             incident_id: str, config: CausesConfig) -> _History:
    kind, entity_type = change.kind, _entity_type(view, change.entity)
    earlier = [c for c in changes.search(session, project,
                                         since_ms=change.time_ms - config.history_ms,
                                         until_ms=change.time_ms - 1,
                                         limit=config.history_limit * 5)
               if c.kind == kind and _entity_type(view, c.entity) == entity_type
               ][:config.history_limit]
    if not earlier:
        return _History(0, 0)
    opened = [i for i in incident_repo.opened_between(
        session, project, min(c.time_ms for c in earlier),
        max(c.time_ms for c in earlier) + config.lookback_ms) if i.id != incident_id]
    followed = 0
    for past in earlier:
        near = view.graph.within(past.entity, config.max_hops) or {past.entity: 0}
        if any(past.time_ms <= i.first_ms <= past.time_ms + config.lookback_ms
               and i.subject in near for i in opened):
            followed += 1
    return _History(len(earlier), followed)


def rank_changes(session: Session, project: str, view: TopologyView, incident_id: str,
                 subjects: Sequence[str], first_ms: int, config: CausesConfig
                 ) -> list[ProbableCause]:
    """The changes in the lookback before ``first_ms`` near ``subjects``, newest first."""
    near = _distances(view, subjects, config.max_hops)
    found = []
    for change in changes.search(session, project, since_ms=first_ms - config.lookback_ms,
                                 until_ms=first_ms):
        if change.entity not in near:
            continue
        hops, subject = near[change.entity]
        before = first_ms - change.time_ms
        history = _history(session, project, view, change, incident_id, config)
        novelty = 0.5 if change.kind in CREATIONS else 1.0
        score = (0.5 ** (before / config.half_life_ms) / (1 + hops / 2) * novelty
                 * history.factor)
        where = (f"on the affected {subject}" if hops == 0 else
                 f"on {change.entity}, {hops} hop{'s' if hops > 1 else ''} from the "
                 f"affected {subject}")
        evidence = f"{change.summary} {duration(before)} before the first signal, {where}"
        if history.similar:
            evidence += (f"; {history.followed} of {history.similar} earlier {change.kind} "
                         f"changes on a {_entity_type(view, change.entity)} were followed "
                         "by an incident near it")
        found.append(ProbableCause(entity=change.entity, kind=change.kind,
                                   score=round(score, 6), evidence=evidence,
                                   change_id=str(change.id)))
    return found
