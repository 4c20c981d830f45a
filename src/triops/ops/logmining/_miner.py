"""The online template miner: one pass, stable ids, serialisable state.

How a line finds its template
-----------------------------
1. The message is tokenised and masked (``_masking``): every token gets a grouping
   key (``<*>`` for a variable) and a display text.
2. **Exact key**: a line whose key sequence was seen before goes straight to the
   template it went to then (a dictionary lookup: the common case, and the fast one).
3. **Compatible template**: among templates with the same number of tokens (Drain's
   first layer), one whose every constant is present in the line, differing only
   where the template has already generalised. Several fit: the most specific wins.
4. **Variable evidence** (the "variables are where many values occur" rule, as in
   Brain and LogPPA's frequency analyses, made online): templates that differ from the
   line in exactly one constant position are siblings; once ``distinct`` different
   values have been seen at that one position, the siblings merge into the oldest,
   whose id survives, and the position becomes ``<*>``. With the default of three,
   two values alone are kept apart (``Starting``/``Ending``), a third proves a
   variable. The first ``prefix`` tokens (Drain's prefix layer: the first words
   usually name the event) need ``prefix_factor`` times the evidence.
5. **Similarity** (Drain's rule, for messages that differ in ``min_diff`` or more
   places at once): the template sharing the largest fraction of constants, when that
   fraction reaches ``similarity`` and the first ``prefix`` tokens agree.
6. Otherwise the line starts a new template.

Ids are never reused; a merged id keeps pointing at the template that absorbed it
(:meth:`TemplateMiner.resolve`), so an id handed out once always leads somewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields

from triops.core.errors import InvalidInput
from triops.ops.logmining._masking import WILDCARD, mask_timestamps, mask_token, tokenize

STATE_VERSION = 1


@dataclass(frozen=True)
class MinerConfig:
    """The miner's parameters: one set for every log source, chosen by leaving whole
    Loghub systems out (``bench/loghub.py --loso``)."""

    distinct: int = 3
    """Different values at one position that prove it a variable."""
    prefix: int = 1
    """Leading tokens that name the event (Drain's depth minus two)."""
    prefix_factor: int = 4
    """How many times the evidence a leading token needs."""
    similarity: float = 0.9
    """Fraction of shared constants for Drain's similarity rule."""
    min_diff: int = 2
    digit_words: bool = True
    """Masking: a word glued to digits (``ssh2``) is a variable."""
    timestamps: bool = True
    """Masking: dates and times written over several tokens are one variable."""
    max_content_chars: int = 10_000


@dataclass
class Template:
    """One template: per token position a grouping key and a display text."""

    id: int
    keys: list[str]
    shown: list[str]
    glue: list[str]
    count: int = 0

    _text: str | None = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> str:
        """The template as Loghub writes it, ``<*>`` for every variable."""
        if self._text is None:
            parts = []
            for key, shown, glue in zip(self.keys, self.shown, self.glue):
                if key == WILDCARD and WILDCARD not in shown:
                    shown = WILDCARD
                parts.append(shown + glue)
            self._text = "".join(parts).rstrip()
        return self._text


@dataclass(frozen=True)
class Match:
    """Where one line went: its template, and whether the line created it."""

    template_id: int
    template: str
    is_new: bool
    merged: tuple[int, ...] = field(default=())
    """Ids that this line's evidence merged into ``template_id``."""


class TemplateMiner:
    """Learns log templates one line at a time.

    >>> miner = TemplateMiner()
    >>> miner.add("Accepted password for root from 10.0.0.1 port 22 ssh2").is_new
    True
    >>> m = miner.add("Accepted password for root from 10.0.0.7 port 4711 ssh2")
    >>> m.is_new, m.template
    (False, 'Accepted password for root from <*> port <*> ssh2')
    """

    def __init__(self, config: MinerConfig | None = None) -> None:
        self.config = config or MinerConfig()
        self._templates: dict[int, Template] = {}
        self._by_length: dict[int, list[int]] = {}
        self._exact: dict[tuple[str, ...], int] = {}
        self._alias: dict[int, int] = {}
        self._cache: dict[str, tuple[str, str]] = {}
        self._next_id = 1

    # -- public face -------------------------------------------------------------

    @property
    def templates(self) -> list[Template]:
        """The live templates, oldest first."""
        return [self._templates[k] for k in sorted(self._templates)]

    def template(self, template_id: int) -> Template:
        """The live template that ``template_id`` is, or was merged into."""
        return self._templates[self.resolve(template_id)]

    def resolve(self, template_id: int) -> int:
        """The live id for ``template_id`` after every merge so far."""
        seen = 0
        while template_id in self._alias and seen < 1_000_000:
            template_id = self._alias[template_id]
            seen += 1
        return template_id

    def add(self, content: str) -> Match:
        """Mine one message; return its template."""
        if len(content) > self.config.max_content_chars:
            content = content[: self.config.max_content_chars]
        if self.config.timestamps:
            content = mask_timestamps(content)
        tokens, glue = tokenize(content)
        cache = self._cache
        pairs = [cache.get(t) or self._mask(t) for t in tokens]
        keys = tuple(k for k, _ in pairs)
        tid = self._exact.get(keys)
        if tid is not None:
            live = self.resolve(tid)
            if live != tid:
                self._exact[keys] = live
            tpl = self._templates[live]
            self._absorb(tpl, pairs)
            return Match(live, tpl.text, False)
        found, merged = self._find(keys)
        if found is not None:
            self._absorb(found, pairs)
            self._exact[keys] = found.id
            return Match(found.id, found.text, False, merged)
        tpl = Template(self._next_id, list(keys), [s for _, s in pairs], glue, 1)
        self._next_id += 1
        self._templates[tpl.id] = tpl
        self._by_length.setdefault(len(keys), []).append(tpl.id)
        self._exact[keys] = tpl.id
        return Match(tpl.id, tpl.text, True)

    def add_many(self, contents: Iterable[str]) -> list[Match]:
        return [self.add(c) for c in contents]

    # -- state -------------------------------------------------------------------

    def to_state(self) -> dict:
        """A JSON-ready snapshot: templates, counts, merged ids, parameters."""
        return {
            "version": STATE_VERSION,
            "config": asdict(self.config),
            "next_id": self._next_id,
            "templates": [
                {"id": t.id, "keys": t.keys, "shown": t.shown, "glue": t.glue, "count": t.count}
                for t in self.templates
            ],
            "aliases": {str(k): v for k, v in sorted(self._alias.items())},
        }

    @classmethod
    def from_state(cls, state: dict) -> TemplateMiner:
        """Rebuild a miner from :meth:`to_state`'s snapshot; ids stay the same."""
        try:
            if state.get("version") != STATE_VERSION:
                raise InvalidInput(
                    f"The miner state has version {state.get('version')!r}; "
                    f"this triops reads version {STATE_VERSION}."
                )
            known_fields = {f.name for f in fields(MinerConfig)}
            config = {k: v for k, v in state.get("config", {}).items() if k in known_fields}
            miner = cls(MinerConfig(**config))
            for t in state["templates"]:
                tpl = Template(
                    int(t["id"]),
                    list(t["keys"]),
                    list(t["shown"]),
                    list(t["glue"]),
                    int(t["count"]),
                )
                if not (len(tpl.keys) == len(tpl.shown) == len(tpl.glue)):
                    raise ValueError("template fields differ in length")
                miner._templates[tpl.id] = tpl
                miner._by_length.setdefault(len(tpl.keys), []).append(tpl.id)
                miner._exact.setdefault(tuple(tpl.keys), tpl.id)
            miner._alias = {int(k): int(v) for k, v in state.get("aliases", {}).items()}
            known = set(miner._templates) | set(miner._alias)
            miner._next_id = max(int(state.get("next_id", 1)), max(known, default=0) + 1)
        except InvalidInput:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(
                f"The miner state is not valid ({exc.__class__.__name__}: {exc}); "
                "use a file written by triops, or start without one."
            ) from None
        return miner

    # -- internals ---------------------------------------------------------------

    def _mask(self, token: str) -> tuple[str, str]:
        hit = self._cache.get(token)
        if hit is None:
            hit = mask_token(token, self.config.digit_words)
            if len(self._cache) < 200_000:
                self._cache[token] = hit
        return hit

    def _diff(self, tpl: Template, keys: tuple[str, ...]) -> tuple[int, int, int]:
        """``(constants shared, constants differing, first differing position)``.

        ``-1`` differing positions: a difference in the prefix that similarity may
        not bridge.
        """
        shared = diff = 0
        first = -1
        for i, (a, b) in enumerate(zip(tpl.keys, keys)):
            if a == b:
                if a != WILDCARD:
                    shared += 1
            elif a != WILDCARD:
                diff += 1
                if first < 0:
                    first = i
        if diff > 1 and 0 <= first < self.config.prefix:
            return shared, -1, first
        return shared, diff, first

    def _find(self, keys: tuple[str, ...]) -> tuple[Template | None, tuple[int, ...]]:
        cfg = self.config
        best, best_shared = None, 0
        near, near_sim = None, -1.0
        siblings: dict[int, list[Template]] = {}
        for cid in self._by_length.get(len(keys), ()):
            c = self._templates[cid]
            shared, diff, pos = self._diff(c, keys)
            if shared == 0 or diff < 0:
                continue
            if diff == 0:
                if shared > best_shared:
                    best, best_shared = c, shared
                continue
            if diff == 1:
                siblings.setdefault(pos, []).append(c)
            if diff >= cfg.min_diff:
                sim = shared / (shared + diff)
                if sim > near_sim:
                    near, near_sim = c, sim
        if best is not None:
            return best, ()
        for pos, group in siblings.items():
            needed = cfg.distinct * (cfg.prefix_factor if pos < cfg.prefix else 1)
            if len(group) + 1 >= needed:
                keep = min(group, key=lambda t: t.id)
                merged = tuple(sorted(o.id for o in group if o is not keep))
                for oid in merged:
                    self._merge(keep, self._templates[oid])
                keep.keys[pos] = WILDCARD
                keep._text = None
                return keep, merged
        if near is not None and near_sim >= cfg.similarity:
            return near, ()
        return None, ()

    def _merge(self, keep: Template, other: Template) -> None:
        keep.count += other.count
        for i, (a, b) in enumerate(zip(keep.keys, other.keys)):
            if a != b:
                keep.keys[i] = WILDCARD
            if keep.shown[i] != other.shown[i]:
                keep.shown[i] = generalise(keep.shown[i], other.shown[i])
        keep._text = None
        self._alias[other.id] = keep.id
        del self._templates[other.id]
        self._by_length[len(other.keys)].remove(other.id)

    def _absorb(self, tpl: Template, pairs: list[tuple[str, str]]) -> None:
        tpl.count += 1
        tk, ts = tpl.keys, tpl.shown
        for i, (key, shown) in enumerate(pairs):
            if ts[i] != shown:
                if tk[i] != key:
                    tk[i] = WILDCARD
                ts[i] = generalise(ts[i], shown)
                tpl._text = None
            elif tk[i] != key:
                tk[i] = WILDCARD
                tpl._text = None


_OPENERS = "=:([{'\"/@#_"
_CLOSERS = frozenset(")]}'\",;:.")


def generalise(a: str, b: str) -> str:
    """One display text for a position seen as ``a`` and as ``b``: a wildcard that
    keeps the separators and brackets both share.

    >>> generalise("()", "(host.example.org)"), generalise("rhost=<*>", "rhost=a.b")
    ('(<*>)', 'rhost=<*>')
    >>> generalise("root", "admin")
    '<*>'
    """
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    head = a[:i]
    cut = max(head.rfind(c) for c in _OPENERS)
    head = head[: cut + 1] if cut >= 0 else ""
    ra, rb = a[len(head) :], b[len(head) :]
    k = 0
    while k < min(len(ra), len(rb)) and ra[-1 - k] == rb[-1 - k] and ra[-1 - k] in _CLOSERS:
        k += 1
    return head + WILDCARD + (ra[len(ra) - k :] if k else "")
