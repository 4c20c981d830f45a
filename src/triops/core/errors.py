"""The one error hierarchy of triops.

Every error carries a stable ``code`` and a message written for the user: what was
wrong and what to do. The HTTP status of each class is mapped in one place,
``triops.server.errors``; the CLI prints ``message`` and exits non-zero.
"""

from __future__ import annotations

# The base and the errors the SDK raises are defined with the SDK, which the server
# builds on; they are re-exported here so server code has one place to import from.
from triops.client.errors import InvalidInput, NotFound, TriopsError, UpstreamError  # noqa: F401


class AlreadyExists(TriopsError):
    """An object with that identity exists already."""

    code = "RESOURCE_ALREADY_EXISTS"


class Conflict(TriopsError):
    """The object is in a state that does not allow the operation."""

    code = "INVALID_STATE"


class Unauthenticated(TriopsError):
    """No API key, or one that triops does not know."""

    code = "UNAUTHENTICATED"


class PermissionDenied(TriopsError):
    """The key is valid but its role does not allow the operation."""

    code = "PERMISSION_DENIED"


class PayloadTooLarge(TriopsError):
    """The request body is over the configured limit."""

    code = "REQUEST_LIMIT_EXCEEDED"


class RateLimited(TriopsError):
    """A rate limit or budget was exhausted."""

    code = "RATE_LIMIT_EXCEEDED"


class Unavailable(TriopsError):
    """The server cannot take the request now; nothing was written, so the client can
    retry it unchanged after ``Retry-After`` seconds."""

    code = "TEMPORARILY_UNAVAILABLE"

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class UpstreamTimeout(UpstreamError):
    """A service triops calls on the user's behalf did not answer in time."""

    code = "UPSTREAM_TIMEOUT"


class ConfigError(TriopsError):
    """Settings that cannot work together, found at start-up."""

    code = "INVALID_CONFIGURATION"
