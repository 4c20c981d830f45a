"""Serving endpoints: a registered model deployed under a name, with its traffic policy,
micro-batching and prediction-log settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base, JSONType


class ServingEndpoint(Base):
    __tablename__ = "serving_endpoints"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(256))
    #: ``@alias`` (the endpoint follows the alias when it moves) or a version number.
    model_ref: Mapped[str] = mapped_column(String(256))
    #: ``{"canary": {"ref": "@challenger", "percent": 10}, "shadow": {"ref": "@next"}}``
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    max_batch_size: Mapped[int] = mapped_column(Integer)
    max_wait_ms: Mapped[float] = mapped_column(Float)
    log_sample_rate: Mapped[float] = mapped_column(Float)
    trust_pickle: Mapped[bool] = mapped_column(Boolean)
    #: Extra skops type names an admin trusted, and the SHA-256 of the files that trust
    #: (and ``trust_pickle``) was granted for.
    trusted_types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    trusted_files: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_by: Mapped[str] = mapped_column(String(256))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
