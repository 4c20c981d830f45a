"""One HTTP POST to a channel's endpoint, with failures as UpstreamError."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from triops.core.errors import UpstreamError


def post(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> None:
    try:
        response = httpx.post(url, content=body, timeout=timeout_s,
                              headers={"Content-Type": "application/json", **headers})
    except httpx.HTTPError as exc:
        raise UpstreamError(f"POST {url} failed: {exc.__class__.__name__}: {exc}") from None
    if not response.is_success:
        raise UpstreamError(f"POST {url} answered {response.status_code}: "
                            f"{response.text[:300]}")
