"""The prompt registry: named chat or text prompts with immutable versions, a model and
parameters attached, movable labels with an undoable history, and sandboxed rendering.

Names are imported on first use, so importing this face does not load the store.
Templates live in the SDK (``triops.client.template``): applications render the prompts
they fetch with the same code the server checks them with.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from triops.client.template import PromptTemplate, TemplateError, VariableError
    from triops.llm.prompts.registry import (
        PromptRef,
        ResolvedPrompt,
        check_label,
        check_name,
        create_version,
        delete_label,
        diff_versions,
        move_label,
        resolve,
        undo_label,
        version_text,
    )
    from triops.llm.prompts.resolver import PromptResolver

_HOME = {
    "PromptTemplate": "triops.client.template", "TemplateError": "triops.client.template",
    "VariableError": "triops.client.template", "PromptResolver": "triops.llm.prompts.resolver",
    **{name: "triops.llm.prompts.registry" for name in (
        "PromptRef", "ResolvedPrompt", "check_label", "check_name", "create_version",
        "delete_label", "diff_versions", "move_label", "resolve", "undo_label",
        "version_text")},
}

__all__ = [
    "PromptRef", "PromptResolver", "PromptTemplate", "ResolvedPrompt", "TemplateError",
    "VariableError", "check_label", "check_name", "create_version", "delete_label",
    "diff_versions", "move_label", "resolve", "undo_label", "version_text",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'triops.llm.prompts' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
