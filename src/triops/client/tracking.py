"""Experiment tracking with triops' native protocol.

Example (``tests/ml/test_sdk.py`` runs the same against a real server)::

    import triops
    with triops.start_run(experiment="churn", url=URL, api_key=KEY) as run:
        run.log_params({"alpha": 0.1, "depth": 6})
        for step in range(3):
            run.log_metric("rmse", 1.0 / (step + 1), step=step)
    assert run.status == "FINISHED"

No HTTP call is made per value: values are buffered and sent in large batches by a
background thread. When the server cannot be reached, batches are spooled to disk and
re-sent later, each applied exactly once (client-chosen run and batch ids).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson

from triops.client import _config
from triops.client.batcher import Batcher
from triops.client.delivery import Delivery, delivery_for
from triops.client.http import Rejected
from triops.client.spool import DEFAULT_ROOT, folder_for

log = logging.getLogger("triops.client")

_KEY = re.compile(r"^[/\w.\- :]{1,250}$")
_active: list[Run] = []
_active_lock = threading.Lock()


def _check_key(kind: str, key: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key) or key.startswith("/") \
            or ".." in key.split("/"):
        raise ValueError(f"invalid {kind} name {key!r}: use 1-250 letters, digits, spaces "
                         "or '_-.:/' (not starting with '/', no '..' parts)")
    return key


class Run:
    """A run being recorded. Use it as a context manager, or call ``end()``."""

    def __init__(self, delivery: Delivery, run_id: str, experiment: str, name: str, *,
                 batch_size: int, flush_interval_s: float) -> None:
        self.run_id = run_id
        self.experiment = experiment
        self.name = name
        self.status = "RUNNING"
        self.delivery = delivery
        self._batcher = Batcher(delivery, run_id, batch_size=batch_size,
                                flush_interval_s=flush_interval_s)
        self._params: dict[str, str] = {}
        self._metric_keys: set[str] = set()

    # -- values -----------------------------------------------------------------------

    def log_metric(self, key: str, value: float, step: int = 0,
                   timestamp: int | None = None) -> None:
        if key not in self._metric_keys:
            _check_key("metric", key)
            self._metric_keys.add(key)
        value = float(value)
        self._batcher.add_point((key, None if math.isnan(value) else value,
                                 timestamp if timestamp is not None else time.time_ns() // 1_000_000,
                                 int(step)))

    def log_metrics(self, metrics: dict[str, float], step: int = 0,
                    timestamp: int | None = None) -> None:
        ts = timestamp if timestamp is not None else time.time_ns() // 1_000_000
        points = []
        for key, value in metrics.items():
            if key not in self._metric_keys:
                _check_key("metric", key)
                self._metric_keys.add(key)
            value = float(value)
            points.append((key, None if math.isnan(value) else value, ts, int(step)))
        self._batcher.add_points(points)

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: dict[str, Any]) -> None:
        """Params are write-once (as in MLflow): a new value for a key raises here."""
        fresh = {}
        for key, value in params.items():
            text = str(value)
            old = self._params.get(_check_key("param", key))
            if old is not None and old != text:
                raise ValueError(f"param {key!r} was logged as {old!r}; params cannot change "
                                 f"(got {text!r})")
            fresh[key] = text
        self._params.update(fresh)
        self._batcher.add_entries("params", fresh)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        self._batcher.add_entries("tags", {_check_key("tag", k): str(v) for k, v in tags.items()})

    def log_dataset(self, data: Any, name: str, description: str = "") -> dict | None:
        """Register ``data`` (DataFrame, file or folder) as a dataset version used here."""
        return log_dataset(data, name=name, description=description, run=self)

    # -- lifecycle --------------------------------------------------------------------

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Send what is buffered and try the spool; True when nothing is left waiting."""
        self._batcher.flush()
        deadline = time.monotonic() + timeout_s
        while True:
            if self.delivery.drain():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.5, max(deadline - time.monotonic(), 0)))

    @property
    def errors(self) -> list[str]:
        """Requests the server refused (kept under ``rejected/`` in the spool folder);
        everything else is sent or spooled."""
        return list(self.delivery.rejected)

    def end(self, status: str = "FINISHED", timeout_s: float = 10.0) -> None:
        if self.status != "RUNNING":
            return
        self._batcher.close()
        try:
            self.delivery.send(f"/api/v1/runs/{self.run_id}/end",
                               orjson.dumps({"status": status,
                                             "end_time": time.time_ns() // 1_000_000}))
        except Rejected:
            pass  # e.g. the run was deleted meanwhile: kept and listed in ``errors``
        self.status = status
        with _active_lock:
            if self in _active:
                _active.remove(self)
        if not self.flush(timeout_s):
            log.warning("triops: %d requests of run %s wait in %s; they are re-sent on the "
                        "next start_run or flush", len(self.delivery.spool),
                        self.run_id, self.delivery.spool.folder)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.end("FAILED" if exc_type is not None else "FINISHED")


def _delivery(url: str | None, api_key: str | None, project: str | None,
              spool_dir: str | Path | None, max_backoff_s: float) -> Delivery:
    config = _config.current()
    if url is None:
        if config is None:
            raise ValueError("no triops server: pass url=... or call "
                             "triops.client.configure(url, api_key) first")
        url, api_key = config.url, api_key or config.api_key
        project = project or config.project
    root = Path(spool_dir) if spool_dir is not None else DEFAULT_ROOT
    return delivery_for(url, api_key, project, folder_for(root, url, project),
                        max_backoff_s=max_backoff_s)


def start_run(experiment: str = "Default", name: str | None = None, *,
              url: str | None = None, api_key: str | None = None,
              project: str | None = None, tags: dict[str, Any] | None = None,
              run_id: str | None = None, spool_dir: str | Path | None = None,
              batch_size: int = 10_000, flush_interval_s: float = 1.0,
              max_backoff_s: float = 30.0) -> Run:
    """Open a run in ``experiment`` (created on first use) and return it.

    Requests spooled by an earlier process for the same server are re-sent first.
    """
    delivery = _delivery(url, api_key, project, spool_dir, max_backoff_s)
    delivery.drain()
    run_id = run_id or uuid.uuid4().hex
    name = name or f"run-{run_id[:8]}"
    body = {"run_id": run_id, "experiment": experiment, "name": name,
            "start_time": time.time_ns() // 1_000_000,
            "tags": {_check_key("tag", k): str(v) for k, v in (tags or {}).items()}}
    delivery.send("/api/v1/runs", orjson.dumps(body))
    run = Run(delivery, run_id, experiment, name, batch_size=batch_size,
              flush_interval_s=flush_interval_s)
    with _active_lock:
        _active.append(run)
    return run


def active_run() -> Run | None:
    with _active_lock:
        return _active[-1] if _active else None


def log_dataset(data: Any, name: str, *, description: str = "", run: Run | None = None,
                url: str | None = None, api_key: str | None = None,
                project: str | None = None, spool_dir: str | Path | None = None
                ) -> dict | None:
    """Register a dataset version from a pandas DataFrame, a file or a folder.

    The content hash, schema, row count and column profile are computed here; only
    they are sent. With a run (the given one, else the active one), the run is
    recorded as using this version. Returns the version (``name``, ``version``,
    ``digest``…), or None when the server was unreachable and the request was spooled.
    """
    from triops.client.profile import describe

    run = run or active_run()
    d = describe(data)
    delivery = run.delivery if run is not None and url is None else _delivery(
        url, api_key, project, spool_dir, 30.0)
    body = {"digest": d.digest, "source_type": d.source_type, "source": d.source,
            "row_count": d.row_count, "columns": d.columns, "profile": d.profile,
            "description": description, "run_id": run.run_id if run is not None else None}
    if run is not None:
        run._batcher.flush()  # the run must exist server-side before it is named here
    return delivery.send(f"/api/v1/datasets/{name}/versions", orjson.dumps(body))
