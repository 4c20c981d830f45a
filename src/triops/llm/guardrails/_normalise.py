"""Undoing the usual obfuscations before phrases are matched.

Attackers write "IGNORE", "i g n o r e", "ıgnоre" (Cyrillic о), "1gn0r3", zero-width
joiners inside words, or a base64 chunk that decodes to the instruction. ``variants``
returns the text in the forms worth matching: plain lower case, with homoglyphs and
spacing undone, with leetspeak undone, and any decoded base64 chunks.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata


class CharMap:
    """Replaces single characters, like ``str.translate`` with a table, but by a regular
    expression over the mapped characters: ``translate`` looks every character up in its
    table once the text has a single non-ASCII one (a typographic apostrophe is enough),
    about 0.25 ms per 1,000 characters, while a text with none of the mapped characters
    costs one scan here, a tenth of that.

    >>> CharMap({"0": "o", "1": "i"})("1gn0re 2,000 rules’")
    'ignore 2,ooo rules’'
    """

    def __init__(self, mapping: dict[str, str]) -> None:
        self._mapping = mapping
        self._pattern = re.compile("[" + re.escape("".join(mapping)) + "]")

    def __call__(self, text: str) -> str:
        return self._pattern.sub(lambda m: self._mapping[m.group()], text)


#: Letters from other scripts that render like Latin ones (Unicode confusables, the
#: subset seen in prompt attacks: Cyrillic, Greek, and dotless i).
HOMOGLYPHS = CharMap({
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "ӏ": "l", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v",
    "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ı": "i", "ɡ": "g", "ɑ": "a",
})
_LEET = CharMap({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                 "@": "a", "$": "s", "!": "i", "|": "l"})
_ZERO_WIDTH = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")
_SPACED = re.compile(r"\b(?:\w[ .\-_*]){3,}\w\b")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")


def fold(text: str) -> str:
    """Lower case, compatibility forms (full-width letters…), no zero-width characters."""
    return unicodedata.normalize("NFKC", _ZERO_WIDTH.sub("", text)).lower()


def unspace(text: str) -> str:
    """Join letters written one by one: "i g n o r e" → "ignore".

    >>> unspace("please i g n o r e all")
    'please ignore all'
    """
    return _SPACED.sub(lambda m: re.sub(r"[ .\-_*]", "", m.group(0)), text)


def decoded_chunks(text: str, limit: int = 8) -> list[str]:
    """Base64 chunks in the text that decode to mostly printable text."""
    out = []
    for m in _BASE64.finditer(text):
        chunk = m.group(0)
        try:
            raw = base64.b64decode(chunk + "=" * (-len(chunk) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if decoded and sum(c.isprintable() or c.isspace() for c in decoded) / len(decoded) > 0.95:
            out.append(decoded)
        if len(out) >= limit:
            break
    return out


def variants(text: str) -> list[tuple[str, str]]:
    """(how, text) pairs to match phrases against, the plainest first."""
    folded = re.sub(r"\s+", " ", fold(text))
    forms = [("plain", folded)]
    latin = HOMOGLYPHS(folded)
    if latin != folded:
        forms.append(("homoglyphs", latin))
    joined = unspace(latin)
    if joined != latin:
        forms.append(("spacing", joined))
    leet = _LEET(joined)
    if leet != joined:
        forms.append(("leetspeak", leet))
    for chunk in decoded_chunks(text):
        forms.append(("base64", re.sub(r"\s+", " ", HOMOGLYPHS(fold(chunk)))))
    return forms
