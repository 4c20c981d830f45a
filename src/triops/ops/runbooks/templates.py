"""Step parameters that refer to the incident and its causes: ``{{ incident.labels.model }}``,
``{{ causes[0].entity }}``.

Rendered by jinja2's ``SandboxedEnvironment`` over plain dicts and lists: no attribute of
a Python object is reachable (``{{ incident.__class__ }}`` fails), and a name that does
not exist is an error instead of an empty string, so a typo never becomes a silent
no-op parameter.

>>> render_params({"model": "{{ incident.labels.model }}", "n": 2},
...               {"incident": {"labels": {"model": "churn"}}, "causes": []})
{'model': 'churn', 'n': 2}
"""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from triops.core.errors import InvalidInput

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def render(text: str, scope: dict[str, Any]) -> str:
    try:
        return _ENV.from_string(text).render(scope)
    except TemplateError as exc:
        raise InvalidInput(f"template {text!r} cannot be rendered: {exc}") from None


def render_params(params: Any, scope: dict[str, Any]) -> Any:
    """Render every string inside ``params`` (mappings and lists are walked)."""
    if isinstance(params, str):
        return render(params, scope) if "{" in params else params
    if isinstance(params, dict):
        return {key: render_params(value, scope) for key, value in params.items()}
    if isinstance(params, list):
        return [render_params(value, scope) for value in params]
    return params


def truthy(text: str, scope: dict[str, Any]) -> bool:
    """A condition holds when it renders to something other than empty/false/0/none."""
    return render(text, scope).strip().lower() not in ("", "false", "0", "none", "no")
