"""Tokenising a log message and masking the tokens that are variables.

One set of generic rules serves every log source; nothing here knows any system.

Each whitespace-separated token gets one of three kinds:

* ``CONST`` - no digit in it: a word of the message (it may still turn out to be a
  variable when it differs between lines of one template; the miner learns that);
* ``STRONG`` - certainly a variable: a number, a hex value, an IP address (with port),
  a time or date, a UUID, a path or URL holding digits, or a word whose digits follow
  a separator (``blk_-42`` -> ``blk_<*>``, ``uid=0`` -> ``uid=<*>``);
* ``WEAK`` - a word glued to digits (``ssh2``, ``R02-M1-N0``): with the ``digit_words``
  masking rule (the default) grouped as a variable and written out as itself while it
  has not been seen to vary; without it, a constant like any word.

The grouping key of a token is ``<*>`` for ``WEAK`` tokens and its masked text for the
others; the masked text keeps the fixed prefix and brackets around a variable so that
templates read like Loghub's (``blk_<*>``, ``(uid=<*>)``, ``[<*>]``).
"""

from __future__ import annotations

import re

WILDCARD = "<*>"
WEAK_MARK = "<?>"
"""Grouping-key marker of a ``WEAK`` token: matches other weak tokens, shows its text."""
CONST, WEAK, STRONG = 0, 1, 2

_SPACE = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")
# Brackets and punctuation that wrap a value: kept around the wildcard.
_WRAP = re.compile(r"^([\[\](){}<>'\",;:=|#@]*)(.*?)([\[\](){}<>'\",;:.|#]*)$", re.DOTALL)
_STRONG_VALUE = re.compile(
    r"""^(?:
        [-+]?\d+(?:[.,:]\d+)*[a-zA-Z%]{0,3}           # numbers, versions, 12ms, 45%
      | [-+]?0[xX][0-9a-fA-F]+                        # hex with 0x
      | [0-9a-fA-F]{8,}                               # long hex with a digit (checked)
      | [0-9a-fA-F]+(?:-[0-9a-fA-F]+){2,}             # uuid-like
      | /?(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?            # IPv4[:port]
      | [0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}    # IPv6 / MAC
      | (?:[a-zA-Z][\w+.-]*:/)?/[^\s]*                # paths and URLs (checked for a digit)
      | [a-zA-Z0-9._-]+@[\w.-]+                       # user@host
    )$""",
    re.VERBOSE,
)
# An IPv4 address, shown as Loghub writes it: a leading slash and the port kept apart.
_IP_PORT = re.compile(r"^(/?)(?:\d{1,3}\.){3}\d{1,3}(:\d+)?$")
# Hex written without digits (``ffffffff``), alone or as a setting's value.
_HEX_WORD = re.compile(r"^[a-fA-F]{8,}$")
_HEX_VALUE = re.compile(r"^([A-Za-z_][\w.-]*[=:])[a-fA-F]{8,}([,;]?)$")
_NO_LETTER = re.compile(r"^[^A-Za-z]+$")
# A word prefix that ends in a separator, followed by a value with digits.
_PREFIXED = re.compile(
    r"^([A-Za-z][A-Za-z_.\-(]*?[_=:#.\-/@(])([-+]?[\w.:/\-#|,+]*\d[\w.:/\-#|,+]*)$"
)


_INNER_COMMA = re.compile(r"(?<=,)(?=[^\s,])")


def tokenize(content: str) -> tuple[list[str], list[str]]:
    """``(tokens, glue)``: the tokens of a message and what follows each.

    Tokens are split at whitespace and after a comma inside a word, so that
    ``a=1,b=2`` is two tokens; ``glue`` keeps what separated them for display.

    >>> tokenize("ready=true,policy=3 done")
    (['ready=true,', 'policy=3', 'done'], ['', ' ', ' '])
    """
    words = content.split()
    if "," not in content:
        return words, [" "] * len(words)
    tokens: list[str] = []
    glue: list[str] = []
    for word in words:
        if "," in word[:-1]:
            pieces = [p for p in _INNER_COMMA.split(word) if p]
            tokens.extend(pieces)
            glue.extend([""] * (len(pieces) - 1))
        else:
            tokens.append(word)
        glue.append(" ")
    return tokens, glue


def mask_token(token: str, digit_words: bool = True) -> tuple[str, str]:
    """``(grouping key, display text)`` of one token.

    >>> mask_token("blk_-1608999687919862906")
    ('blk_<*>', 'blk_<*>')
    >>> mask_token("[173.234.31.186]")
    ('[<*>]', '[<*>]')
    >>> mask_token("ssh2"), mask_token("ssh2", digit_words=False)
    (('<?>', 'ssh2'), ('ssh2', 'ssh2'))
    >>> mask_token("starting")
    ('starting', 'starting')
    """
    masked, kind = classify(token)
    if kind == WEAK:
        return (masked, token) if digit_words else (token, token)
    return masked, masked


def classify(token: str) -> tuple[str, int]:
    """``(masked text, kind)`` of one token: kind is ``CONST``, ``WEAK`` or ``STRONG``."""
    if token.isdigit():
        return WILDCARD, STRONG
    if _DIGIT.search(token) is None:
        if _HEX_WORD.match(token):
            return WILDCARD, STRONG
        m = _HEX_VALUE.match(token)
        if m is not None:
            return m.group(1) + WILDCARD + m.group(2), STRONG
        return token, CONST
    m = _WRAP.match(token)
    assert m is not None
    head, core, tail = m.groups()
    ip = _IP_PORT.match(core)
    if ip is not None:
        return head + ip.group(1) + WILDCARD + (
            ":" + WILDCARD if ip.group(2) else ""
        ) + tail, STRONG
    if _NO_LETTER.match(core) or _STRONG_VALUE.match(core):
        return head + WILDCARD + tail, STRONG
    p = _PREFIXED.match(core)
    if p is not None:
        return head + p.group(1) + WILDCARD + tail, STRONG
    return head + WEAK_MARK + tail, WEAK


_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
_CLOCK = r"\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?"
_TIMESTAMP = re.compile(
    rf"""(?<![\w.:])(?:
        (?:{_DAY},?\s+)?{_MONTH}\s+\d{{1,2}},?\s+(?:\d{{4}}\s+)?{_CLOCK}(?:\s+\d{{4}})?
      | \d{{4}}[-/]\d{{1,2}}[-/]\d{{1,2}}(?:[T\s]{_CLOCK}(?:Z|[+-]\d{{2}}:?\d{{2}})?)?
      | {_CLOCK}
    )(?![\w:])""",
    re.VERBOSE,
)


def mask_timestamps(content: str) -> str:
    """Replace dates and times written over several tokens by one wildcard.

    >>> mask_timestamps("connection from 1.2.3.4 () at Sun Jul  3 23:16:09 2005")
    'connection from 1.2.3.4 () at <*>'
    """
    if _DIGIT.search(content) is None:
        return content
    return _TIMESTAMP.sub(WILDCARD, content)
