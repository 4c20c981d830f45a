"""Files uploaded through the OpenAI-compatible ``/v1/files`` API.

The bytes live in the artifact store (``path``); this table holds what the API lists and
what fine-tuning jobs and vector stores point at.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base


class StoredFile(Base):
    __tablename__ = "llm_files"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    filename: Mapped[str] = mapped_column(String(512))
    purpose: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(BigInteger)
    #: Where the content lies, relative to the artifact store's root.
    path: Mapped[str] = mapped_column(String(700))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))

    __table_args__ = (
        Index("ix_llm_files_listing", "project", "created_ms", "id"),
    )
