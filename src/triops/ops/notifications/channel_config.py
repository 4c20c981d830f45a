"""Checks every channel kind makes of its stored config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triops.core.errors import InvalidInput


def require_str(config: Mapping[str, Any], key: str, kind: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"a {kind} channel needs config.{key} (a non-empty string)")
    return value.strip()


def require_http_url(config: Mapping[str, Any], key: str, kind: str) -> str:
    url = require_str(config, key, kind)
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"config.{key} of a {kind} channel must be an http(s) URL")
    return url
