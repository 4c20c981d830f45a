"""What a running server holds: settings, database, artifact store.

Built once at start-up and handed to routers through ``request.app.state.runtime``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from triops.core.settings import Settings
from triops.store.artifacts import ArtifactStore
from triops.store.engine import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    artifacts: ArtifactStore
    #: Long-lived services a pillar starts with the server (batchers, caches...), by name.
    services: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings) -> "Runtime":
        return cls(
            settings=settings,
            db=Database(settings.store_url),
            artifacts=ArtifactStore(settings.artifacts_location),
        )

    def close(self) -> None:
        for service in self.services.values():
            close = getattr(service, "close", None)
            if close is not None:
                close()
        self.db.dispose()


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime
