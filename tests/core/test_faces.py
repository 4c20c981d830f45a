"""Every name a public face exports resolves: the faces load most names lazily, so a
moved or renamed module would otherwise surface only when an edge first asks for it."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["triops.ml", "triops.llm", "triops.llm.rag", "triops.ops",
                                     "triops.server"])
def test_every_exported_name_resolves(package: str) -> None:
    face = importlib.import_module(package)
    missing = [name for name in face.__all__ if getattr(face, name, None) is None]
    assert missing == []
