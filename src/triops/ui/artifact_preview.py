"""What the run page's artifact browser shows of one file: an image, a table, text, or
only its size.

Only the first ``PREVIEW_BYTES`` of a file are read: a 2 GB model file costs the page
nothing. A file is text when its first bytes decode as UTF-8 with no NUL byte, whatever
its name (``MLmodel``, ``requirements.txt`` and ``conda.yaml`` have no telling suffix).
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from dataclasses import dataclass, field

PREVIEW_BYTES = 256 * 1024
TABLE_ROWS = 100

#: Image types a browser shows in ``<img>`` (an SVG there runs no script).
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp", ".svg": "image/svg+xml"}
TABLE_DELIMITERS = {".csv": ",", ".tsv": "\t"}


@dataclass
class Preview:
    kind: str  # "image", "table", "text" or "binary"
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False


def media_type(path: str) -> str:
    """The type a file is served with: images as themselves, everything else as bytes
    (so that no artifact is ever rendered as a page of this origin)."""
    return IMAGE_TYPES.get(posixpath.splitext(path)[1].lower(), "application/octet-stream")


def preview(path: str, head: bytes, size: int | None) -> Preview:
    """The preview of a file named ``path`` whose first bytes are ``head``.

    >>> preview("metrics.csv", b"step,loss\\n0,1.5\\n1,0.9\\n", 22).rows
    [['0', '1.5'], ['1', '0.9']]
    >>> preview("model.pkl", b"\\x80\\x04\\x95\\x00", 4).kind
    'binary'
    """
    suffix = posixpath.splitext(path)[1].lower()
    if suffix in IMAGE_TYPES:
        return Preview("image")
    truncated = size is not None and size > len(head)
    text = _text(head, truncated)
    if text is None:
        return Preview("binary")
    if suffix in TABLE_DELIMITERS:
        rows = list(csv.reader(io.StringIO(text), delimiter=TABLE_DELIMITERS[suffix]))
        if rows:
            body = rows[1:TABLE_ROWS + 1]
            return Preview("table", header=rows[0], rows=body,
                           truncated=truncated or len(rows) > TABLE_ROWS + 1)
    if suffix == ".json" and not truncated:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass  # shown as written
    return Preview("text", text=text, truncated=truncated)


def _text(head: bytes, truncated: bool) -> str | None:
    if b"\x00" in head:
        return None
    try:
        return head.decode()
    except UnicodeDecodeError as exc:
        # A cut through a multi-byte character at the end is still text.
        if truncated and exc.start >= len(head) - 3:
            return head[:exc.start].decode()
        return None
