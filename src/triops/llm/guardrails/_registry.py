"""The one place guardrails are declared.

Built-in guardrails register themselves with ``@register`` in their modules, which are
imported here; guardrails from other packages are found through the ``triops.guardrails``
entry-point group (``name = "package.module:Class"``). Adding a guardrail is adding a
class: nothing dispatches on names elsewhere.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points
from typing import Any, TypeVar

from triops.core.errors import InvalidInput

log = logging.getLogger("triops.llm.guardrails")

ENTRY_POINT_GROUP = "triops.guardrails"
_BUILTIN_MODULES = ("pii", "credentials", "injection", "toxicity", "topics", "structured")

_REGISTRY: dict[str, type] = {}
_loaded = False
T = TypeVar("T", bound=type)


def register(cls: T) -> T:
    """Class decorator: make a guardrail available under its ``name``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a class attribute 'name'")
    _REGISTRY[name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        importlib.import_module(f"triops.llm.guardrails.{module}")
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            register(entry.load())
        except Exception:  # one broken plug-in must not take the gateway down
            log.exception("could not load guardrail entry point %s", entry.name)


def names() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def guardrail_class(name: str) -> type:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InvalidInput(f"unknown guardrail check {name!r}; known: {', '.join(names())}",
                           code="invalid_request_error") from None


def build(name: str, options: dict[str, Any] | None = None) -> Any:
    """An instance of the named guardrail configured with ``options``.

    Bad options are the caller's mistake: they become ``InvalidInput`` naming them.

    >>> build("credentials").check("key AKIAI44QH8DHBF3KP2XY", None)[0].kind
    'aws_access_key'
    """
    cls = guardrail_class(name)
    try:
        return cls(**(options or {}))
    except InvalidInput:
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"invalid options for guardrail {name!r}: {exc}",
                           code="invalid_request_error") from None
