"""Who is calling: an API key resolved to a project and a role."""

from __future__ import annotations

import enum
from dataclasses import dataclass

ALL_PROJECTS = "*"


class Role(enum.IntEnum):
    """Roles are ordered: each one can do everything the ones below it can."""

    viewer = 1
    editor = 2
    admin = 3


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    project: str
    role: Role

    def allows(self, role: Role) -> bool:
        return self.role >= role

    @property
    def is_global(self) -> bool:
        return self.project == ALL_PROJECTS


#: The principal used when the server runs with ``--no-auth`` on loopback.
ANONYMOUS_ADMIN = Principal(key_id="", name="anonymous", project=ALL_PROJECTS, role=Role.admin)
