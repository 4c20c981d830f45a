"""Files to documents: jsonl records, plain text, Markdown, HTML and PDF.

Every loader yields :class:`SourceDocument` s whose text keeps the structure the chunker
reads: Markdown headings as they are, HTML headings turned into Markdown ones, a PDF's
pages as paragraphs (pypdf extracts the text; a scanned PDF without a text layer gives
none and is refused).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from triops.core.errors import InvalidInput
from triops.core.jsonl import objects

SUFFIXES = (".jsonl", ".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
#: jsonl keys that are the record itself; every other key is metadata.
_RECORD_KEYS = ("_id", "id", "title", "text")


@dataclass(frozen=True)
class SourceDocument:
    doc_id: str
    text: str
    title: str = ""
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _jsonl(name: str, data: bytes) -> Iterator[SourceDocument]:
    for number, record in objects(data.decode("utf-8", errors="replace").splitlines(), name):
        doc_id = record.get("_id", record.get("id"))
        if not isinstance(doc_id, str | int) or isinstance(doc_id, bool) or str(doc_id) == "":
            raise InvalidInput(f"{name} line {number} needs an '_id' (a string or a number)")
        text = record.get("text", "")
        title = record.get("title", "")
        if not isinstance(text, str) or not isinstance(title, str):
            raise InvalidInput(f"{name} line {number}: 'text' and 'title' must be strings")
        meta = {k: v for k, v in record.items() if k not in _RECORD_KEYS}
        yield SourceDocument(str(doc_id), text, title, name, meta)


class _HtmlText(HTMLParser):
    """Visible text of an HTML page; h1–h6 become Markdown headings, blocks paragraphs."""

    _BLOCKS = frozenset({"p", "div", "li", "tr", "br", "section", "article", "pre",
                         "blockquote", "table", "ul", "ol", "dd", "dt"})
    _HIDDEN = frozenset({"script", "style", "noscript", "template", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title = ""
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        if tag == "title":
            self._in_title = True
        if len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self._BLOCKS:
            self.out.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        if tag == "title":
            self._in_title = False
        if (len(tag) == 2 and tag[0] == "h" and tag[1] in "123456") or tag in self._BLOCKS:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data.strip()
        elif not self._hidden:
            words = " ".join(data.split())
            before = " " if data[:1].isspace() else ""
            after = " " if data[-1:].isspace() else ""
            self.out.append(before + words + after if words else before)


def html_text(data: str) -> tuple[str, str]:
    """(title, text with Markdown headings) of an HTML page."""
    parser = _HtmlText()
    parser.feed(data)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).splitlines()]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return parser.title, text.strip()


def pdf_text(name: str, data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"{name} is not a readable PDF: {exc}") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise InvalidInput(f"{name} has no text layer (a scanned PDF needs OCR first)")
    return text


def _first_heading(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def from_bytes(name: str, data: bytes, doc_id: str | None = None,
               meta: dict[str, Any] | None = None) -> Iterator[SourceDocument]:
    """The documents a file holds, by its name's suffix (a jsonl file holds many)."""
    suffix = Path(name).suffix.lower()
    meta = dict(meta or {})
    ident = doc_id or name
    if suffix == ".jsonl":
        yield from _jsonl(name, data)
        return
    if suffix == ".pdf":
        yield SourceDocument(ident, pdf_text(name, data), Path(name).stem, name, meta)
        return
    text = data.decode("utf-8", errors="replace")
    if suffix in (".html", ".htm"):
        title, body = html_text(text)
        yield SourceDocument(ident, body, title or _first_heading(body) or Path(name).stem,
                             name, meta)
    elif suffix in (".md", ".markdown", ".txt", ""):
        yield SourceDocument(ident, text, _first_heading(text) or Path(name).stem, name, meta)
    else:
        raise InvalidInput(f"{name}: cannot read '{suffix}' files; known: {', '.join(SUFFIXES)}")


def from_path(path: Path) -> Iterator[SourceDocument]:
    """A file's documents, or every readable file's under a folder (ids: relative paths)."""
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            if file.suffix.lower() in SUFFIXES:
                yield from from_bytes(str(file.relative_to(path)), file.read_bytes())
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    yield from from_bytes(path.name, data)
