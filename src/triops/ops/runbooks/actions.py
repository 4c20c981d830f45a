"""What a runbook step can do: one small protocol, and the registry of actions by name.

An action is one class: ``dry_run`` says exactly what would change, ``run`` changes it
and returns what its ``undo`` needs. Every action works inside ``ctx.project`` (the
incident's project) and nowhere else. Adding an action is writing one class and
naming it in a ``triops.runbook_actions`` entry point (or calling ``register``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from triops.core.errors import Conflict, InvalidInput
from triops.core.ids import now_ms
from triops.core.registry import Registry
from triops.ops.causes import ProbableCause
from triops.store.artifacts import ArtifactStore
from triops.store.engine import Database


@dataclass(frozen=True)
class Change:
    """One thing an action changes (or would change): ``target``'s ``what`` goes from
    ``before`` to ``after``."""

    target: str
    what: str
    before: Any
    after: Any

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    changes: list[Change]
    #: What ``undo`` needs to put things back; stored on the run.
    undo: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class ActionContext:
    db: Database
    project: str
    actor: str
    incident: dict[str, Any]
    causes: list[ProbableCause] = field(default_factory=list)
    artifacts: ArtifactStore | None = None
    #: Named secrets webhooks sign with (``runbook_secrets`` in the settings).
    secrets: dict[str, str] = field(default_factory=dict)
    #: Where ``notify`` hands its requests; the run records them either way.
    notifier: Callable[[str, dict[str, Any]], None] | None = None
    pipeline_modules: tuple[str, ...] = ()
    clock: Callable[[], int] = now_ms
    #: Told when an action changed something servers keep in memory, as
    #: ``changed(topic, *args)``: ``("prompt", project, name)`` or ``("gateway",)``.
    changed: Callable[..., None] | None = None

    def announce(self, topic: str, *args: str) -> None:
        if self.changed is not None:
            self.changed(topic, *args)


class Action:
    """Base of every runbook action; subclasses set ``name`` and ``Params``."""

    name: ClassVar[str]
    #: Whether it changes what serves production; such runbooks need approval by default.
    changes_production: ClassVar[bool] = True
    can_undo: ClassVar[bool] = False

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def check_names(self, params: dict[str, Any], where: str) -> None:
        fields = self.Params.model_fields
        unknown = sorted(set(params) - set(fields))
        if unknown:
            raise InvalidInput(f"runbook {where}: action {self.name!r} has no parameter "
                               f"{unknown[0]!r}; it takes {sorted(fields)}")
        missing = [n for n, f in fields.items() if f.is_required() and n not in params]
        if missing:
            raise InvalidInput(f"runbook {where}: action {self.name!r} needs {missing[0]!r}")

    def params(self, raw: dict[str, Any]) -> Any:
        try:
            return self.Params.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(f"action {self.name!r} parameter {loc}: {first['msg']}") from None

    def dry_run(self, ctx: ActionContext, params: Any) -> list[Change]:
        raise NotImplementedError

    def run(self, ctx: ActionContext, params: Any) -> Outcome:
        raise NotImplementedError

    def undo(self, ctx: ActionContext, params: Any, undo: dict[str, Any]) -> list[Change]:
        raise Conflict(f"action {self.name!r} cannot be undone")


#: Every action by name. The notification and webhook actions are built in here; the
#: pillars' actions on models, deployments, prompts and gateway routes come in through the
#: ``triops.runbook_actions`` entry points of triops' own distribution, the same way a
#: user's package adds its own.
ACTIONS: Registry[Action] = Registry(
    "action", group="triops.runbook_actions", builtins=("triops.ops.runbooks.actions_out",),
    plugin=lambda found: found() if isinstance(found, type) else found)
register = ACTIONS.register
get = ACTIONS.get
known = ACTIONS.names
