"""Personal data: emails, phone numbers, cards, IBANs, IP addresses, US SSNs, UK NINOs,
and people's names, places and organisations.

Each pattern entity is a pattern that finds candidates and a rule that accepts or refuses
them (Luhn, mod-97, issuer ranges, SSN and NINO rules, ``ipaddress``); the rules are what
tell a card from an order number that happens to be 16 digits long. Names, places and
organisations come from the tagger shipped in the package (``ner``), or from Presidio
when the ``presidio`` extra is installed and a rule sets ``ner = "presidio"``; they are
found only when a rule lists them, since a names model flags some ordinary words too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from triops.llm.guardrails._base import Context, Finding, drop_overlaps, mask
from triops.llm.guardrails._checksums import (
    IBAN_LENGTHS,
    card_issuer_ok,
    iban_ok,
    luhn_ok,
    nino_ok,
    ssn_ok,
)
from triops.llm.guardrails._registry import register

#: Top-level domains accepted after an ``@``: every two-letter country code plus the
#: common generic ones. ``weights@layer.shape`` in code has no such ending.
_GENERIC_TLDS = frozenset(["com", "org", "net", "edu", "gov", "mil", "int", "info", "biz", "name", "pro", "io", "ai", "app", "dev", "co", "me", "tv", "cloud", "online", "site", "tech", "shop", "store", "blog", "news", "email", "mail", "xyz", "club", "live", "health", "bank", "museum", "travel", "jobs", "mobi"])

_EMAIL = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24}))(?![\w-]|\.\w)")
#: International (+CC …), North American (NXX-NXX-XXXX, (NXX) NXX-XXXX) and national
#: numbers with a trunk 0 (UK, EU): the formats people write; other digit runs are ids.
_PHONE = re.compile(
    r"(?<![\w+.-])(?:"
    r"\+\d{1,3}(?:[\s.-]?\(?\d{1,4}\)?){1,2}(?:[\s.-]?\d{2,4}){1,3}"
    r"|\(?[2-9]\d{2}\)?[\s.-]?[2-9]\d{2}[\s.-]\d{4}"
    r"|0\d{2,4}[\s-]?\d{3,4}[\s-]?\d{3,4}"
    r")(?![\w-]|\.\d)")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_SSN = re.compile(r"(?<![\d-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\d-])")
_SSN_CONTEXT = re.compile(r"(?i)\b(ssn|social security|ss#|taxpayer)")
_NINO = re.compile(r"\b([A-Z]{2}) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([A-D])\b")
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|version|release|build)\s*$")


def _emails(text: str) -> Iterable[Finding]:
    for m in _EMAIL.finditer(text):
        tld = m.group(2).lower()
        if len(tld) == 2 or tld in _GENERIC_TLDS:
            yield Finding("email", m.start(), m.end())


def _phones(text: str) -> Iterable[Finding]:
    for m in _PHONE.finditer(text):
        raw = m.group(0).rstrip(" .-")
        digits = re.sub(r"\D", "", raw)
        low = 8 if raw.startswith("+") else 10
        if not low <= len(digits) <= 15 or len(set(digits)) < 3:
            continue
        seps = set(re.sub(r"[\d()+]", "", raw))
        if "." in seps and len(seps) > 1:
            continue  # "1.5 2.3 ..." lists of decimals, not a number to dial
        if re.fullmatch(r"(19|20)\d\d[-.]\d\d[-.]\d\d.*", raw):
            continue  # an ISO date with a time or id after it
        yield Finding("phone", m.start(), m.start() + len(raw))


def _cards(text: str) -> Iterable[Finding]:
    for m in _CARD.finditer(text):
        raw = m.group(0)
        seps = {c for c in raw if not c.isdigit()}
        if len(seps) > 1:
            continue  # mixed separators: not how a card number is written
        digits = raw.replace(" ", "").replace("-", "")
        if 13 <= len(digits) <= 19 and card_issuer_ok(digits) and luhn_ok(digits):
            yield Finding("credit_card", m.start(), m.end())


def _ibans(text: str) -> Iterable[Finding]:
    for m in _IBAN.finditer(text):
        raw = m.group(0)
        compact = raw.replace(" ", "")
        # The match may run into a following word: take the country's length only.
        want = IBAN_LENGTHS.get(compact[:2])
        if want is None or len(compact) < want:
            continue
        if iban_ok(compact[:want]):
            end, taken = m.start(), 0
            while taken < want:  # map back to the original characters, spaces included
                taken += raw[end - m.start()] != " "
                end += 1
            yield Finding("iban", m.start(), end)


def _ips(text: str) -> Iterable[Finding]:
    for m in _IPV4.finditer(text):
        if _VERSION_BEFORE.search(text[max(0, m.start() - 12):m.start()]):
            continue  # "version 10.2.0.1"
        try:
            ipaddress.IPv4Address(m.group(0))
        except ValueError:
            continue
        yield Finding("ip_address", m.start(), m.end())
    for m in _IPV6.finditer(text):
        raw = m.group(0)
        if raw.count(":") < 2 or len(raw) < 6 or not re.search(r"[0-9A-Fa-f]{2}", raw):
            continue  # "a::b", clock times and C++ scopes
        try:
            ipaddress.IPv6Address(raw)
        except ValueError:
            continue
        yield Finding("ip_address", m.start(), m.end())


def _ssns(text: str) -> Iterable[Finding]:
    for m in _SSN.finditer(text):
        area, sep, group, serial = m.groups()
        if not ssn_ok(area, group, serial):
            continue
        # Nine bare digits are far more often something else: require the word nearby.
        if not sep and not _SSN_CONTEXT.search(text[max(0, m.start() - 40):m.start()]):
            continue
        yield Finding("us_ssn", m.start(), m.end())


def _ninos(text: str) -> Iterable[Finding]:
    for m in _NINO.finditer(text):
        if nino_ok("".join(m.groups())):
            yield Finding("uk_nino", m.start(), m.end())


#: Entity → finder. Overlaps resolve in ``_PRIORITY`` order (most specific first).
FINDERS: dict[str, Callable[[str], Iterable[Finding]]] = {
    "email": _emails, "credit_card": _cards, "iban": _ibans, "us_ssn": _ssns,
    "uk_nino": _ninos, "ip_address": _ips, "phone": _phones,
}
_PRIORITY = {"email": 9, "credit_card": 8, "iban": 8, "us_ssn": 7, "uk_nino": 7,
             "ip_address": 6, "phone": 2, "person": 1, "location": 1, "organization": 1}
NER_ENTITIES = ("person", "location", "organization")
PRESIDIO_ENTITIES = {"person": "PERSON", "location": "LOCATION",
                     "organization": "ORGANIZATION"}


@register
class PII:
    """Personal data in text; ``redact`` replaces each finding with ``[KIND]``.

    >>> pii = PII(entities=["email", "credit_card"])
    >>> pii.redact("card 4111 1111 1111 1111, mail ada@example.org", None)
    'card [CREDIT_CARD], mail [EMAIL]'
    """

    name: ClassVar[str] = "pii"
    redacts: ClassVar[bool] = True

    def __init__(self, entities: list[str] | None = None, ner: str = "model",
                 ner_threshold: float | None = None, presidio_threshold: float = 0.6) -> None:
        known = set(FINDERS) | set(NER_ENTITIES)
        if entities is None:
            entities = list(FINDERS)
        unknown = sorted(set(entities) - known)
        if unknown:
            raise ValueError(f"unknown entities {unknown}; known: {sorted(known)}")
        if ner not in ("model", "presidio"):
            raise ValueError("ner must be 'model' (the shipped tagger) or 'presidio'")
        if ner_threshold is not None and not 0 < float(ner_threshold) < 1:
            raise ValueError("ner_threshold must be in (0, 1)")
        self.entities = list(entities)
        self.ner = ner
        wanted = tuple(e for e in entities if e in NER_ENTITIES)
        self._tagger = self._presidio = None
        self._wanted = wanted
        self._ner_threshold = None if ner_threshold is None else float(ner_threshold)
        if wanted and ner == "presidio":
            from triops.llm.guardrails import presidio

            if not presidio.available():
                raise ValueError(f"entities {list(wanted)} with ner = 'presidio' need "
                                 "Presidio: pip install 'triops[presidio]'")
            self._presidio = presidio.Recognizer([PRESIDIO_ENTITIES[e] for e in wanted],
                                                 presidio_threshold)
        elif wanted:
            from triops.llm.guardrails import ner as tagger

            self._tagger = tagger.load("ner")

    def check(self, text: str, context: Context | None = None) -> list[Finding]:
        found: list[Finding] = []
        for entity in self.entities:
            finder = FINDERS.get(entity)
            if finder is not None:
                found.extend(finder(text))
        if self._tagger is not None:
            found.extend(self._tagger.find(text, self._wanted, self._ner_threshold))
        if self._presidio is not None:
            found.extend(self._presidio.find(text))
        return drop_overlaps(found, _PRIORITY)

    def redact(self, text: str, context: Context | None = None,
               findings: list[Finding] | None = None) -> str:
        return mask(text, self.check(text, context) if findings is None else findings)

    def describe(self) -> dict[str, Any]:
        return {"entities": self.entities, "ner": self.ner}
