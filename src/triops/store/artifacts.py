"""Artifact storage: a local folder or any fsspec URL (s3://, gs://, memory://...).

Every path handed in comes from a user, so it is normalised and refused if it tries to
leave its root (``..``, absolute paths, NUL bytes).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import fsspec

from triops.core.errors import InvalidInput, NotFound

_COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ArtifactEntry:
    path: str
    is_dir: bool
    size: int | None


def safe_relpath(path: str) -> str:
    """Normalise a user-given relative path; refuse anything that escapes its root."""
    if "\x00" in path or "\\" in path:
        raise InvalidInput(f"artifact path {path!r} contains a forbidden character")
    if path.startswith("/"):
        raise InvalidInput(f"artifact path {path!r} must be relative")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InvalidInput(f"artifact path {path!r} must not contain '..'")
    return "/".join(parts)


class ArtifactStore:
    def __init__(self, location: str) -> None:
        self.fs, root = fsspec.core.url_to_fs(location)
        self.root = root.rstrip("/")
        self.fs.makedirs(self.root, exist_ok=True)

    def _full(self, relpath: str) -> str:
        rel = safe_relpath(relpath)
        return posixpath.join(self.root, rel) if rel else self.root

    def _fresh(self, relpath: str) -> str:
        """The full path, with what this process cached about it forgotten.

        Object-store filesystems (s3fs, gcsfs) keep directory listings for the life of the
        process; another replica's writes to the same bucket would stay invisible here.
        """
        full = self._full(relpath)
        self.fs.invalidate_cache(full)
        return full

    def write_stream(self, relpath: str, source: BinaryIO) -> int:
        full = self._full(relpath)
        self.fs.makedirs(posixpath.dirname(full), exist_ok=True)
        written = 0
        tmp = full + ".partial"
        with self.fs.open(tmp, "wb") as out:
            while chunk := source.read(_COPY_CHUNK):
                out.write(chunk)
                written += len(chunk)
        self.fs.mv(tmp, full)
        return written

    def write_bytes(self, relpath: str, data: bytes) -> None:
        import io

        self.write_stream(relpath, io.BytesIO(data))

    def open(self, relpath: str) -> BinaryIO:
        full = self._fresh(relpath)
        if not self.fs.isfile(full):
            raise NotFound(f"artifact {relpath!r} does not exist")
        return self.fs.open(full, "rb")

    def read_bytes(self, relpath: str) -> bytes:
        with self.open(relpath) as handle:
            return handle.read()

    def list(self, relpath: str = "") -> list[ArtifactEntry]:
        full = self._fresh(relpath)
        if not self.fs.exists(full):
            return []
        if self.fs.isfile(full):
            return []
        entries = []
        base = self.root + "/"
        for info in self.fs.ls(full, detail=True):
            name = info["name"].rstrip("/")
            if name.endswith(".partial"):
                continue
            rel = name[len(base):] if name.startswith(base) else posixpath.basename(name)
            is_dir = info["type"] == "directory"
            entries.append(ArtifactEntry(rel, is_dir, None if is_dir else info.get("size")))
        return sorted(entries, key=lambda e: e.path)

    def walk_files(self, relpath: str = "") -> Iterator[str]:
        for entry in self.list(relpath):
            if entry.is_dir:
                yield from self.walk_files(entry.path)
            else:
                yield entry.path

    def delete(self, relpath: str) -> None:
        full = self._fresh(relpath)
        if self.fs.exists(full):
            self.fs.rm(full, recursive=True)
