"""Runbooks: declarative remediation of incidents, behind approval, limits and
verification, with every step audited.

The public face: parse a runbook, the engine and its worker, the action registry.
"""

from triops.ops.runbooks.actions import (
    ACTIONS,
    Action,
    ActionContext,
    Change,
    Outcome,
    ProbableCause,
    known,
    register,
)
from triops.ops.runbooks.engine import Engine, incident_view
from triops.ops.runbooks.spec import RunbookSpec, parse_runbook
from triops.ops.runbooks.worker import RunbookWorker

__all__ = [
    "ACTIONS", "Action", "ActionContext", "Change", "Engine", "Outcome", "ProbableCause", "RunbookSpec",
    "RunbookWorker", "incident_view", "known", "parse_runbook", "register",
]
