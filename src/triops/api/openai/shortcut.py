"""The gateway's two hot routes, served before the framework's router is consulted
(see ``triops.api.shortcut``): ``POST /v1/chat/completions`` and ``POST /v1/embeddings``
with the routes' ``AsEditor`` check and errors in OpenAI's shape."""

from __future__ import annotations

from typing import ClassVar

from triops.api.openai.routes import serve_chat, serve_embeddings
from triops.api.shortcut import HotRoute, Shortcut
from triops.core.principals import Role


class GatewayShortcut(Shortcut):
    routes: ClassVar[dict[tuple[str, str], HotRoute]] = {
        ("POST", "/v1/chat/completions"): HotRoute("/v1/chat/completions", Role.editor,
                                                   serve_chat),
        ("POST", "/v1/embeddings"): HotRoute("/v1/embeddings", Role.editor, serve_embeddings),
    }
