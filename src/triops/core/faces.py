"""Public faces that load on first use.

A pillar's ``__init__`` names its public functions and types; those that pull heavy
dependencies (the store, aiohttp, pandas) are imported only when first asked for, so
that importing one light name — the SDK's prompt template, a drift test in a notebook —
does not load the whole server.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports each name in ``homes`` from
    its home module (relative to ``package``) on first use. A home written
    ``"module:other"`` exports that module's ``other`` under the face's name; an absolute
    home written ``"triops.store.repos.module:"`` exports the module itself (a pillar's
    stored domain as one namespace)."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = home.partition(":")
        if module.startswith("triops."):
            found = importlib.import_module(module)
            return getattr(found, attr) if attr else found
        return getattr(importlib.import_module(f"{package}.{module}"), attr or name)

    return __getattr__
