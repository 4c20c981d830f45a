"""Registered prompts in application code: ``triops.prompts.get("support", label="production")``.

A fetched prompt is kept in memory for ``ttl_s`` seconds and written to a cache file.
When the server cannot be reached (or answers 5xx), the last good copy is used — from
memory, else from the cache file — so an application keeps answering through a
registry outage. A prompt the server says does not exist is an error, never a stale copy.

>>> p = Prompt.from_json({"name": "hi", "version": 1, "label": None, "kind": "text",
...     "template": {"text": "Hello {{ who }}"}, "variables": ["who"], "model": None,
...     "params": {}})
>>> p.render(who="Ada")
'Hello Ada'
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from triops.client._config import ClientConfig, current
from triops.client.errors import InvalidInput, NotFound, UpstreamError
from triops.client.template import PromptTemplate

DEFAULT_TTL_S = 60.0


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    label: str | None
    model: str | None
    params: dict[str, Any]
    template: PromptTemplate
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    #: True when this copy came from a cache because the server could not be reached.
    stale: bool = False

    @classmethod
    def from_json(cls, got: dict[str, Any], stale: bool = False) -> Prompt:
        return cls(name=got["name"], version=got["version"], label=got.get("label"),
                   model=got.get("model"), params=dict(got.get("params") or {}),
                   template=PromptTemplate.from_stored(got["kind"], got["template"],
                                                       list(got["variables"])),
                   raw=got, stale=stale)

    @property
    def variables(self) -> tuple[str, ...]:
        return self.template.variables

    def render(self, **variables: Any) -> str:
        return self.template.render(**variables)

    def messages(self, **variables: Any) -> list[dict[str, str]]:
        return self.template.messages(**variables)


_memory: dict[str, tuple[float, Prompt]] = {}
_lock = threading.Lock()


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "triops" / "prompts"


def _key(cfg: ClientConfig, name: str, label: str | None, version: int | None) -> str:
    ref = f"{name}@{label}" if label else (f"{name}@{version}" if version else name)
    return f"{cfg.url}|{cfg.project or ''}|{ref}"


def _cache_file(cache_dir: Path, key: str) -> Path:
    return cache_dir / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")


def _fetch(cfg: ClientConfig, name: str, label: str | None, version: int | None,
           timeout_s: float) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if label:
        params["label"] = label
    if version:
        params["version"] = version
    response = httpx.get(f"{cfg.url}/api/v1/prompts/{name}/resolve", params=params,
                         headers=cfg.headers(), timeout=timeout_s)
    if response.status_code == 404:
        raise NotFound(response.json().get("message", f"prompt {name!r} not found"))
    if 400 <= response.status_code < 500:
        raise InvalidInput(response.json().get("message", response.text[:300]))
    response.raise_for_status()  # 5xx: treated like an unreachable server
    return response.json()


def get(name: str, label: str | None = None, version: int | None = None, *,
        ttl_s: float = DEFAULT_TTL_S, cache_dir: Path | str | None = None,
        timeout_s: float = 5.0) -> Prompt:
    """The prompt ``name`` at ``label`` or ``version`` (latest when neither is given)."""
    cfg = current()
    if cfg is None:
        raise InvalidInput("the triops SDK is not configured: call triops.client.configure("
                           "url, api_key) or triops.client.from_env() first")
    if label and version:
        raise InvalidInput("ask for a label or a version, not both")
    key = _key(cfg, name, label, version)
    now = time.monotonic()
    with _lock:
        hit = _memory.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    folder = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    try:
        got = _fetch(cfg, name, label, version, timeout_s)
    except (httpx.HTTPError, ValueError) as exc:
        if hit is not None:
            return Prompt.from_json(hit[1].raw, stale=True)
        path = _cache_file(folder, key)
        if path.is_file():
            return Prompt.from_json(json.loads(path.read_text(encoding="utf-8")), stale=True)
        raise UpstreamError(f"cannot fetch prompt {name!r} from {cfg.url} and no cached copy "
                            f"exists: {exc}") from None
    prompt = Prompt.from_json(got)
    with _lock:
        _memory[key] = (now + ttl_s, prompt)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = _cache_file(folder, key)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(got), encoding="utf-8")
        tmp.replace(path)  # atomic: a reader never sees half a file
    except OSError:
        pass  # the disk cache is a fallback; failing to write it must not fail the call
    return prompt


def clear_memory() -> None:
    """Forget in-memory copies (the cache files stay)."""
    with _lock:
        _memory.clear()
