"""Prompt templates: checked when created, rendered in a sandbox with declared variables.

Templates are Jinja2 run in ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``: a
template cannot reach Python internals or mutate what it is given, and a variable that
is used but not passed fails loudly instead of rendering as an empty string.

>>> t = PromptTemplate.chat([{"role": "user", "content": "Hello {{ name }}"}])
>>> t.variables
('name',)
>>> t.messages(name="Ada")
[{'role': 'user', 'content': 'Hello Ada'}]
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from triops.client.errors import InvalidInput

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                     keep_trailing_newline=True)
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
ROLES = ("system", "user", "assistant", "developer", "tool")


class TemplateError(InvalidInput):
    """A template that cannot be stored or rendered; the message says where and why."""

    code = "INVALID_PROMPT_TEMPLATE"


class VariableError(InvalidInput):
    """Variables passed to a render do not match the ones the prompt declares."""

    code = "INVALID_PROMPT_VARIABLES"


@functools.lru_cache(maxsize=4096)
def _compiled(source: str) -> Template:
    # Compiling is ~100x the cost of rendering; a gateway renders the same few templates
    # on every request, so each source is compiled once per process.
    return _ENV.from_string(source)


def _parse(source: str, where: str) -> set[str]:
    try:
        parsed = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{where}: template syntax error on line {exc.lineno}: "
                            f"{exc.message}") from None
    return set(meta.find_undeclared_variables(parsed))


@dataclass(frozen=True)
class PromptTemplate:
    """A chat template (list of role/content messages) or a text template."""

    kind: str  # "chat" or "text"
    parts: tuple[tuple[str, str], ...]  # (role, source); role "" for text
    variables: tuple[str, ...]

    @classmethod
    def chat(cls, messages: list[Mapping[str, Any]],
             variables: list[str] | None = None) -> PromptTemplate:
        if not isinstance(messages, list) or not messages:
            raise TemplateError("a chat prompt needs a non-empty list of messages")
        parts = []
        for i, message in enumerate(messages):
            if not isinstance(message, Mapping):
                raise TemplateError(f"messages[{i}] must be an object with role and content")
            role, content = message.get("role"), message.get("content")
            if role not in ROLES:
                raise TemplateError(f"messages[{i}].role must be one of {', '.join(ROLES)}, "
                                    f"got {role!r}")
            if not isinstance(content, str):
                raise TemplateError(f"messages[{i}].content must be a string")
            parts.append((role, content))
        return cls._checked("chat", tuple(parts), variables)

    @classmethod
    def text(cls, source: str, variables: list[str] | None = None) -> PromptTemplate:
        if not isinstance(source, str) or not source:
            raise TemplateError("a text prompt needs a non-empty template string")
        return cls._checked("text", (("", source),), variables)

    @classmethod
    def from_stored(cls, kind: str, template: Mapping[str, Any],
                    variables: list[str] | None) -> PromptTemplate:
        if kind == "chat":
            return cls.chat(list(template["messages"]), variables)
        return cls.text(template["text"], variables)

    @classmethod
    def _checked(cls, kind: str, parts: tuple[tuple[str, str], ...],
                 variables: list[str] | None) -> PromptTemplate:
        used: set[str] = set()
        for i, (_, source) in enumerate(parts):
            used |= _parse(source, f"messages[{i}].content" if kind == "chat" else "template")
        if variables is None:
            declared = sorted(used)
        else:
            for name in variables:
                if not isinstance(name, str) or not _VARIABLE.match(name):
                    raise TemplateError(f"variable name {name!r} is not an identifier")
            declared = list(dict.fromkeys(variables))
            undeclared = sorted(used - set(declared))
            if undeclared:
                raise TemplateError(f"the template uses undeclared variable(s) "
                                    f"{', '.join(undeclared)}; declare them or remove them")
        return cls(kind=kind, parts=parts, variables=tuple(declared))

    def stored(self) -> dict[str, Any]:
        if self.kind == "chat":
            return {"messages": [{"role": r, "content": c} for r, c in self.parts]}
        return {"text": self.parts[0][1]}

    def check_variables(self, given: Mapping[str, Any]) -> None:
        missing = [v for v in self.variables if v not in given]
        if missing:
            raise VariableError(f"missing prompt variable(s): {', '.join(missing)}")
        extra = sorted(set(given) - set(self.variables))
        if extra:
            raise VariableError(f"undeclared prompt variable(s): {', '.join(extra)}; the "
                                f"prompt declares {', '.join(self.variables) or 'none'}")

    def _render(self, source: str, values: Mapping[str, Any]) -> str:
        try:
            return _compiled(source).render(**values)
        except UndefinedError as exc:
            raise VariableError(f"prompt rendering failed: {exc.message}") from None
        except SecurityError as exc:
            raise TemplateError(f"the template tried something the sandbox forbids: {exc}"
                                ) from None
        except TemplateSyntaxError as exc:  # only reachable for templates stored elsewhere
            raise TemplateError(f"template syntax error on line {exc.lineno}: {exc.message}"
                                ) from None
        except Exception as exc:  # noqa: BLE001 - e.g. a filter given a value of the wrong type
            raise VariableError(f"prompt rendering failed: {type(exc).__name__}: {exc}"
                                ) from None

    def messages(self, **values: Any) -> list[dict[str, str]]:
        """Rendered chat messages; a text prompt becomes one user message."""
        self.check_variables(values)
        if self.kind == "text":
            return [{"role": "user", "content": self._render(self.parts[0][1], values)}]
        return [{"role": role, "content": self._render(source, values)}
                for role, source in self.parts]

    def render(self, **values: Any) -> str:
        """The rendered text; chat messages are joined as ``role: content`` lines."""
        self.check_variables(values)
        if self.kind == "text":
            return self._render(self.parts[0][1], values)
        return "\n".join(f"{role}: {self._render(source, values)}" for role, source in self.parts)
