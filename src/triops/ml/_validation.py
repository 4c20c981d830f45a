"""MLflow's limits on what a run may record, checked before anything is written."""

from __future__ import annotations

import re
from collections.abc import Sequence

from triops.core.errors import InvalidInput

MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
MAX_BATCH_TOTAL = 1000
_KEY = re.compile(r"^[/\w.\- :]*$")


def check_key(kind: str, key: str) -> None:
    if not key:
        raise InvalidInput(f"Missing value for required parameter '{kind} key'.")
    if len(key) > MAX_KEY:
        raise InvalidInput(f"{kind} key '{key[:40]}...' had length {len(key)}, "
                           f"which exceeded length limit of {MAX_KEY}")
    if not _KEY.match(key):
        raise InvalidInput(
            f"Invalid {kind} name: '{key}'. Names may only contain alphanumerics, "
            "underscores (_), dashes (-), periods (.), spaces ( ), colons(:) and slashes (/).")
    # Keys name files in some stores: refuse anything that is not a plain relative path.
    if key.startswith("/") or ".." in key.split("/"):
        raise InvalidInput(f"Invalid {kind} name: '{key}'. Names may be treated as files "
                           "in certain cases, and must not resolve to other names.")


def check_params(params: dict[str, str]) -> None:
    for key, value in params.items():
        check_key("param", key)
        if value is None:
            raise InvalidInput(f"Param '{key}' has no value")
        if len(value) > MAX_PARAM_VALUE:
            raise InvalidInput(
                f"Param value '{value[:40]}...' had length {len(value)}, which exceeded "
                f"length limit of {MAX_PARAM_VALUE}")


def check_tags(tags: dict[str, str]) -> None:
    for key, value in tags.items():
        check_key("tag", key)
        if value is not None and len(value) > MAX_TAG_VALUE:
            raise InvalidInput(
                f"Tag value '{value[:40]}...' had length {len(value)}, which exceeded "
                f"length limit of {MAX_TAG_VALUE}")


def check_metrics(keys: Sequence[str]) -> None:
    for key in set(keys):  # a batch repeats few keys many times
        check_key("metric", key)


def check_batch(metrics: int, params: int, tags: int) -> None:
    if metrics > MAX_BATCH_METRICS or params > MAX_BATCH_PARAMS or tags > MAX_BATCH_TAGS \
            or metrics + params + tags > MAX_BATCH_TOTAL:
        raise InvalidInput(
            f"A batch logging request can contain at most {MAX_BATCH_METRICS} metrics, "
            f"{MAX_BATCH_PARAMS} params, {MAX_BATCH_TAGS} tags and {MAX_BATCH_TOTAL} items "
            f"in total; got {metrics} metrics, {params} params and {tags} tags")


def pairs_to_dict(kind: str, pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Key/value pairs as a dict; one key twice with two values in one request is refused."""
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out and out[key] != value and kind == "param":
            raise InvalidInput(
                f"Duplicate parameter keys have been submitted: key '{key}' with values "
                f"'{out[key]}' and '{value}'")
        out[key] = value
    return out
