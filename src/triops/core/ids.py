"""Identifiers and time, in one place so that tests can reason about them."""

from __future__ import annotations

import time
import uuid


def new_id() -> str:
    """A random 32-character hex id (MLflow's run id shape)."""
    return uuid.uuid4().hex


def now_ms() -> int:
    """Wall-clock time in integer milliseconds since the epoch."""
    return time.time_ns() // 1_000_000
