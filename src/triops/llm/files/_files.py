"""Files of a project: bytes in the artifact store, one row each in the database.

What ``/v1/files`` serves, and what fine-tuning jobs and vector stores read their input
from and write their results to. Every function is scoped to one project: a file of
another project answers as one that does not exist.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, BinaryIO

from triops.core.errors import InvalidInput
from triops.core.ids import new_id, now_ms
from triops.llm.files._formats import check_chat_jsonl
from triops.store import Database
from triops.store.artifacts import ArtifactStore
from triops.store.repos import llm_files as repo
from triops.store.schema_llm_files import StoredFile

#: Purposes a client may upload a file for (OpenAI's list).
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
#: Purposes of files triops writes itself, such as a fine-tuning job's result metrics.
OUTPUT_PURPOSES = ("fine-tune-results", "batch_output", "assistants_output")
MAX_FILENAME = 512
MAX_LIST = 10_000


@dataclass(frozen=True)
class FileInfo:
    id: str
    filename: str
    purpose: str
    bytes: int
    created_ms: int
    created_by: str

    def as_openai(self) -> dict[str, Any]:
        """The file object as OpenAI's API returns it."""
        return {"id": self.id, "object": "file", "bytes": self.bytes,
                "created_at": self.created_ms // 1000, "filename": self.filename,
                "purpose": self.purpose, "status": "processed", "expires_at": None,
                "status_details": None}


def _info(row: StoredFile) -> FileInfo:
    return FileInfo(id=row.id, filename=row.filename, purpose=row.purpose, bytes=row.bytes,
                    created_ms=row.created_ms, created_by=row.created_by)


def _check_filename(filename: str) -> str:
    name = filename.strip()
    if not name:
        raise InvalidInput("the file needs a name")
    if len(name) > MAX_FILENAME or "\x00" in name:
        raise InvalidInput(f"the file name must be at most {MAX_FILENAME} characters, no NUL")
    return name


def store(db: Database, artifacts: ArtifactStore, project: str, *, filename: str,
          purpose: str, source: BinaryIO, actor: str, output: bool = False) -> FileInfo:
    """Keep ``source`` (read from its start) as a new file of ``project``.

    ``output``: the file is one triops wrote (a job's results), so output purposes are
    allowed too. A file for ``fine-tune`` must be chat JSONL (see ``check_chat_jsonl``).
    """
    allowed = UPLOAD_PURPOSES + OUTPUT_PURPOSES if output else UPLOAD_PURPOSES
    if purpose not in allowed:
        raise InvalidInput(f"purpose must be one of {', '.join(allowed)}, not {purpose!r}")
    name = _check_filename(filename)
    if purpose == "fine-tune":
        check_chat_jsonl(source)
        source.seek(0)
    file_id = f"file-{new_id()[:24]}"
    path = f"files/{project}/{file_id}"
    size = artifacts.write_stream(path, source)
    row = StoredFile(id=file_id, project=project, filename=name, purpose=purpose, bytes=size,
                     path=path, created_ms=now_ms(), created_by=actor)
    try:
        with db.write() as session:
            return _info(repo.add(session, row))
    except BaseException:
        artifacts.delete(path)
        raise


def store_bytes(db: Database, artifacts: ArtifactStore, project: str, *, filename: str,
                purpose: str, data: bytes, actor: str, output: bool = False) -> FileInfo:
    import io

    return store(db, artifacts, project, filename=filename, purpose=purpose,
                 source=io.BytesIO(data), actor=actor, output=output)


def get(db: Database, project: str, file_id: str) -> FileInfo:
    with db.read() as session:
        return _info(repo.get(session, project, file_id))


def listing(db: Database, project: str, *, purpose: str | None = None, limit: int = MAX_LIST,
            order: str = "desc", after: str | None = None) -> tuple[list[FileInfo], bool]:
    """A page of files, newest first unless ``order`` is ``asc``; and whether more follow."""
    if order not in ("asc", "desc"):
        raise InvalidInput(f"order must be 'asc' or 'desc', not {order!r}")
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}")
    with db.read() as session:
        rows = repo.page(session, project, purpose=purpose, limit=limit + 1,
                         newest_first=order == "desc", after=after)
    return [_info(r) for r in rows[:limit]], len(rows) > limit


def delete(db: Database, artifacts: ArtifactStore, project: str, file_id: str) -> None:
    with db.write() as session:
        path = repo.remove(session, project, file_id).path
    # The row is gone first: a failure here leaves unreferenced bytes, never a listed
    # file without content.
    with contextlib.suppress(OSError):
        artifacts.delete(path)


def open_content(db: Database, artifacts: ArtifactStore, project: str, file_id: str
                 ) -> BinaryIO:
    with db.read() as session:
        path = repo.get(session, project, file_id).path
    return artifacts.open(path)


def read_content(db: Database, artifacts: ArtifactStore, project: str, file_id: str) -> bytes:
    with open_content(db, artifacts, project, file_id) as handle:
        return handle.read()
