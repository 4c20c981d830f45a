"""The prompt registry: named chat or text prompts with immutable versions, a model and
parameters attached, movable labels with an undoable history, and sandboxed rendering."""

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
from triops.llm.prompts.template import PromptTemplate, TemplateError, VariableError

__all__ = [
    "PromptRef", "PromptResolver", "PromptTemplate", "ResolvedPrompt", "TemplateError",
    "VariableError", "check_label", "check_name", "create_version", "delete_label",
    "diff_versions", "move_label", "resolve", "undo_label", "version_text",
]
