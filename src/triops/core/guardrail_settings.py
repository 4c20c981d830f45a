"""The ``[gateway.guardrails]`` section of ``triops.toml``: which checks run where.

Example::

    [[gateway.guardrails.rules]]
    name = "no-pii"            # what block errors, spans and the dashboard call it
    check = "pii"              # a registered guardrail: pii, credentials, injection,
                               # toxicity, topics, json_schema, or one from a plug-in
    stage = "input"            # input, output or both
    mode = "redact"            # block, redact or flag
    routes = ["chat"]          # model aliases it applies to; empty: every route
    keys = []                  # API key ids it applies to; empty: every key
    options = { entities = ["email", "phone", "credit_card"] }

Input rules check the text of every message, whatever its role; there is no per-role
filter, since one would let text in the unchecked roles through (a ``roles`` key left in
an older configuration is ignored). Rules stored through ``/api/v1/guardrails/rules``
are merged in; a stored rule wins over a file rule of the same name.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Mode = Literal["block", "redact", "flag"]


class GuardrailRule(BaseModel):
    name: str = Field(..., min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    check: str = Field(..., min_length=1, description="a registered guardrail name")
    stage: Literal["input", "output", "both"] = "input"
    mode: Mode = "block"
    routes: list[str] = Field(default_factory=list, description="empty: every route")
    keys: list[str] = Field(default_factory=list, description="empty: every key")
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)


class GuardrailSettings(BaseModel):
    enabled: bool = True
    rules: list[GuardrailRule] = Field(default_factory=list)
    window_s: float = Field(300.0, gt=0, description="block-rate window for signals")
    min_checks: int = Field(20, gt=0, description="checks a window needs to be judged")
    spike_factor: float = Field(3.0, gt=1, description="block rate over running baseline")
    min_block_rate: float = Field(0.2, gt=0, le=1, description="never signal below this")
