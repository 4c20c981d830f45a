"""The server's monitoring service: a background thread that runs due monitors, one
worker that runs retraining off the request path, two for pipeline runs.

Started with the server (the runtime builds and starts it); ``close`` stops both. Of
several replicas on one store, the one holding the ``monitors`` lease
(``triops.store.leases``) runs the schedule, and each due run is also claimed by
compare-and-set, so a run is never started twice; a run whose replica died mid-way is
not repeated, and the next one falls due on time on the new holder. A retraining holds
a lease on its model while it runs, so a model is retrained by one replica at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from triops.core.errors import TriopsError
from triops.core.ids import now_ms
from triops.ml.monitoring.monitors import safe_run
from triops.ml.monitoring.spec import MonitorSpec
from triops.store.artifacts import ArtifactStore
from triops.store.engine import Database
from triops.store.leases import Lease
from triops.store.repos import monitoring as repo

log = logging.getLogger("triops.monitoring")


class MonitoringService:
    def __init__(self, db: Database, artifacts: ArtifactStore, tick_s: float = 5.0, *,
                 pipeline_modules: Collection[str] = ()) -> None:
        self.db, self.artifacts, self.tick_s = db, artifacts, tick_s
        self.pipeline_modules = pipeline_modules
        self.lease = Lease(db, "monitors")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._jobs = ThreadPoolExecutor(max_workers=1, thread_name_prefix="triops-retrain")
        # Pipeline runs asked for through the API get their own workers, so a request
        # never waits behind a long retraining.
        self._runs = ThreadPoolExecutor(max_workers=2, thread_name_prefix="triops-pipeline")
        self._retraining: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def start(self) -> MonitoringService:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="triops-monitors",
                                            daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                if self.lease.hold():
                    self.run_due()
            except Exception:
                log.exception("monitor scheduler tick failed")

    def run_due(self) -> int:
        """Run the monitors that are due and that this process claimed: replicas on one
        store each find the same monitors due, and each run goes to one of them."""
        at = now_ms()
        with self.db.read() as session:
            due = [(m.id, m.last_run_ms, m.project, m.name)
                   for m in repo.due_monitors(session, at)]
        claimed = []
        for monitor_id, seen, project, name in due:
            with self.db.write() as session:
                if repo.claim_due(session, monitor_id, seen, at):
                    claimed.append((project, name))
        for project, name in claimed:
            safe_run(self.db, self.artifacts, project, name, on_breach=self.on_breach)
        return len(claimed)

    def on_breach(self, project: str, name: str, kinds: list[str]) -> None:
        """Queue the monitor's retraining when its policy covers one of the breaches."""
        with self.db.read() as session:
            monitor = repo.get_monitor(session, project, name)
        spec = MonitorSpec.from_dict(monitor.spec)
        policy = spec.retrain
        if policy is None or not set(kinds) & set(policy.on) or spec.model is None:
            return
        key = (project, spec.model)
        with self._lock:
            if key in self._retraining:
                return  # one retraining per model at a time
            self._retraining.add(key)
        self._jobs.submit(self._retrain, key, spec, policy, f"monitor:{name}")

    def _retrain(self, key: tuple[str, str], spec: MonitorSpec, policy: Any, trigger: str
                 ) -> None:
        from triops.ml.pipelines import make_executor
        from triops.ml.retraining import retrain

        try:
            with Lease(self.db, f"retrain {key[0]}/{key[1]}") as held:
                if not held:
                    log.info("retraining %s is running on another replica", key)
                    return
                retrain(self.db, self.artifacts, key[0], model=key[1], alias=spec.alias,
                        policy=policy, trigger=trigger, executor=make_executor(policy.executor),
                        pipeline_modules=self.pipeline_modules)
        except TriopsError as exc:
            log.warning("retraining %s failed: %s", key, exc.message)
        except Exception:
            log.exception("retraining %s failed", key)
        finally:
            with self._lock:
                self._retraining.discard(key)

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Future:
        return self._runs.submit(fn, *args, **kwargs)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.lease.release()
        self._jobs.shutdown(wait=False, cancel_futures=True)
        self._runs.shutdown(wait=False, cancel_futures=True)
