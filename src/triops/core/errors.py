"""The one error hierarchy of triops.

Every error carries a stable ``code`` and a message written for the user: what was
wrong and what to do. The HTTP status of each class is mapped in one place,
``triops.server.errors``; the CLI prints ``message`` and exits non-zero.
"""

from __future__ import annotations


class TriopsError(Exception):
    """Base of every error triops raises on purpose."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidInput(TriopsError):
    """The request or command was malformed: wrong type, missing field, bad value."""

    code = "INVALID_PARAMETER_VALUE"


class NotFound(TriopsError):
    """The named object does not exist (or is not visible to the caller's project)."""

    code = "RESOURCE_DOES_NOT_EXIST"


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


class UpstreamError(TriopsError):
    """A service triops calls on the user's behalf failed."""

    code = "UPSTREAM_ERROR"


class UpstreamTimeout(UpstreamError):
    """A service triops calls on the user's behalf did not answer in time."""

    code = "UPSTREAM_TIMEOUT"


class ConfigError(TriopsError):
    """Settings that cannot work together, found at start-up."""

    code = "INVALID_CONFIGURATION"
