"""The base of triops' error hierarchy, and the errors the SDK itself raises.

They live here so that an application with only the SDK installed catches the same
classes the server raises; ``triops.core.errors`` builds the rest of the hierarchy on
them. Every error carries a stable ``code`` and a message written for the user.
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


class UpstreamError(TriopsError):
    """A service triops calls on the user's behalf failed."""

    code = "UPSTREAM_ERROR"
