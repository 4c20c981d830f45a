"""The one place guardrails are declared.

Built-in guardrails register themselves with ``@register`` in their modules, which the
registry imports before its first use; guardrails from other packages are found through
the ``triops.guardrails`` entry-point group (``name = "package.module:Class"``), and a
built-in keeps its name against a plug-in that claims it too. Adding a guardrail is adding a
class: nothing dispatches on names elsewhere.
"""

from __future__ import annotations

from typing import Any

from triops.core.errors import InvalidInput
from triops.core.registry import Registry

ENTRY_POINT_GROUP = "triops.guardrails"
_BUILTIN_MODULES = ("pii", "credentials", "injection", "toxicity", "topics", "structured")

GUARDRAILS: Registry[type] = Registry(
    "guardrail check", group=ENTRY_POINT_GROUP, code="invalid_request_error",
    builtins=tuple(f"triops.llm.guardrails.{module}" for module in _BUILTIN_MODULES))

#: Class decorator: make a guardrail available under its ``name``.
register = GUARDRAILS.register
names = GUARDRAILS.names


def build(name: str, options: dict[str, Any] | None = None) -> Any:
    """An instance of the named guardrail configured with ``options``.

    Bad options are the caller's mistake: they become ``InvalidInput`` naming them.

    >>> build("credentials").check("key AKIAI44QH8DHBF3KP2XY", None)[0].kind
    'aws_access_key'
    """
    cls = GUARDRAILS.get(name)
    try:
        return cls(**(options or {}))
    except InvalidInput:
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"invalid options for guardrail {name!r}: {exc}",
                           code="invalid_request_error") from None
