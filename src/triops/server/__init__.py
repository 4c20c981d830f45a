"""The server: assembles the api and ui routers into one application.

It holds what both edges need — the runtime, authentication and role dependencies, UI
sessions, key revocations, middleware, the input guard, error mapping and health.
``triops.server.app`` is the only module here that imports ``triops.api`` or
``triops.ui``; every other module sits below both edges.

The platform's own domains — projects, API keys and the audit log — belong to no
pillar: every pillar and edge is scoped by a project and acted on by a key, and every
edge writes the audit log. Their stores are exported here (``project_store``,
``key_store``, ``audit_log``, ``DEFAULT_PROJECT``) for the api, ui and cli.
"""

from triops.store.repos import audit as audit_log
from triops.store.repos import keys as key_store
from triops.store.repos import projects as project_store
from triops.store.repos.projects import DEFAULT_PROJECT, validate_name

__all__ = ["DEFAULT_PROJECT", "audit_log", "key_store", "project_store", "validate_name"]
