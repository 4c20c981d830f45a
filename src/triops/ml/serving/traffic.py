"""Traffic policies of an endpoint: which version serves a request, which one shadows it.

A policy is stored as JSON on the endpoint::

    {"canary": {"ref": "@challenger", "percent": 10},   # 10 % of requests
     "shadow": {"ref": "@next"}}                          # every request mirrored

A reference is ``@alias`` (followed when the alias moves, which is how rollback works:
move the alias back) or a version number. The canary split is decided by a hash of the
request id, so a retried request (same ``X-Request-ID``) lands on the same version.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from triops.core.errors import InvalidInput

PRIMARY = "primary"
CANARY = "canary"


@dataclass(frozen=True)
class Policy:
    canary_ref: str | None = None
    canary_percent: float = 0.0
    shadow_ref: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.canary_ref is not None:
            out["canary"] = {"ref": self.canary_ref, "percent": self.canary_percent}
        if self.shadow_ref is not None:
            out["shadow"] = {"ref": self.shadow_ref}
        return out


def check_ref(ref: str, what: str = "model reference") -> str:
    """``@alias`` or a positive version number, as text."""
    ref = str(ref).strip()
    if ref.startswith("@") and len(ref) > 1 and "/" not in ref:
        return ref
    if ref.isdigit() and int(ref) > 0:
        return str(int(ref))
    raise InvalidInput(f"{what} '{ref}' must be '@alias' or a version number")


def parse_model(spec: str) -> tuple[str, str]:
    """``churn@champion`` / ``churn/3`` / ``models:/churn@champion`` -> (name, ref)."""
    text = spec.strip().removeprefix("models:/")
    if "@" in text:
        name, _, alias = text.partition("@")
        ref = f"@{alias}"
    elif "/" in text:
        name, _, ref = text.rpartition("/")
    else:
        raise InvalidInput(f"model '{spec}' must be NAME@ALIAS or NAME/VERSION, "
                           "e.g. churn@champion or churn/3")
    if not name:
        raise InvalidInput(f"model '{spec}' has no name before '@' or '/'")
    return name, check_ref(ref)


def parse_policy(raw: dict[str, Any] | None) -> Policy:
    raw = raw or {}
    unknown = set(raw) - {"canary", "shadow"}
    if unknown:
        raise InvalidInput(f"unknown traffic policy '{min(unknown)}'; use canary or shadow")
    canary_ref, percent, shadow_ref = None, 0.0, None
    if raw.get("canary") is not None:
        canary = raw["canary"]
        if not isinstance(canary, dict) or "ref" not in canary or "percent" not in canary:
            raise InvalidInput("policy 'canary' needs 'ref' and 'percent'")
        canary_ref = check_ref(canary["ref"], "canary reference")
        try:
            percent = float(canary["percent"])
        except (TypeError, ValueError):
            raise InvalidInput("canary 'percent' must be a number") from None
        if not 0 < percent < 100:
            raise InvalidInput("canary 'percent' must be between 0 and 100 (exclusive)")
    if raw.get("shadow") is not None:
        shadow = raw["shadow"]
        if not isinstance(shadow, dict) or "ref" not in shadow:
            raise InvalidInput("policy 'shadow' needs 'ref'")
        shadow_ref = check_ref(shadow["ref"], "shadow reference")
    return Policy(canary_ref, percent, shadow_ref)


def route(policy: Policy, request_id: str) -> str:
    """``primary`` or ``canary`` for this request."""
    if policy.canary_ref is None:
        return PRIMARY
    bucket = zlib.crc32(request_id.encode()) % 10_000
    return CANARY if bucket < policy.canary_percent * 100 else PRIMARY


def outputs_agree(a: list[Any], b: list[Any]) -> bool:
    """Row-by-row equality, with a relative tolerance for floats (regressors, scores)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, float) or isinstance(y, float):
            try:
                if abs(float(x) - float(y)) > 1e-6 * max(1.0, abs(float(x)), abs(float(y))):
                    return False
            except (TypeError, ValueError):
                return False
        elif x != y:
            return False
    return True
