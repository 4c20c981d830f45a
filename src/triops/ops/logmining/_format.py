"""Log format strings: ``<Date> <Time> <Level> <Component>: <Content>``.

A format string names header fields in angle brackets; everything between the
fields is a regular expression. The regex is built the way Loghub's parsers
(logpai/logparser) build it: each field becomes a lazy named group, each run of
spaces between fields matches one or more whitespace characters, and the whole
line must match. ``<Content>`` is the message that the miner learns from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from triops.core.errors import InvalidInput

CONTENT_FIELD = "Content"
_FIELD = re.compile(r"<([^<>]+)>")


@dataclass(frozen=True)
class LogFormat:
    """A compiled log format: the header field names, in order, and the line regex.

    >>> fmt = LogFormat.parse("<Date> <Time> <Level> <Component>: <Content>")
    >>> fmt.headers
    ('Date', 'Time', 'Level', 'Component', 'Content')
    >>> fmt.split("081109 203615 INFO dfs.DataNode: Receiving block blk_1")["Content"]
    'Receiving block blk_1'
    >>> fmt.split("not a matching line") is None
    True
    """

    text: str
    headers: tuple[str, ...]
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, text: str) -> LogFormat:
        if not text or not text.strip():
            raise InvalidInput("The log format is empty; give one like '<Date> <Time> <Content>'.")
        pieces = _FIELD.split(text)
        headers: list[str] = []
        pattern = ""
        for k, piece in enumerate(pieces):
            if k % 2 == 0:
                pattern += re.sub(r" +", r"\\s+", piece)
                continue
            name = piece.strip()
            if not name.isidentifier():
                raise InvalidInput(
                    f"The log format field <{piece}> is not a valid name; "
                    "use letters, digits and underscores, e.g. <Level>."
                )
            if name in headers:
                raise InvalidInput(f"The log format names the field <{name}> twice.")
            headers.append(name)
            pattern += f"(?P<{name}>.*?)"
        if CONTENT_FIELD not in headers:
            raise InvalidInput(
                "The log format has no <Content> field; it must name the message part, "
                "e.g. '<Date> <Time> <Level>: <Content>'."
            )
        try:
            regex = re.compile("^" + pattern + "$")
        except re.error as exc:
            raise InvalidInput(
                f"The log format is not a valid regular expression ({exc}); "
                "escape literal brackets as \\[ and \\]."
            ) from None
        return cls(text=text, headers=tuple(headers), regex=regex)

    def split(self, line: str) -> dict[str, str] | None:
        """The header fields of ``line``, or ``None`` when the line does not match."""
        match = self.regex.match(line.strip())
        if match is None:
            return None
        return {name: match.group(name) or "" for name in self.headers}
