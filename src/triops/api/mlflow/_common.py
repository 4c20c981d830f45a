"""Request shapes shared by the MLflow routers, and the caller's store."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request

from triops.core.errors import InvalidInput
from triops.server.runtime import runtime_of
from triops.store.engine import Database

VIEW_TYPES = {"ACTIVE_ONLY", "DELETED_ONLY", "ALL"}


class Message(BaseModel):
    """MLflow requests carry fields a server may not know; they are ignored, as MLflow does."""

    model_config = ConfigDict(extra="ignore")


class KeyValue(Message):
    key: str
    value: str | None = None


def db_of(request: Request) -> Database:
    return runtime_of(request).db


def pairs(items: list[KeyValue] | None) -> list[tuple[str, str]]:
    return [(kv.key, kv.value if kv.value is not None else "") for kv in items or []]


def view_type(value: str | int | None) -> str:
    if value is None or value == "":
        return "ACTIVE_ONLY"
    # The enum may arrive as its name or its number (ACTIVE_ONLY=1, DELETED_ONLY=2, ALL=3).
    by_number = {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}
    name = by_number.get(int(value)) if str(value).isdigit() else str(value).upper()
    if name not in VIEW_TYPES:
        raise InvalidInput(f"view type {value!r} is not one of {sorted(VIEW_TYPES)}")
    return name


def max_results(value: int | None, default: int, limit: int) -> int:
    if value is None or value == 0:
        return default
    if value < 0 or value > limit:
        raise InvalidInput(f"max_results must be between 1 and {limit}, got {value}")
    return value


def required(value: str | None, name: str) -> str:
    if not value:
        raise InvalidInput(f"Missing value for required parameter '{name}'.")
    return value


def int_query(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"parameter '{name}' must be an integer, got {raw!r}") from None
