"""Which active incident a signal of a new fingerprint belongs to, and why.

A signal relates to a member of an active incident when the two are close in time
(``Rules.window_ms``) and either name the same entity — the same subject, or the same
value of an identifying label (service, pod, container, endpoint, model, route,
host/instance), where
a subject ``service:checkout`` counts as ``service=checkout`` — or sit within
``Rules.max_hops`` of each other in the topology. A shared subject or label does not
count when the signal names a value of an identifying label listed before it that the
incident's members do not (two services on one host share the host, not the problem). Of all related members the strongest
relation wins (same entity before topology, fewer hops first), then the nearest in time.
The reason is kept as text on the member: "joined: same service `checkout`, 40 s apart".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

#: Labels that name what a signal is about, application entities first and the
#: infrastructure they share last (the weaker evidence).
IDENTITY_LABELS = ("service", "pod", "container", "endpoint", "model", "route", "host",
                   "instance")


class TopologyView(Protocol):
    """The graph of entities, over node keys equal to signal subjects."""

    def distance(self, a: str, b: str, max_hops: int = 2) -> int | None: ...

    def path(self, a: str, b: str, max_hops: int = 2) -> list[str] | None: ...


@dataclass(frozen=True)
class Rules:
    #: Signals further apart than this never join (measured to the member's first..last).
    window_ms: int = 10 * 60 * 1000
    #: Topology neighbours this many hops apart or closer join.
    max_hops: int = 2
    identity_labels: tuple[str, ...] = IDENTITY_LABELS
    #: A fingerprint that fires again this soon after its source resolved it reopens the
    #: incident instead of opening a new one.
    flap_window_ms: int = 30 * 60 * 1000
    #: Re-fires after which the incident is marked flapping (and no longer resolved by
    #: its source).
    flap_threshold: int = 3


DEFAULT_RULES = Rules()


@dataclass(frozen=True)
class Member:
    """What correlation needs to know of an active incident's member."""

    incident_id: str
    subject: str
    labels: Mapping[str, str]
    first_ms: int
    last_ms: int
    #: Values of identifying labels named by any live member of the same incident.
    incident_labels: Mapping[str, frozenset[str]] = field(default_factory=dict)


def incident_labels(members: Iterable[tuple[str, Mapping[str, str]]],
                    keys: Iterable[str] = IDENTITY_LABELS) -> dict[str, dict[str, frozenset[str]]]:
    """Per incident id, the values each identifying label takes among its members."""
    keys = tuple(keys)
    found: dict[str, dict[str, set[str]]] = {}
    for incident_id, labels in members:
        for key in keys:
            if labels.get(key):
                found.setdefault(incident_id, {}).setdefault(key, set()).add(str(labels[key]))
    return {i: {k: frozenset(v) for k, v in d.items()} for i, d in found.items()}


@dataclass(frozen=True)
class Join:
    incident_id: str
    reason: str
    #: Lower is stronger: (relation strength, milliseconds apart).
    rank: tuple[int, int]


def _entity(subject: str) -> tuple[str, str]:
    kind, _, name = subject.partition(":")
    return (kind, name) if name else ("subject", subject)


def identities(subject: str, labels: Mapping[str, str],
               keys: Iterable[str] = IDENTITY_LABELS) -> dict[tuple[str, str], int]:
    """The (label, value) pairs that identify what a signal is about, each with its order
    of preference (the subject's own entity first)."""
    keys = tuple(keys)
    found: dict[tuple[str, str], int] = {}
    kind, name = _entity(subject)
    if kind in keys:
        found[(kind, name)] = 0
        if kind == "model" and "@" in name:  # model:churn@champion is model churn too
            found.setdefault((kind, name.split("@", 1)[0]), 1)
    for order, key in enumerate(keys, start=2):
        value = str(labels.get(key, "")).strip()
        if value:
            found.setdefault((key, value), order)
            if key == "instance" and "host" in keys:  # instance "web-1:9100" runs on host web-1
                found.setdefault(("host", value.rsplit(":", 1)[0]), order + len(keys))
    return found


def _contradicted(key: str | None, mine: Mapping[str, str], member: Member, rules: Rules
                  ) -> bool:
    """Whether the signal's labels name a value of an identifying label listed before
    ``key`` (any, for None) that neither the member nor its incident names: two services
    on one host share the host, not the problem."""
    keys = rules.identity_labels
    for stronger in keys[:keys.index(key)] if key in keys else keys:
        theirs = set(member.incident_labels.get(stronger, ()))
        if member.labels.get(stronger):
            theirs.add(str(member.labels[stronger]))
        if mine.get(stronger) and theirs and str(mine[stronger]) not in theirs:
            return True
    return False


def apart_text(ms: int) -> str:
    seconds = round(ms / 1000)
    if seconds < 120:
        return f"{seconds} s apart"
    if seconds < 7200:
        return f"{round(seconds / 60)} min apart"
    return f"{seconds / 3600:.1f} h apart"


def relate(subject: str, labels: Mapping[str, str], time_ms: int, member: Member,
           rules: Rules = DEFAULT_RULES, topology: TopologyView | None = None) -> Join | None:
    """How a signal relates to one member, or None when it does not."""
    gap = max(member.first_ms - time_ms, time_ms - member.last_ms, 0)
    if gap > rules.window_ms:
        return None
    apart = apart_text(gap)
    if subject == member.subject and not _contradicted(None, labels, member, rules):
        kind, name = _entity(subject)
        return Join(member.incident_id, f"joined: same {kind} `{name}`, {apart}", (0, gap))
    mine = identities(subject, labels, rules.identity_labels)
    theirs = identities(member.subject, member.labels, rules.identity_labels)
    shared = sorted(set(mine) & set(theirs), key=lambda pair: (mine[pair] + theirs[pair], pair))
    shared = [pair for pair in shared if not _contradicted(pair[0], labels, member, rules)]
    if shared:
        key, value = shared[0]
        return Join(member.incident_id, f"joined: same {key} `{value}`, {apart}", (1, gap))
    if topology is None or rules.max_hops < 1:
        return None
    hops = topology.distance(member.subject, subject, rules.max_hops)
    if hops is None or hops > rules.max_hops:
        return None
    kind, name = _entity(member.subject)
    path = topology.path(member.subject, subject, rules.max_hops) or []
    via = f" via {' → '.join(path)}" if len(path) > 2 else ""
    unit = "hop" if hops == 1 else "hops"
    return Join(member.incident_id, f"joined: {hops} {unit} from {kind} `{name}`{via}, {apart}",
                (1 + hops, gap))


def best_join(subject: str, labels: Mapping[str, str], time_ms: int,
              members: Iterable[Member], rules: Rules = DEFAULT_RULES,
              topology: TopologyView | None = None) -> Join | None:
    joins = (relate(subject, labels, time_ms, m, rules, topology) for m in members)
    return min((j for j in joins if j is not None), key=lambda j: j.rank, default=None)
