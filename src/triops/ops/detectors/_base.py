"""The detector protocol, the registry, and state that survives a restart.

Every streaming detector implements :class:`Detector`: ``update(timestamp, value)``
returns an anomaly score in ``[0, 1]`` that depends only on that point and the ones
before it; ``state()`` returns a JSON-serialisable dict and ``from_state(state)``
rebuilds a detector that continues exactly where the first one stopped.

Adding a detector is adding one class decorated with :func:`register`, here or in
another package that names it in the ``triops.detectors`` entry-point group.
"""

from __future__ import annotations

import base64
import math
from collections import deque
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from triops.core.errors import InvalidInput
from triops.core.registry import Registry


@runtime_checkable
class Detector(Protocol):
    name: ClassVar[str]
    threshold: ClassVar[float]

    def update(self, timestamp: float, value: float) -> float: ...

    def state(self) -> dict: ...

    @classmethod
    def from_state(cls, state: dict) -> Detector: ...


DETECTORS: Registry[type[StreamingDetector]] = Registry(
    "detector", group="triops.detectors", builtins=("triops.ops.detectors",))
"""Every detector class by name: the one place detectors are declared."""

#: Class decorator: make a detector available by its ``name``.
register = DETECTORS.register

_PARTS: dict[str, type] = {}


def part(cls):
    """Class decorator for the stateful building blocks detectors are made of."""
    _PARTS[cls.__name__] = cls
    return cls


def get_detector(name: str, **params: Any) -> StreamingDetector:
    """A fresh detector by registered name."""
    return DETECTORS.get(name)(**params)


def _encode(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return {"__float__": "nan"}
        if math.isinf(value):
            return {"__float__": "inf" if value > 0 else "-inf"}
        return value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, deque):
        return {"__deque__": [_encode(v) for v in value], "maxlen": value.maxlen}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if _int_to_int(value):
            # A context_novelty series holds thousands of counts: two lists of plain
            # ints cost a fraction of a pair a count, to encode and to read back.
            return {"__ints__": [list(value), list(value.values())]}
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, StreamingDetector):
        return {"__detector__": value.name, "vars": _encode_vars(value)}
    if type(value).__name__ in _PARTS:
        return {"__part__": type(value).__name__, "vars": _encode_vars(value)}
    if isinstance(value, np.ndarray) and value.dtype == np.float64 and value.ndim == 1:
        # Raw little-endian bytes: a detector's window of a thousand values is one
        # string to write and read back, not a thousand JSON numbers.
        return {"__f64__": base64.b64encode(value.astype("<f8").tobytes()).decode("ascii")}
    if hasattr(value, "tolist"):  # other numpy arrays and scalars
        return {"__array__": _encode(value.tolist())}
    raise TypeError(f"cannot store {type(value).__name__} in detector state")


def _int_to_int(value: dict) -> bool:
    """Whether every key and value is a plain int (``bool`` is not: it must come back
    as ``bool``)."""
    return all(type(k) is int for k in value) and all(type(v) is int for v in value.values())


def _encode_vars(obj: Any) -> dict:
    return {k: _encode(v) for k, v in vars(obj).items()}


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__deque__" in value:
        return deque((_decode(v) for v in value["__deque__"]), maxlen=value["maxlen"])
    if "__ints__" in value:
        keys, counts = value["__ints__"]
        return dict(zip(keys, counts, strict=True))
    if "__dict__" in value:
        return {_tuple(_decode(k)): _decode(v) for k, v in value["__dict__"]}
    if "__detector__" in value:
        cls = DETECTORS.get(value["__detector__"])
        obj = cls.__new__(cls)
        _restore_vars(obj, value["vars"])
        return obj
    if "__part__" in value:
        obj = _PARTS[value["__part__"]].__new__(_PARTS[value["__part__"]])
        _restore_vars(obj, value["vars"])
        return obj
    if "__f64__" in value:
        return np.frombuffer(base64.b64decode(value["__f64__"]), dtype="<f8").astype(float)
    if "__array__" in value:
        return np.asarray(_decode(value["__array__"]), dtype=float)
    raise ValueError("unreadable detector state")


def _tuple(key: Any) -> Any:
    return tuple(_tuple(k) for k in key) if isinstance(key, list) else key


def _restore_vars(obj: Any, stored: dict) -> None:
    for k, v in stored.items():
        setattr(obj, k, _decode(v))


def _floats(items: Sequence[Any]) -> np.ndarray:
    """A float array; an item that is not a number becomes NaN (skipped, as ``update``
    skips it)."""
    try:
        return np.asarray(items, dtype=float)
    except (TypeError, ValueError):
        return np.array([_float_or_nan(v) for v in items], dtype=float)


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class StreamingDetector:
    """Base of triops' detectors: NaN handling and generic state round-trip.

    Subclasses implement ``_update(timestamp, value) -> float`` for finite input.
    A point whose value or timestamp is not a finite number is skipped: the
    detector learns nothing from it and its score is 0.
    """

    name: ClassVar[str] = ""
    threshold: ClassVar[float] = 1.0

    def update(self, timestamp: float, value: float) -> float:
        try:
            t = float(timestamp)
            x = float(value)
        except (TypeError, ValueError):
            return 0.0
        if not (math.isfinite(t) and math.isfinite(x)):
            return 0.0
        score = self._update(t, x)
        if not score > 0.0:  # also maps a NaN score to 0
            return 0.0
        return min(score, 1.0)

    def update_many(self, timestamps: Sequence[float], values: Sequence[float]) -> list[float]:
        """Scores of a run of points: exactly what ``update`` returns called on each in
        order, and the detector ends in the same state. Still strictly streaming (the
        score of a point depends on it and the points before it); detectors whose raw
        score vectorises compute it for the whole run at once."""
        ts, xs = _floats(timestamps), _floats(values)
        if ts.shape != xs.shape or ts.ndim != 1:
            raise InvalidInput("timestamps and values must be two sequences of one length")
        usable = np.isfinite(ts) & np.isfinite(xs)
        out = np.zeros(len(xs))
        if usable.any():
            scores = np.asarray(self._update_many(ts[usable], xs[usable]), dtype=float)
            # As in update: NaN and non-positive scores are 0, the rest capped at 1.
            out[usable] = np.where(scores > 0.0, np.minimum(scores, 1.0), 0.0)
        return out.tolist()

    def _update(self, timestamp: float, value: float) -> float:
        raise NotImplementedError

    def _update_many(self, ts: np.ndarray, xs: np.ndarray) -> list[float]:
        """``_update`` over finite points; detectors with a vectorised path override it."""
        step = self._update
        return [step(t, x) for t, x in zip(ts.tolist(), xs.tolist(), strict=True)]

    def state(self) -> dict:
        return {"detector": self.name, "vars": _encode_vars(self)}

    @classmethod
    def from_state(cls, state: dict) -> StreamingDetector:
        if not isinstance(state, dict) or "vars" not in state:
            raise InvalidInput("detector state must be a dict made by state()")
        target = cls
        stored = state.get("detector", "")
        if (cls is StreamingDetector or stored != cls.name) and stored in DETECTORS:
            target = DETECTORS.get(stored)
        obj = target.__new__(target)
        _restore_vars(obj, state["vars"])
        return obj
