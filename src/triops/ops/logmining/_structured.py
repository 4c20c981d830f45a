"""Reading a log file into structured rows, Loghub's way.

Line handling, defined once for the library, the CLI and the benchmark:

* Every physical line of the file is one log line; ``LineId`` is its number from 1,
  so it equals Loghub's ``LineId`` (the 2k files have 2,000 lines, all matching).
  A trailing newline at the end of the file does not make an extra line; a
  Windows ``\\r\\n`` ending is stripped.
* Bytes that are not UTF-8 are decoded with the replacement character and counted.
* A line that does not match the format is **kept**: its header fields are empty and
  the whole line is its ``Content``; such lines are counted as ``unmatched``.
* A message longer than ``MinerConfig.max_content_chars`` is mined on its first
  ``max_content_chars`` characters (counted as ``truncated``); the output keeps the
  whole message.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from triops.ops.logmining._format import CONTENT_FIELD, LogFormat
from triops.ops.logmining._miner import TemplateMiner


@dataclass
class ParseStats:
    lines: int = 0
    unmatched: int = 0
    invalid_utf8_lines: int = 0
    truncated: int = 0
    new_templates: int = 0
    templates: int = 0


@dataclass
class ParsedLog:
    """Every line's fields and template id, plus what happened on the way."""

    headers: tuple[str, ...]
    fields: list[tuple[str, ...]] = field(default_factory=list)
    template_ids: list[int] = field(default_factory=list)
    stats: ParseStats = field(default_factory=ParseStats)


def read_lines(stream: IO[bytes], stats: ParseStats | None = None) -> Iterator[str]:
    """Decode a byte stream line by line; invalid UTF-8 is replaced and counted."""
    decoder_errors = "replace"
    for raw in stream:
        if raw.endswith(b"\n"):
            raw = raw[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = codecs.decode(raw, "utf-8", decoder_errors)
            if stats is not None:
                stats.invalid_utf8_lines += 1
        yield text


def parse_lines(lines: Iterable[str], log_format: LogFormat, miner: TemplateMiner) -> ParsedLog:
    """Split each line by the format and mine its ``Content``."""
    parsed = ParsedLog(headers=log_format.headers)
    stats = parsed.stats
    content_at = log_format.headers.index(CONTENT_FIELD)
    limit = miner.config.max_content_chars
    empty = tuple("" for _ in log_format.headers)
    for line in lines:
        stats.lines += 1
        values = log_format.split(line)
        if values is None:
            stats.unmatched += 1
            row = list(empty)
            row[content_at] = line.strip()
            fields = tuple(row)
        else:
            fields = tuple(values[h] for h in log_format.headers)
        content = fields[content_at]
        if len(content) > limit:
            stats.truncated += 1
        match = miner.add(content)
        stats.new_templates += match.is_new
        parsed.fields.append(fields)
        parsed.template_ids.append(match.template_id)
    stats.templates = len(miner.templates)
    return parsed


def parse_file(path: str | Path, log_format: LogFormat, miner: TemplateMiner) -> ParsedLog:
    """:func:`parse_lines` over a file, read as bytes and decoded as described above."""
    stats = ParseStats()
    with open(path, "rb") as stream:
        parsed = parse_lines(read_lines(stream, stats), log_format, miner)
    parsed.stats.invalid_utf8_lines = stats.invalid_utf8_lines
    return parsed


def event_id(template_id: int) -> str:
    """Loghub's spelling of a template id."""
    return f"E{template_id}"


def write_structured(parsed: ParsedLog, miner: TemplateMiner, out: IO[str]) -> None:
    """Write Loghub's structured CSV: ``LineId``, the header fields, ``EventId``,
    ``EventTemplate``; ids and templates are the final ones after every merge."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["LineId", *parsed.headers, "EventId", "EventTemplate"])
    texts: dict[int, tuple[str, str]] = {}
    for line_id, (fields, tid) in enumerate(zip(parsed.fields, parsed.template_ids), start=1):
        hit = texts.get(tid)
        if hit is None:
            live = miner.resolve(tid)
            hit = texts[tid] = (event_id(live), miner.template(live).text)
        writer.writerow([line_id, *fields, *hit])
