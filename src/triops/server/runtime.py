"""What a running server holds: settings, database, artifact store and the long-lived
services each pillar runs inside the server (gateway, prompt cache, serving, monitoring,
online evals, detector cache, incident causes).

Built once at start-up and handed to routers and pages through
``request.app.state.runtime``. Each service is built on first use, once, and closed with
the runtime; a closed runtime builds fresh ones if it is used again.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio
from starlette.requests import Request

from triops.core.settings import Settings
from triops.llm import Gateway, OnlineEvaluation, PromptResolver, in_process_clients
from triops.ml import MonitoringService, ServingService, registered_modules
from triops.ops import DetectorCache
from triops.ops.causes import CauseCache
from triops.ops.duties import DutyLoop
from triops.ops.notifications import NotificationWorker
from triops.ops.prom_query import PromSources
from triops.ops.retention import Retention
from triops.ops.runbooks import Engine, RunbookWorker
from triops.server import invalidation
from triops.store.artifacts import ArtifactStore
from triops.store.engine import Database

T = TypeVar("T")


class Lazy(Generic[T]):
    """One service, built by ``build`` on first use (once, even under concurrent first
    requests) and closed by ``close`` if it has a ``close`` method."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
                value = self._value
        return value

    @property
    def built(self) -> bool:
        return self._value is not None

    def close(self) -> None:
        with self._lock:
            value, self._value = self._value, None
        close = getattr(value, "close", None)
        if close is not None:
            close()


@dataclass
class Runtime:
    settings: Settings
    db: Database
    artifacts: ArtifactStore
    _monitoring: Lazy[MonitoringService] = field(init=False, repr=False)
    _online_evals: Lazy[OnlineEvaluation] = field(init=False, repr=False)
    _gateway: Lazy[Gateway] = field(init=False, repr=False)
    _prompt_resolver: Lazy[PromptResolver] = field(init=False, repr=False)
    _serving: Lazy[ServingService] = field(init=False, repr=False)
    _detector_cache: Lazy[DetectorCache] = field(init=False, repr=False)
    _causes: Lazy[CauseCache] = field(init=False, repr=False)
    _notifications: Lazy[NotificationWorker] = field(init=False, repr=False)
    _runbooks: Lazy[RunbookWorker] = field(init=False, repr=False)
    _duties: Lazy[DutyLoop] = field(init=False, repr=False)
    #: Names this runtime in its own announcements, which it then skips on receipt.
    origin: str = field(init=False, default_factory=lambda: uuid.uuid4().hex)
    #: The subscription to other servers' announcements, while the server runs with Redis.
    listener: invalidation.Listener | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self._monitoring = Lazy(lambda: MonitoringService(
            self.db, self.artifacts,
            pipeline_modules=registered_modules(self.settings.pipeline_modules)).start())
        # Judges reach the gateway on the server's event loop: start() runs in it.
        self._online_evals = Lazy(lambda: OnlineEvaluation(self.db, clients=in_process_clients(
            lambda: self.gateway, lambda: self.prompt_resolver)).start())
        self._gateway = Lazy(lambda: Gateway(self.settings, self.db))
        self._prompt_resolver = Lazy(lambda: PromptResolver(
            self.db, pushed=lambda: self.listener is not None and self.listener.subscribed))
        self._serving = Lazy(lambda: ServingService(self.db, self.artifacts))
        self._detector_cache = Lazy(DetectorCache)
        self._causes = Lazy(CauseCache)
        self._notifications = Lazy(lambda: NotificationWorker(self.db).start())
        self._runbooks = Lazy(lambda: RunbookWorker(Engine(
            self.db, self.artifacts,
            secrets={k: v.get_secret_value() for k, v in self.settings.runbook_secrets.items()},
            pipeline_modules=tuple(self.settings.pipeline_modules),
            changed=self._changed_by_runbook)).start())
        self._duties = Lazy(lambda: DutyLoop([
            PromSources(self.db, cache=self.detector_cache,
                        capacity_interval_ms=self.settings.capacity_interval_s * 1000),
            Retention(self.db, every_s=self.settings.retention_interval_s)]).start())

    def _lazies(self) -> dict[str, Lazy[Any]]:
        # Closed in this order: the schedulers first, so that nothing they start meets a
        # closed gateway or serving log.
        return {"duties": self._duties, "runbooks": self._runbooks,
                "notifications": self._notifications,
                "monitoring": self._monitoring, "online_evals": self._online_evals,
                "gateway": self._gateway, "prompt_resolver": self._prompt_resolver,
                "serving": self._serving, "detector_cache": self._detector_cache,
                "causes": self._causes}

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        return cls(
            settings=settings,
            db=Database(settings.store_url),
            artifacts=ArtifactStore(settings.artifacts_location),
        )

    @property
    def monitoring(self) -> MonitoringService:
        """The scheduler that runs due monitors and queued retraining (started on build)."""
        return self._monitoring.get()

    @property
    def online_evals(self) -> OnlineEvaluation:
        """The loop that scores a sample of live traces (started on build)."""
        return self._online_evals.get()

    @property
    def gateway(self) -> Gateway:
        return self._gateway.get()

    @property
    def prompt_resolver(self) -> PromptResolver:
        return self._prompt_resolver.get()

    @property
    def serving(self) -> ServingService:
        return self._serving.get()

    @property
    def detector_cache(self) -> DetectorCache:
        return self._detector_cache.get()

    @property
    def causes(self) -> CauseCache:
        """The ranked probable causes of recently asked-about incidents."""
        return self._causes.get()

    @property
    def notifications(self) -> NotificationWorker:
        """The worker that delivers the notification outbox (started on build)."""
        return self._notifications.get()

    @property
    def runbooks(self) -> Engine:
        """The runbook engine, driven by its worker thread (started on build)."""
        return self._runbooks.get().engine

    # -- changes other servers must hear of -----------------------------------------

    def _announce(self, topic: str, *args: str) -> None:
        invalidation.publish(self.settings.redis_url, topic, *args, origin=self.origin)

    def prompt_changed(self, project: str, name: str) -> None:
        """A prompt's versions or labels changed: drop it here and everywhere."""
        if self._prompt_resolver.built:
            self.prompt_resolver.invalidate(project, name)
        self._announce(invalidation.PROMPT, project, name)

    def gateway_changed(self) -> None:
        """The stored gateway configuration changed: reload it here and everywhere."""
        if self._gateway.built:
            self.gateway.reload()
        self._announce(invalidation.GATEWAY)

    def _changed_by_runbook(self, topic: str, *args: str) -> None:
        # Runbook actions live below the server; they name what they changed by topic.
        {invalidation.PROMPT: self.prompt_changed,
         invalidation.GATEWAY: self.gateway_changed}[topic](*args)

    def guardrails_changed(self) -> None:
        """The stored guardrail rules changed: reload them here and everywhere."""
        self.gateway.guardrails.reload()
        self._announce(invalidation.GUARDRAILS)

    def announced_handlers(self) -> dict[str, Callable[..., Any]]:
        """What this runtime does on another server's announcement; only what it has
        built holds anything to drop (store reads run off the event loop)."""

        def prompt(project: str, name: str) -> None:
            if self._prompt_resolver.built:
                self.prompt_resolver.invalidate(project, name)

        async def gateway() -> None:
            if self._gateway.built:
                await anyio.to_thread.run_sync(self.gateway.reload)

        async def guardrails() -> None:
            if self._gateway.built:
                await anyio.to_thread.run_sync(self.gateway.guardrails.reload)

        return {invalidation.PROMPT: prompt, invalidation.GATEWAY: gateway,
                invalidation.GUARDRAILS: guardrails}

    async def resync(self) -> None:
        """Forget or re-read everything announcements would have kept current."""
        if self._prompt_resolver.built:
            self.prompt_resolver.clear()
        if self._gateway.built:
            await anyio.to_thread.run_sync(self.gateway.reload)
            await anyio.to_thread.run_sync(self.gateway.guardrails.reload)

    def start(self) -> None:
        """Start the background services: scheduled monitors, online evals, the
        notification outbox, runbooks, and the duties (Prometheus source polls,
        retention)."""
        self._monitoring.get()
        self._duties.get()
        self._online_evals.get()
        self._notifications.get()
        self._runbooks.get()

    def built(self) -> list[str]:
        """The names of the services built so far."""
        return [name for name, lazy in self._lazies().items() if lazy.built]

    def close(self) -> None:
        for lazy in self._lazies().values():
            lazy.close()
        self.db.dispose()


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime
