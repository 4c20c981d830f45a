"""Where a user verb works: the server (by default) or a store named by ``--store``/``--home``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from triops.cli.common import offline, open_database, settings_from
from triops.cli.remote import call, connect
from triops.server import DEFAULT_PROJECT


class Target:
    """The server, through its API; or, offline, the store the flags name (then
    ``db`` and ``settings`` are set and ``project`` defaults to the default project)."""

    def __init__(self, server: str | None, api_key: str | None, profile: str,
                 project: str | None, store: str | None, home: Path | None,
                 artifacts: str | None = None) -> None:
        self.is_offline = offline(store, home)
        if self.is_offline:
            self.project: str = project or DEFAULT_PROJECT
            self.settings = settings_from(store=store, home=home, artifacts=artifacts)
            self.db = open_database(self.settings)
        else:
            self.project = project or ""
            self.client = connect(server, api_key, profile, project)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.is_offline:
            self.db.dispose()
        else:
            self.client.close()

    def api(self, method: str, path: str, **kw: Any) -> Any:
        return call(self.client, method, path, **kw)
