"""UI sessions: a key traded at login for a server-side session held in a cookie.

The cookie carries only the session's token (``SESSION_COOKIE``); ``triops.server.auth``
turns it back into the key's principal on each request.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from triops.server.auth import SESSION_COOKIE
from triops.store.engine import Database
from triops.store.repos import keys, ui_sessions


def log_in(db: Database, api_key: str) -> str | None:
    """A new session's token for ``api_key``; None if the key is unknown or revoked."""
    with db.write() as session:
        principal = keys.authenticate(session, api_key.strip())
        if principal is None:
            return None
        return ui_sessions.start(session, principal.key_id).token


def set_cookie(request: Request, response: Response, token: str) -> None:
    # Lax, not Strict: a link to a page from elsewhere (a chat, an alert mail) opens
    # logged in, while a cross-site form POST still arrives without the cookie.
    response.set_cookie(SESSION_COOKIE, token, max_age=ui_sessions.SESSION_SECONDS,
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")


def log_out(db: Database, request: Request, response: Response) -> None:
    """End the request's session, if any, and clear its cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with db.write() as session:
            ui_sessions.end(session, token)
    response.delete_cookie(SESSION_COOKIE)
