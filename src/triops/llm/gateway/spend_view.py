"""Who sees which spend: the one rule the API and the gateway page both apply.

A project admin sees every key of the project; any other key its own calls; only a
server admin (an admin of every project) sees spend summed per project across projects.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from triops.core.principals import Principal, Role
from triops.store.repos import llm_spend as repo
from triops.store.repos.llm_spend import SpendGroup


def visible_groups(session: Session, principal: Principal, project: str, by: str,
                   since_ms: int, until_ms: int, key_id: str | None = None
                   ) -> list[SpendGroup]:
    """Spend in ``[since_ms, until_ms)`` per ``by`` that ``principal`` may see."""
    every_project = by == "project" and principal.allows(Role.admin) and principal.is_global
    if not principal.allows(Role.admin):
        key_id = principal.key_id
    return repo.grouped(session, by, since_ms, until_ms,
                        project=None if every_project else project, key_id=key_id)
