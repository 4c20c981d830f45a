"""MLflow's search language: filter strings and ``order_by`` keys.

Filters are clauses joined by ``AND`` (any case)::

    metrics.rmse < 0.5 and params.alpha = '0.1' and tags.`team name` = 'x'
    attributes.status IN ('FINISHED', 'FAILED') AND attributes.run_name ILIKE '%cv%'

An identifier is ``<entity>.<key>`` where the entity is one of ``metrics``, ``params``,
``tags``, ``attributes`` (or MLflow's synonyms) and the key may be quoted with back
ticks or double quotes. A bare key (``name LIKE 'x%'``) is an attribute. Metric values
are numbers; everything else is a quoted string.
"""

from __future__ import annotations

import math
import re

from triops.core.errors import InvalidInput
from triops.store.repos.ml_search import (
    ATTRIBUTE,
    DATASET,
    METRIC,
    PARAM,
    TAG,
    Clause,
    SortKey,
)

_ENTITIES = {
    "metric": METRIC, "metrics": METRIC,
    "param": PARAM, "params": PARAM, "parameter": PARAM, "parameters": PARAM,
    "tag": TAG, "tags": TAG,
    "attribute": ATTRIBUTE, "attributes": ATTRIBUTE, "attr": ATTRIBUTE, "run": ATTRIBUTE,
    "dataset": DATASET, "datasets": DATASET,
}
_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")   # quoted string
    | (?P<bt>`[^`]*`)                                  # back-quoted key
    | (?P<op>!=|<>|<=|>=|=|<|>)
    | (?P<lp>\()
    | (?P<rp>\))
    | (?P<comma>,)
    | (?P<dot>\.)
    | (?P<word>[A-Za-z_][A-Za-z0-9_\-/:]*)
    | (?P<num>[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))
    )""", re.VERBOSE)
_NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise InvalidInput(f"Invalid filter '{text}': cannot parse near '{text[pos:pos + 20]}'")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    if raw[0] == "'":
        body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, what: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (what is not None and tok[0] != what):
            raise InvalidInput(f"Invalid filter '{self.text}': expected {what or 'more input'}")
        self.i += 1
        return tok

    def identifier(self) -> tuple[str, str]:
        kind, first = self.take()
        if kind in ("bt", "str"):
            return ATTRIBUTE, _unquote(first)
        if kind != "word":
            raise InvalidInput(f"Invalid filter '{self.text}': expected an identifier")
        nxt = self.peek()
        if nxt is None or nxt[0] != "dot":
            return ATTRIBUTE, first
        entity = _ENTITIES.get(first.lower())
        if entity is None:
            raise InvalidInput(
                f"Invalid entity type '{first}'. Valid values are "
                "['metric', 'parameter', 'tag', 'attribute', 'dataset']")
        self.take("dot")
        kind, raw = self.take()
        if kind in ("bt", "str"):
            return entity, _unquote(raw)
        if kind != "word":
            raise InvalidInput(f"Invalid filter '{self.text}': expected a key after '{first}.'")
        parts = [raw]
        # Unquoted keys may hold dots: tags.mlflow.source.type
        while self.peek() is not None and self.peek()[0] == "dot":  # type: ignore[index]
            self.take("dot")
            parts.append(self.take("word")[1])
        return entity, ".".join(parts)

    def comparator(self) -> str:
        kind, raw = self.take()
        if kind == "op":
            return "!=" if raw == "<>" else raw
        word = raw.upper() if kind == "word" else ""
        if word == "NOT":
            if self.take("word")[1].upper() != "IN":
                raise InvalidInput(f"Invalid filter '{self.text}': expected IN after NOT")
            return "NOT IN"
        if word in ("LIKE", "ILIKE", "IN"):
            return word
        raise InvalidInput(f"Invalid filter '{self.text}': '{raw}' is not a comparator")

    def value(self, entity: str, key: str, op: str) -> object:
        if op in ("IN", "NOT IN"):
            self.take("lp")
            items = [_unquote(self.take("str")[1])]
            while self.peek() is not None and self.peek()[0] == "comma":  # type: ignore[index]
                self.take("comma")
                items.append(_unquote(self.take("str")[1]))
            self.take("rp")
            return tuple(items)
        kind, raw = self.take()
        if kind == "num" and not math.isfinite(float(raw)):
            # 1e400 reads as infinity, which no stored number or timestamp compares with.
            raise InvalidInput(f"Invalid filter '{self.text}': {raw} is not a finite number")
        if entity == METRIC:
            if kind != "num":
                raise InvalidInput(
                    f"Expected numeric value type for metric. Found {raw}")
            return float(raw)
        if kind == "num" and entity == ATTRIBUTE:
            return raw  # numeric attributes (start_time...) are converted by the query
        if kind != "str":
            raise InvalidInput(
                f"Expected a quoted string value for {entity} '{key}'. Found {raw}")
        return _unquote(raw)

    def clauses(self) -> list[Clause]:
        out: list[Clause] = []
        if not self.toks:
            return out
        while True:
            entity, key = self.identifier()
            op = self.comparator()
            allowed = _NUMERIC_OPS if entity == METRIC else _STRING_OPS + _NUMERIC_OPS
            if op not in allowed:
                raise InvalidInput(f"Invalid comparator '{op}' for {entity} '{key}'")
            out.append(Clause(entity, key, op, self.value(entity, key, op)))
            nxt = self.peek()
            if nxt is None:
                return out
            if nxt[0] != "word" or nxt[1].upper() != "AND":
                raise InvalidInput(
                    f"Invalid filter '{self.text}': clauses must be joined by AND")
            self.take()


def parse_filter(text: str | None) -> list[Clause]:
    """Parse an MLflow filter string into clauses.

    >>> parse_filter("metrics.rmse < 0.5 and params.alpha = '0.1'")
    [Clause(entity='metric', key='rmse', op='<', value=0.5), \
Clause(entity='param', key='alpha', op='=', value='0.1')]
    """
    if not text or not text.strip():
        return []
    return _Parser(text).clauses()


def parse_order_by(items: list[str] | None) -> list[SortKey]:
    """``["metrics.rmse DESC", "start_time"]`` → sort keys (ascending unless DESC).

    >>> parse_order_by(["metrics.`val loss` desc"])
    [SortKey(entity='metric', key='val loss', ascending=False)]
    """
    out = []
    for item in items or []:
        text = item.strip()
        ascending = True
        m = re.search(r"\s+(asc|desc)$", text, re.IGNORECASE)
        if m:
            ascending = m.group(1).lower() == "asc"
            text = text[: m.start()]
        parser = _Parser(text)
        entity, key = parser.identifier()
        if parser.peek() is not None:
            raise InvalidInput(f"Invalid order_by clause '{item}'")
        out.append(SortKey(entity, key, ascending))
    return out
