"""Runbooks: declarative remediation of incidents, behind approval, limits and
verification, with every step audited.

The public face: parse a runbook, the engine and its worker, the action registry, and
the stored runbooks and runs (``runbook_store``), whose functions take the caller's session.
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
from triops.store.repos import runbooks as runbook_store

__all__ = [
    "ACTIONS", "Action", "ActionContext", "Change", "Engine", "Outcome", "ProbableCause", "RunbookSpec",
    "RunbookWorker", "incident_view", "known", "parse_runbook", "register", "runbook_store",
]
