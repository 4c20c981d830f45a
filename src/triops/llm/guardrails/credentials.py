"""Secrets: API keys and tokens by their published prefixes, JWTs, PEM private keys,
and high-entropy strings that follow words such as key, token or secret.

Prefixes are the formats the issuers document (OpenAI ``sk-``, GitHub ``ghp_``…,
AWS ``AKIA``/``ASIA``, Slack ``xox?-``, Google ``AIza``, Stripe ``sk_live_``). Bare
high-entropy strings are only reported near a credential word: hashes, ids and base64
payloads are everywhere in technical text and are not secrets on their own.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from typing import ClassVar

from triops.llm.guardrails._base import Context, Finding, drop_overlaps, mask
from triops.llm.guardrails._registry import register

#: kind → pattern. Anchored so that a prefix inside a longer word does not count.
PATTERNS: dict[str, re.Pattern[str]] = {
    "anthropic_key": re.compile(r"(?<![\w-])sk-ant-[A-Za-z0-9_-]{32,}"),
    "openai_key": re.compile(
        r"(?<![\w-])sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}"),
    "github_token": re.compile(r"(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_\w{60,})"),
    "aws_access_key": re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])"),
    "slack_token": re.compile(r"(?<!\w)xox[abposr]-(?:\d+-)+[A-Za-z0-9]{10,}"),
    "google_api_key": re.compile(r"(?<!\w)AIza[0-9A-Za-z_-]{35}(?![\w-])"),
    "stripe_key": re.compile(r"(?<!\w)[sr]k_live_[0-9A-Za-z]{20,}"),
    "private_key": re.compile(
        r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)"),
}
_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}")
_NEAR_WORD = re.compile(
    r"(?i)(?:api[_ -]?key|secret|token|passw(?:or)?d|pwd|credential|auth(?:orization)?|"
    r"bearer|access[_ -]?key)[\w-]*[\"']?\s*([:=]|=>|\bis\b|\bto\b)?\s*[\"'`]?"
    r"([A-Za-z0-9+/_=.~!@#$%^&*-]{12,})")
_PLACEHOLDER = re.compile(r"(?i)(x{4,}|your|example|placeholder|redacted|changeme|\.\.\.|<|>|"
                          r"dummy|sample|\*{3,})")


def entropy(text: str) -> float:
    """Shannon entropy in bits per character.

    >>> round(entropy("aaaa"), 2), round(entropy("abcd"), 2)
    (0.0, 2.0)
    """
    counts = Counter(text)
    n = len(text)
    return abs(-sum(c / n * math.log2(c / n) for c in counts.values()))


def _jwt_ok(token: str) -> bool:
    head = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
    except (binascii.Error, ValueError):
        return False
    return b'"alg"' in decoded


def _random_looking(token: str, min_entropy: float, assigned: bool) -> bool:
    if _PLACEHOLDER.search(token) or entropy(token) < min_entropy:
        return False
    classes = sum(bool(re.search(p, token)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    if classes < 2:
        return False
    if not assigned and re.fullmatch(r"[0-9a-f]{32,64}", token) or re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", token):
        # UUIDs, and digests mentioned in passing, are identifiers; a hex string assigned
        # to a key variable is how many services issue their keys.
        return False
    return not re.fullmatch(r"[A-Za-z]+(?:[_-][A-Za-z]+)*", token)  # plain words


@register
class Credentials:
    """API keys, tokens and private keys; ``redact`` masks each with ``[SECRET:<kind>]``.

    >>> Credentials().redact("export OPENAI_API_KEY=sk-proj-" + "a1B2" * 10, None)
    'export OPENAI_API_KEY=[SECRET:openai_key]'
    """

    name: ClassVar[str] = "credentials"
    redacts: ClassVar[bool] = True

    def __init__(self, entropy_near_words: bool = True, min_entropy: float = 3.5) -> None:
        self.entropy_near_words = bool(entropy_near_words)
        self.min_entropy = float(min_entropy)

    def check(self, text: str, context: Context | None = None) -> list[Finding]:
        found = []
        for kind, pattern in PATTERNS.items():
            for m in pattern.finditer(text):
                if kind != "private_key" and _PLACEHOLDER.search(m.group(0)):
                    continue
                found.append(Finding(kind, m.start(), m.end()))
        for m in _JWT.finditer(text):
            if _jwt_ok(m.group(0)):
                found.append(Finding("jwt", m.start(), m.end()))
        if self.entropy_near_words:
            for m in _NEAR_WORD.finditer(text):
                token = m.group(2).rstrip(".")
                if _random_looking(token, self.min_entropy, m.group(1) is not None):
                    start = m.start(2)
                    found.append(Finding("high_entropy_secret", start, start + len(token),
                                         score=0.8))
        # A named kind beats the generic entropy finding over the same characters.
        return drop_overlaps(found, {"high_entropy_secret": 0})

    def redact(self, text: str, context: Context | None = None,
               findings: list[Finding] | None = None) -> str:
        return mask(text, self.check(text, context) if findings is None else findings,
                    lambda f: f"[SECRET:{f.kind}]")
