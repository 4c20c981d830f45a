"""The serving service a server holds: endpoints, loaded versions, batchers, the log.

Loaded models are cached by (project, model, version): loading happens once per version,
whichever endpoint asks. What an endpoint points at is re-read cheaply: its definition and
the versions its aliases name are cached for ``ref_ttl_s`` (one second by default), so
when an alias moves — a promotion or a rollback — the next request after at most that
long is served by the new version, on every server replica, with no notification needed.
A deploy or delete on this server takes effect at once.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from triops.core import heap
from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.ml.serving import explanations, inputs, traffic
from triops.ml.serving.batching import Batcher
from triops.ml.serving.deploy import trust_of
from triops.ml.serving.loaders import (
    Column,
    ModelFiles,
    ModelHandle,
    Trust,
    artifact_root,
    load_model,
)
from triops.ml.serving.logwriter import LogWriter
from triops.ml.serving.predictions import (
    PREDICTION_KIND,
    ShadowResult,
    prediction_row,
    predictions_window,
)
from triops.store.artifacts import ArtifactStore
from triops.store.engine import Database
from triops.store.repos import deployments, registry
from triops.store.repos.deployments import EndpointSpec


@dataclass
class LoadedVersion:
    model: str
    version: int
    handle: ModelHandle
    batcher: Batcher
    explainer: explanations.ExplainerSlot = field(
        default_factory=lambda: explanations.ExplainerSlot(threading.Lock()))
    #: The explainer as a second model of ``batcher``, once the explainer is built.
    explain_handle: ModelHandle | None = None


@dataclass(frozen=True)
class Prediction:
    request_id: str
    model: str
    version: int
    served_by: str
    outputs: list[Any]
    latency_ms: float
    columns: list[str]
    #: Attributions of every row, when the request asked for them.
    explanation: dict[str, Any] | None = None


#: Builds the request's table once the serving version's signature is known.
TableBuilder = Callable[[list[Column] | None], inputs.Table]


class ServingService:
    def __init__(self, db: Database, artifacts: ArtifactStore, *, ref_ttl_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.artifacts = artifacts
        self.ref_ttl_s = ref_ttl_s
        self.clock = clock  # seconds, for the ref_ttl_s expiry only
        self.log = LogWriter(db)
        self._endpoints: dict[tuple[str, str], tuple[float, EndpointSpec]] = {}
        self._refs: dict[tuple[str, str, str], tuple[float, int]] = {}
        self._loaded: dict[tuple[str, str, int, Trust], LoadedVersion] = {}
        self._load_locks: dict[tuple[str, str, int, Trust], asyncio.Lock] = {}
        self._random = random.Random()

    # -- what an endpoint points at ---------------------------------------------------

    def forget(self, project: str, name: str) -> None:
        """Drop cached state of an endpoint changed on this server."""
        self._endpoints.pop((project, name), None)
        self._refs = {k: v for k, v in self._refs.items() if k[0] != project}

    async def endpoint(self, project: str, name: str) -> EndpointSpec:
        key = (project, name)
        hit = self._endpoints.get(key)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        spec = await run_in_threadpool(self._read_endpoint, project, name)
        self._endpoints[key] = (self.clock() + self.ref_ttl_s, spec)
        return spec

    def _read_endpoint(self, project: str, name: str) -> EndpointSpec:
        with self.db.read() as session:
            return deployments.spec_of(deployments.get(session, project, name))

    def resolve_now(self, project: str, model: str, ref: str) -> int:
        """The version ``ref`` names right now, read from the store."""
        with self.db.read() as session:
            if ref.startswith("@"):
                _m, row = registry.get_by_alias(session, project, model, ref[1:])
            else:
                _m, row = registry.get_version(session, project, model, ref)
            return row.version

    async def resolve(self, project: str, model: str, ref: str) -> int:
        if not ref.startswith("@"):
            return int(ref)
        key = (project, model, ref)
        hit = self._refs.get(key)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        version = await run_in_threadpool(self.resolve_now, project, model, ref)
        self._refs[key] = (self.clock() + self.ref_ttl_s, version)
        return version

    # -- loaded versions --------------------------------------------------------------

    def load_now(self, project: str, model: str, version: int, trust: Trust) -> ModelHandle:
        with self.db.read() as session:
            _m, row = registry.get_version(session, project, model, version)
            location = row.storage_location
        files = ModelFiles(self.artifacts, artifact_root(location, project))
        return load_model(files, trust=trust)

    def adopt(self, project: str, model: str, version: int, handle: ModelHandle,
              spec: EndpointSpec) -> None:
        """Keep a model loaded elsewhere (at deploy time) so it is not loaded twice."""
        key = (project, model, version, trust_of(spec))
        if key not in self._loaded:
            self._loaded[key] = LoadedVersion(model, version, handle, Batcher(
                handle, max_batch_size=spec.max_batch_size, max_wait_ms=spec.max_wait_ms))
            heap.refreeze()  # a loaded model lives on: see triops.core.heap

    async def loaded(self, project: str, model: str, version: int, spec: EndpointSpec
                     ) -> LoadedVersion:
        key = (project, model, version, trust_of(spec))
        hit = self._loaded.get(key)
        if hit is None:
            lock = self._load_locks.setdefault(key, asyncio.Lock())
            async with lock:
                hit = self._loaded.get(key)
                if hit is None:
                    handle = await run_in_threadpool(self.load_now, project, model, version,
                                                     key[3])
                    hit = LoadedVersion(model, version, handle, Batcher(
                        handle, max_batch_size=spec.max_batch_size,
                        max_wait_ms=spec.max_wait_ms))
                    self._loaded[key] = hit
                    heap.refreeze()
        hit.batcher.configure(max_batch_size=spec.max_batch_size, max_wait_ms=spec.max_wait_ms)
        return hit

    # -- serving ----------------------------------------------------------------------

    async def explainer(self, project: str, endpoint: str, served: LoadedVersion,
                        columns: list[str]) -> explanations.Explainer:
        """The served version's explainer, built on first use."""
        if served.explainer.explainer is not None:
            return served.explainer.explainer

        def background() -> Any:
            with self.db.read() as session:
                found = predictions_window(session, project, endpoint,
                                           limit=explanations.BACKGROUND_ROWS)
            return explanations.background_frame(found)

        return await run_in_threadpool(explanations.explainer_of, served.explainer,
                                       served.handle, columns, background)

    async def predict(self, project: str, endpoint: str, build: TableBuilder,
                      request_id: str, *, explain: bool = False) -> Prediction:
        spec = await self.endpoint(project, endpoint)
        policy = traffic.parse_policy(spec.policy)
        served_by = traffic.route(policy, request_id)
        ref = policy.canary_ref if served_by == traffic.CANARY else spec.model_ref
        assert ref is not None
        version = await self.resolve(project, spec.model_name, ref)
        served = await self.loaded(project, spec.model_name, version, spec)
        table = inputs.check(build(served.handle.columns), served.handle.columns)
        explainer = explain_handle = None
        if explain:
            explainer = await self.explainer(project, endpoint, served, table.columns)
            if served.explain_handle is None:
                served.explain_handle = explanations.batch_handle(explainer)
            explain_handle = served.explain_handle
        shadow_task = None
        if policy.shadow_ref is not None:
            shadow_task = asyncio.ensure_future(
                self._shadow(project, spec, policy.shadow_ref, build))
        started = time.perf_counter()
        explained = None
        try:
            if explainer is not None and explain_handle is not None:
                # Explained in the prediction's own batch call: see batching.
                outputs, rows = await served.batcher.predict_also(table, explain_handle)
                explained = explanations.from_batch(explainer, rows)
            else:
                outputs = await served.batcher.predict(table)
        except InvalidInput:
            raise
        except Exception as exc:  # noqa: BLE001 - inputs passed the signature; the model refused them
            if shadow_task is not None:
                shadow_task.cancel()
            raise InvalidInput(f"the model could not predict these inputs: "
                               f"{type(exc).__name__}: {exc}"[:500]) from None
        latency_ms = (time.perf_counter() - started) * 1000
        shadow = None
        if shadow_task is not None:
            shadow_version, shadow_outputs, error = await shadow_task
            shadow = ShadowResult(
                version=shadow_version, outputs=shadow_outputs,
                agree=error is None and traffic.outputs_agree(outputs, shadow_outputs),
                error=error)
        if spec.log_sample_rate >= 1.0 or self._random.random() < spec.log_sample_rate:
            row = prediction_row(
                endpoint=endpoint, time_ms=now_ms(), request_id=request_id,
                model=spec.model_name, version=version, served_by=served_by,
                latency_ms=latency_ms, columns=table.columns, matrix=table.matrix,
                rows=table.rows if table.matrix is None else (),
                outputs=outputs, shadow=shadow, explanation=explained)
            # Acknowledged only once committed: see logwriter's contract.
            await self.log.write(project, PREDICTION_KIND, row)
        return Prediction(request_id, spec.model_name, version, served_by, outputs,
                          latency_ms, table.columns, explained)

    async def importance(self, project: str, endpoint: str, limit: int,
                         versions: list[int] | None = None) -> list[explanations.Importance]:
        """Global importance of each version among the endpoint's last ``limit`` logged
        predictions (or of ``versions``, explaining those rows with each of them)."""
        spec = await self.endpoint(project, endpoint)

        def window() -> list[Any]:
            with self.db.read() as session:
                return predictions_window(session, project, endpoint, limit=limit)

        found = await run_in_threadpool(window)
        served = sorted({p.version for p in found})
        out = []
        for version in versions or served:
            loaded = await self.loaded(project, spec.model_name, version, spec)
            columns = list(found[-1].inputs[0]) if found and found[-1].inputs else []
            explainer = await self.explainer(project, endpoint, loaded, columns)
            out.append(await run_in_threadpool(explanations.importance, version, explainer,
                                               found, versions is not None))
        return out

    async def _shadow(self, project: str, spec: EndpointSpec, ref: str, build: TableBuilder
                      ) -> tuple[int, list[Any], str | None]:
        """Mirror the request to the shadow version; never raises, never reaches the caller."""
        version = 0
        try:
            version = await self.resolve(project, spec.model_name, ref)
            shadow = await self.loaded(project, spec.model_name, version, spec)
            table = inputs.check(build(shadow.handle.columns), shadow.handle.columns)
            return version, await shadow.batcher.predict(table), None
        except Exception as exc:  # noqa: BLE001 - a failing shadow is logged, not served
            return version, [], f"{type(exc).__name__}: {exc}"[:300]

    def batch_stats(self, project: str, model: str) -> dict[str, dict[str, float]]:
        """Model calls, requests and rows per loaded version of ``model`` on this server."""
        out = {}
        for (proj, name, version, _trust), lv in self._loaded.items():
            if proj == project and name == model:
                s = lv.batcher.stats
                out[str(version)] = {"calls": s.calls, "requests": s.requests, "rows": s.rows,
                                     "largest_batch_rows": s.largest}
        return out

    def close(self) -> None:
        self.log.close()
        for lv in self._loaded.values():
            lv.batcher.close()

