"""Refuses hostile values at the edge, before any handler or database sees them.

Python reads JSON more generously than triops can keep it: integers of any size,
``NaN`` and ``1e400`` (infinity), NUL characters, lone UTF-16 surrogates (``"\\ud800"``)
and nesting as deep as the interpreter's stack. Each of those either cannot be stored
(PostgreSQL text has no NUL, a 64-bit column no larger integer, UTF-8 no surrogate) or
breaks code downstream (``int(inf)``, recursion). One check here, on every JSON body and
every path and query string, answers them all with a 400 that names the field, instead
of a 500 from wherever the value first hurts.

Values that pass still meet their endpoint's own validation; this only draws the outer
line of what any endpoint can take.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triops.core.errors import InvalidInput
from triops.server import errors

#: Deeper than any document triops reads (OTLP's deepest is about a dozen levels).
MAX_DEPTH = 64
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_TWO_63 = float(2**63)
_NUMBER_TYPES = (int, float)
_NUMBER_SET = frozenset(_NUMBER_TYPES)
_STR = frozenset((str,))
_SCALAR_SET = _NUMBER_SET | _STR


def _shape_of(byte: int) -> int:
    if byte in b"0123456789":
        return ord("0")
    if byte in b"eE":
        return ord("e")
    if chr(byte).isalpha() and byte < 128:
        return ord("x")
    return byte if byte in b".+" else ord(" ")


#: A body's numbers as shapes: every digit a ``0``, exponent marks kept, other letters an
#: ``x`` (a JSON number never follows one: digits after a letter are in a string), the
#: rest a space.
_SHAPES = bytes(map(_shape_of, range(256)))
_LONG_RUN = b"0" * 19
_LONG_RUNS = tuple(lead + _LONG_RUN for lead in (b" ", b"e", b"+"))
#: A positive exponent of three digits or more. A regular expression led by one literal
#: byte jumps from ``e`` to ``e``; a substring search for ``0e000`` stumbles over every
#: run of zeros (6 against 90 µs over a 64-row float tensor).
_BIG_EXPONENT = re.compile(rb"e\+?000")
_MAX_EXPONENT_LOOKS = 16
#: How far back a number's digits are read before its exponent; more digits than this
#: and the look-alike counts as a number.
_MANTISSA_WINDOW = 64
#: What the nesting check keeps of a body: brackets (as parentheses), quotes, backslashes.
_BRACKETS = bytes.maketrans(b"[]{}", b"()()")
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}"\\')
_STRING = re.compile(rb'"[^"]*"')
_ESCAPED_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
#: What ``_find`` reports, for a text read by orjson, of a float at or beyond 2**63 in
#: magnitude: the text may have held an integer beyond 64 bits there (see ``load_json``).
_MAYBE_INTEGER = "may be an integer beyond 64 bits"


def load_json(raw: bytes | str, seen: Seen | None = None) -> Any:
    """``json.loads`` that refuses what triops cannot hold.

    Raises :class:`InvalidInput` naming the field of a hostile value and ``ValueError``
    for text that is not JSON at all. With ``seen`` (a body read for its route), lists of
    objects of the same keys are checked column by column, and their columns go to
    ``seen`` (see ``checked_columns``).

    >>> load_json(b'{"a": [1, 2.5, "x"]}')
    {'a': [1, 2.5, 'x']}
    >>> load_json(b'{"a": {"b": 1e400}}')
    Traceback (most recent call last):
    ...
    triops.client.errors.InvalidInput: body.a.b: number is not finite (NaN or infinity)
    """
    try:
        # orjson reads valid JSON to the same values ~5x faster and refuses most of what
        # json is generous with (NaN, lone surrogates, deep nesting); json then reads it,
        # and the check below names the field. An integer beyond 64 bits orjson reads as
        # a float: the check reports any float that far out, and json reads the text
        # again, to the integer as written, which the check then names.
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = _json_loads(raw)
        problem = _find(value, 0, False, seen)
    else:
        problem = _find(value, 0, True, seen)
        if problem is not None and problem[1] is _MAYBE_INTEGER:
            value = _json_loads(raw)
            problem = _find(value, 0, False, seen)
    if problem is not None:
        path, reason = problem
        raise InvalidInput(f"body{''.join(reversed(path))}: {reason}")
    return value


def _json_loads(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise InvalidInput(f"body: JSON is nested deeper than {MAX_DEPTH} levels") from None


def check_body(raw: bytes) -> None:
    """``load_json``'s verdict on a request body, without the walk over every value when
    its bytes show that none can be hostile (see ``_suspect``): then only the nesting
    depth is left to check, and only if there are enough brackets to exceed it.

    >>> check_body(b'{"metrics": [{"key": "loss", "value": 0.5, "step": 1}]}')
    >>> check_body(b'{"run_id": "c2e921", "value": 1e400}')
    Traceback (most recent call last):
    ...
    triops.client.errors.InvalidInput: body.value: number is not finite (NaN or infinity)
    """
    shapes = raw.translate(_SHAPES)  # once: both searches below read it
    if not _suspect(raw, shapes) and not (_big_exponent(raw, shapes) and not _finite_to_orjson(raw)) \
            and not _nested_deeper_than(raw, MAX_DEPTH):
        return
    load_json(raw)


def _suspect(raw: bytes, shapes: bytes | None = None) -> bool:
    """Whether a JSON text may hold a hostile value other than an infinity, from its
    bytes alone: an escape (NUL and lone surrogates reach a string only as ``\\u``
    escapes, since ``json`` refuses raw control characters), ``NaN``/``Infinity``, 19
    digits in a row that are not a fraction's (an integer beyond 64 bits), or a byte that
    is NUL or not ASCII (another encoding, whose escapes look different). Substring
    searches only: a regular expression over a 100 kB body cost milliseconds.

    >>> _suspect(b'[0.00019996000799840032, 9.99e-05, 1e400, 123456789012345678]')
    False
    >>> [_suspect(b) for b in (b'[NaN]', b'[-1234567890123456789]', b'"\\u0000"')]
    [True, True, True]
    """
    if not raw.isascii() or b"\x00" in raw or (b"\\" in raw and b"\\u" in raw) \
            or (b"N" in raw and b"NaN" in raw) or (b"I" in raw and b"Infinity" in raw):
        return True  # (a search for one byte is much the faster: a word is looked for after it)
    shapes = raw.translate(_SHAPES) if shapes is None else shapes
    return shapes.startswith(_LONG_RUN) or any(run in shapes for run in _LONG_RUNS)


def _big_exponent(raw: bytes, shapes: bytes | None = None) -> bool:
    """Whether a JSON text may hold a number that overflows a float: one with a positive
    exponent of three digits or more (``1e400``). Without one (and without the long runs
    ``_suspect`` looks for) a number's integer part has at most 18 digits, so it stays
    below 1e18 × 1e99, and a negative exponent only takes it towards zero: values as
    clients write them (``0.00019996000799840032``, ``9.99e-05``) never overflow. A
    string may look like one (a hex id's ``…c2e921…``).

    A match is skipped when what precedes the exponent cannot be a number's digits: no
    digit before the ``e``, or a letter before those digits (``…c2e921…``, a hex id's,
    which alone used to cost a whole orjson parse of the body in about one run id in
    four).

    >>> [_big_exponent(b) for b in (b'[9.99e-05, 1e99]', b'[1E+400]', b'[-2.5e+400]')]
    [False, True, True]
    >>> [_big_exponent(b) for b in (b'"c2e921"', b'"ae921"', b'"2e921"', b'1e400')]
    [False, False, True, True]
    """
    shapes = raw.translate(_SHAPES) if shapes is None else shapes
    for seen, found in enumerate(_BIG_EXPONENT.finditer(shapes)):
        if seen == _MAX_EXPONENT_LOOKS:
            return True  # many look-alikes: the caller's parse is the cheaper answer
        start = found.start()
        before = shapes[max(0, start - _MANTISSA_WINDOW):start]
        lead = before.rstrip(b"0.")
        if len(lead) == len(before) or lead[-1:] in (b"x", b"e"):
            continue  # no digit before the ``e``, or digits in a string
        return True
    return False


def _finite_to_orjson(raw: bytes) -> bool:
    """orjson reads the text, which it does only if no number in it overflows a float
    (it refuses ``1e400`` where ``json`` reads infinity)."""
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


def _nested_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether JSON text nests more than ``limit`` arrays and objects, read from its bytes
    alone: strings dropped (a bracket in one does not nest), then each pass removes the
    innermost pairs of brackets. For text that is not JSON the answer means nothing;
    ``load_json`` then tells.

    >>> _nested_deeper_than(b'{"a": [[1], "[[[["]}', 3), _nested_deeper_than(b'[[[[1]]]]', 3)
    (False, True)
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    if b"\\" in raw:  # an escaped quote must not end its string
        raw = _ESCAPED_STRING.sub(b"", raw)
    skeleton = raw.translate(_BRACKETS, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = _STRING.sub(b"", skeleton)
    for _ in range(limit):
        if not skeleton:
            return False
        skeleton = skeleton.replace(b"()", b"")
    return bool(skeleton)


def check_text(text: str, where: str) -> None:
    reason = _text_problem(text)
    if reason is not None:
        raise InvalidInput(f"{where}: {reason}")


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "text must not contain NUL characters (\\u0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "text must not contain lone UTF-16 surrogates (such as \\ud800)"
    return None


def _find(value: Any, depth: int, read_by_orjson: bool, seen: Seen | None = None
          ) -> tuple[list[str], str] | None:
    """The first hostile value under ``value``: its path (innermost first) and why
    (``_MAYBE_INTEGER`` for a far-out float of a text ``read_by_orjson``); with ``seen``,
    the lists of objects it checked column by column go there.

    The path is built only on the way out of a failure, so clean documents pay for the
    walk alone.
    """
    kind = type(value)
    if kind is str:
        reason = _text_problem(value)
        return ([], reason) if reason else None
    if kind is int:
        if not INT_MIN <= value <= INT_MAX:
            return [], "integer is outside the 64-bit range"
        return None
    if kind is float:
        if not math.isfinite(value):
            return [], "number is not finite (NaN or infinity)"
        if read_by_orjson and not -_TWO_63 < value < _TWO_63:
            return [], _MAYBE_INTEGER
        return None
    if kind is dict or kind is list:
        if depth >= MAX_DEPTH:
            return [], f"JSON is nested deeper than {MAX_DEPTH} levels"
        # Lists of objects are checked by columns only in a body read for its route
        # (``seen``): elsewhere (OTLP's spans) the attempt cost more than it saved.
        if kind is list and (_plain_numbers(value) or (
                seen is not None and depth + 1 < MAX_DEPTH and _plain_rows(value, seen))):
            return None
        items = value.items() if kind is dict else enumerate(value)
        for key, item in items:
            if kind is dict:
                reason = _text_problem(key)
                if reason:
                    return [f".{key!r}"], f"key {reason}"
            problem = _find(item, depth + 1, read_by_orjson, seen)
            if problem is not None:
                problem[0].append(f".{key}" if kind is dict else f"[{key}]")
                return problem
    return None


def _plain_numbers(values: Sequence[Any]) -> bool:
    """Whether ``values`` are numbers none of which can be hostile, in one C call (a
    tensor's data): their Euclidean norm fails on anything else, is NaN or infinite
    when one of them is, and is at least the magnitude of each, so below 2**63 every
    integer is within 64 bits and no float is one that orjson read from a larger
    integer. False sends the list to the walk, which names what is wrong, if anything.

    >>> _plain_numbers([0.5, -3, 1e18]), _plain_numbers([1.5, 2**63]), _plain_numbers([1, "a"])
    (True, False, False)
    """
    if values and type(values[0]) not in _NUMBER_TYPES:
        return False  # a list of objects or lists: no exception raised and caught
    try:
        return math.hypot(*values) < _TWO_63
    except (TypeError, OverflowError):
        return False


class Column(NamedTuple):
    """One key's values across a list of objects, and their exact types."""

    values: tuple[Any, ...]
    types: frozenset[type]


#: Lists the check read column by column, by ``id``, each with its columns (the list
#: itself is kept with them: it stays alive, and its ``id`` cannot be another's).
Seen = dict[int, tuple[list[Any], dict[str, Column]]]


def columns_of(rows: list[Any]) -> dict[str, Column] | None:
    """A non-empty list of objects that all have the same keys, column by column with
    C-level maps (a loop over 1,000 objects cost ~4x as much); ``None`` for any other
    list.

    >>> columns_of([{"k": "a", "v": 1.5}, {"k": "b", "v": 2}])["v"]
    Column(values=(1.5, 2), types=frozenset({<class 'float'>, <class 'int'>}))
    >>> [columns_of(r) for r in ([{"k": "a"}, {"j": "a"}], [{"k": 1}, [1]], [{}], [])]
    [None, None, None, None]
    """
    first = rows[0] if rows else None
    if type(first) is not dict or not first:
        return None
    try:
        if set(map(len, rows)) != {len(first)}:
            return None
        # Same size and every key of the first: the same keys.
        columns = [tuple(map(itemgetter(key), rows)) for key in first]
    except (KeyError, TypeError):  # a row without one of the keys, or not an object
        return None
    return {key: Column(values, frozenset(map(type, values)))
            for key, values in zip(first, columns)}


def _plain_rows(rows: list[Any], seen: Seen) -> bool:
    """Whether ``rows`` are objects of the same keys whose values none can be hostile,
    checked column by column (the metrics of an MLflow ``log-batch``): a walk over 1,000
    such objects cost ~4x as much. Each column must be all text (checked joined) or all
    numbers (``_plain_numbers``). False sends the list to the walk, which names what is
    wrong, if anything. The columns of a list that passes go to ``seen``, for the route.

    >>> _plain_rows([{"k": "a", "v": 1.5}, {"k": "b", "v": 2}], {})
    True
    >>> [_plain_rows(r, {}) for r in ([{"k": "a" + chr(0)}], [{"k": None}], [{"k": [1]}])]
    [False, False, False]
    """
    first = rows[0] if rows else None
    if type(first) is not dict or not set(map(type, first.values())) <= _SCALAR_SET:
        return False  # nested values: ruled out before any column is built
    columns = columns_of(rows)
    if columns is None or not all(_text_problem(key) is None for key in columns) \
            or not all(map(_plain_column, columns.values())):
        return False
    seen[id(rows)] = (rows, columns)
    return True


def _plain_column(column: Column) -> bool:
    if column.types == _STR:
        # Joined, the text has a NUL or a lone surrogate exactly when one of its parts has.
        return _text_problem("".join(column.values)) is None
    return column.types <= _NUMBER_SET and _plain_numbers(column.values)


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


#: Where the guard leaves a body it read for its route (see ``InputGuard``).
_READ_KEY = "triops.checked_json"
#: Where the guard leaves the columns of the lists of objects in that body.
_COLUMNS_KEY = "triops.checked_columns"
#: ``checked_json``'s answer when the guard did not read the body.
NOT_READ = object()


def checked_json(scope: Scope) -> Any:
    """The request's JSON body as the guard read and checked it, or ``NOT_READ`` when it
    did not (a route it was not asked to read for, a body that is not JSON...)."""
    return scope.get(_READ_KEY, NOT_READ)


def checked_columns(scope: Scope, rows: Any) -> dict[str, Column] | None:
    """The columns of ``rows``, a list of objects in ``checked_json(scope)``, as the
    guard read them while checking them (see ``columns_of``); ``None`` when it did not."""
    entry = scope.get(_COLUMNS_KEY, {}).get(id(rows))
    return entry[1] if entry is not None and entry[0] is rows else None


class InputGuard:
    """ASGI middleware: checks the path, the query string and JSON bodies.

    A body is checked on its bytes when they show it holds nothing hostile, and read
    only when they do not (see ``check_body``). For the requests ``reads_json`` names,
    whose route reads the body anyway, it is read and checked in one go (``load_json``)
    and left for the route (``checked_json``), with the columns of each list of objects
    it checked column by column (``checked_columns``): a large tensor or a batch of
    metrics costs one parse instead of the byte scans, then a second parse in the route.
    """

    def __init__(self, app: ASGIApp,
                 reads_json: Callable[[Scope], bool] = lambda _scope: False) -> None:
        self.app = app
        self.reads_json = reads_json

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_url(scope)
            if _is_json(scope) and not _has_header(scope, b"content-encoding"):
                body = await _read_body(receive)
                receive = replay_body(body, receive)
                if body:
                    try:
                        if self.reads_json(scope):
                            seen: Seen = {}
                            scope[_READ_KEY] = load_json(body, seen)
                            scope[_COLUMNS_KEY] = seen
                        else:
                            check_body(body)
                    except ValueError:
                        pass  # not JSON at all: the route's own parser says so in its words
        except InvalidInput as exc:
            response = errors.render(scope["path"], 400, exc.code, exc.message)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _check_url(scope: Scope) -> None:
        check_text(scope["path"], "path")
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            raise InvalidInput("query: text must not contain NUL characters (%00)")


def _has_header(scope: Scope, wanted: bytes) -> bool:
    return any(name == wanted for name, _ in scope["headers"])


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """``receive`` for an app downstream, which reads ``body`` (already read) again."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
