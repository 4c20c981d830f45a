"""Requests waiting on disk for a server that could not be reached.

One file per request, written to a temporary name, fsync'd, then renamed into place
(and the folder fsync'd), so a crash leaves either the whole request or nothing.
File names sort in the order requests were made; they are re-sent in that order and
removed only after the server acknowledged them. Every spooled request is idempotent
(client-chosen run ids and batch ids), so a file sent twice — by two processes, or
because the process died between the reply and the removal — changes nothing twice.
No credentials are written: files are re-sent with the key of whoever drains them.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

DEFAULT_ROOT = Path.home() / ".triops" / "spool"
_counter = itertools.count()


@dataclass(frozen=True)
class Entry:
    file: Path
    path: str
    body: bytes


def folder_for(root: Path, url: str, project: str | None) -> Path:
    """One sub-folder per server and project, so entries go back where they belong."""
    tag = hashlib.sha256(f"{url.rstrip('/')}\0{project or ''}".encode()).hexdigest()[:16]
    return root / tag


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()

    def put(self, path: str, body: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid():07d}-{next(_counter):09d}.req"
        final = self.folder / name
        tmp = self.folder / f".{name}.tmp"
        record = orjson.dumps({"path": path}) + b"\n" + body
        with self._lock:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, record)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
            self._sync_folder()
        return final

    def _sync_folder(self) -> None:
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.suffix == ".req")

    def __len__(self) -> int:
        return len(self.pending())

    @staticmethod
    def load(file: Path) -> Entry:
        head, _, body = file.read_bytes().partition(b"\n")
        meta: dict[str, Any] = orjson.loads(head)
        return Entry(file, meta["path"], body)

    @staticmethod
    def done(file: Path) -> None:
        file.unlink(missing_ok=True)

    def keep_rejected(self, path: str, body: bytes, reason: str) -> Path:
        """Write a request the server refused straight into ``rejected/``."""
        return self.reject(self.put(path, body), reason)

    def reject(self, file: Path, reason: str) -> Path:
        """Keep a refused request aside (with the reason) instead of deleting data."""
        folder = self.folder / "rejected"
        folder.mkdir(exist_ok=True)
        target = folder / file.name
        os.replace(file, target)
        target.with_suffix(".reason").write_text(reason)
        return target
