"""The prompt registry: versions, labels, resolving ``name@label`` and diffs between versions.

Every function works in the caller's transaction. Label moves are written to the audit
log as ``prompt.label.set`` / ``prompt.label.undo`` / ``prompt.label.delete``.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from triops.client.template import PromptTemplate
from triops.core.errors import InvalidInput
from triops.store.repos import audit
from triops.store.repos import prompts as repo
from triops.store.schema_prompts import PromptLabelMove, PromptVersion

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidInput(f"prompt name {name!r} must be 1-128 letters, digits, '_', '.' or "
                           "'-', starting with a letter or digit")
    return name


def check_label(label: str) -> str:
    if not isinstance(label, str) or not LABEL.match(label):
        raise InvalidInput(f"label {label!r} must start with a letter and hold only letters, "
                           "digits, '_', '.' or '-' (at most 64)")
    return label


@dataclass(frozen=True)
class PromptRef:
    """``name`` (latest version), ``name@label`` or ``name@3`` (version 3)."""

    name: str
    label: str | None = None
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> PromptRef:
        if not isinstance(text, str):
            raise InvalidInput("a prompt reference must be a string such as 'name@production'")
        name, sep, tail = text.partition("@")
        check_name(name)
        if not sep:
            return cls(name)
        if tail.isdigit():
            return cls(name, version=int(tail))
        return cls(name, label=check_label(tail))

    def __str__(self) -> str:
        if self.label:
            return f"{self.name}@{self.label}"
        return f"{self.name}@{self.version}" if self.version else self.name


@dataclass(frozen=True)
class ResolvedPrompt:
    name: str
    version: int
    label: str | None
    template: PromptTemplate
    model: str | None
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "label": self.label,
                "kind": self.template.kind, "template": self.template.stored(),
                "variables": list(self.template.variables), "model": self.model,
                "params": self.params}


def template_of(row: PromptVersion, kind: str) -> PromptTemplate:
    return PromptTemplate.from_stored(kind, row.template, list(row.variables["names"]))


def create_version(
    session: Session, project: str, name: str, *, kind: str, template: Any,
    variables: list[str] | None, model: str | None, params: dict[str, Any], message: str,
    actor: str, labels: list[str] | None = None, description: str = "",
) -> PromptVersion:
    """Check the template, add it as the prompt's next version (creating the prompt on its
    first version), and point ``labels`` at it."""
    check_name(name)
    for label in labels or ():
        check_label(label)
    if kind == "chat":
        checked = PromptTemplate.chat(template, variables)
    elif kind == "text":
        checked = PromptTemplate.text(template, variables)
    else:
        raise InvalidInput(f"prompt kind must be 'chat' or 'text', got {kind!r}")
    if not isinstance(params, dict):
        raise InvalidInput("params must be an object such as {\"temperature\": 0.2}")
    prompt = repo.find_prompt(session, project, name, lock=True)
    if prompt is None:
        prompt = repo.create_prompt(session, project, name, kind, description, actor)
    elif prompt.kind != kind:
        raise InvalidInput(f"prompt '{name}' is a {prompt.kind} prompt; a new version must "
                           f"be {prompt.kind} too")
    row = repo.add_version(session, prompt, repo.NewVersion(
        template=checked.stored(), variables=list(checked.variables), model=model,
        params=params, message=message), actor)
    audit.record(session, project=project, actor=actor, action="prompt.version.create",
                 target=f"prompt:{name}", detail={"version": row.version, "message": message})
    for label in labels or ():
        move_label(session, project, name, label, row.version, actor)
    return row


def resolve(session: Session, project: str, ref: PromptRef | str) -> ResolvedPrompt:
    ref = PromptRef.parse(ref) if isinstance(ref, str) else ref
    prompt = repo.get_prompt(session, project, ref.name)
    if ref.label is not None:
        version = repo.get_label(session, project, ref.name, ref.label).version
    else:
        version = ref.version or prompt.latest_version
    row = repo.get_version(session, project, ref.name, version)
    return ResolvedPrompt(name=ref.name, version=row.version, label=ref.label,
                          template=template_of(row, prompt.kind), model=row.model,
                          params=dict(row.params))


def _audit_move(session: Session, project: str, move: PromptLabelMove, actor: str) -> None:
    audit.record(session, project=project, actor=actor, action=f"prompt.label.{move.kind}",
                 target=f"prompt:{move.name}@{move.label}",
                 detail={"from_version": move.from_version, "to_version": move.to_version})


def move_label(session: Session, project: str, name: str, label: str, version: int,
               actor: str) -> PromptLabelMove:
    check_label(label)
    move = repo.set_label(session, project, name, label, version, actor)
    _audit_move(session, project, move, actor)
    return move


def undo_label(session: Session, project: str, name: str, label: str,
               actor: str) -> PromptLabelMove:
    """Put ``label`` back on the version it pointed at before its last move."""
    move = repo.undo_label(session, project, name, check_label(label), actor)
    _audit_move(session, project, move, actor)
    return move


def delete_label(session: Session, project: str, name: str, label: str,
                 actor: str) -> PromptLabelMove:
    move = repo.delete_label(session, project, name, label, actor)
    _audit_move(session, project, move, actor)
    return move


def version_text(row: PromptVersion) -> list[str]:
    """A version as lines for diffing: template, then model and parameters."""
    lines: list[str] = []
    if "messages" in row.template:
        for message in row.template["messages"]:
            lines.append(f"[{message['role']}]")
            lines.extend(str(message["content"]).splitlines())
    else:
        lines.extend(str(row.template["text"]).splitlines())
    lines.append("")
    lines.append(f"model: {row.model or '-'}")
    lines.append(f"params: {json.dumps(row.params, sort_keys=True)}")
    lines.append(f"variables: {', '.join(row.variables['names'])}")
    return lines


def diff_versions(old: PromptVersion, new: PromptVersion) -> list[str]:
    """Unified diff lines from ``old`` to ``new`` (headers included)."""
    return list(difflib.unified_diff(version_text(old), version_text(new),
                                     fromfile=f"{old.name} v{old.version}",
                                     tofile=f"{new.name} v{new.version}", lineterm=""))
