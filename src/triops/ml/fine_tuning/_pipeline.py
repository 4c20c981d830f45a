"""Training on the team's own hardware: a fine-tuning job run as a triops pipeline.

A job whose ``model`` is ``pipeline:<name>`` runs the project's registered pipeline
``<name>`` (``POST /api/v1/pipelines``) on the server's pipeline pool, with the local
executor or, when the job's metadata says ``"triops.executor": "ray"``, on Ray. The
pipeline's contract is in ``triops.ml.fine_tuning.recipes``: parameters ``training`` and
``hyperparameters``; outputs ``model`` and ``metrics``.

The provider's job id is the pipeline run's id. While the run goes on, each finished
step is an event; when it has succeeded, the ``model`` output is written to
``fine-tuning/<run id>/model.*`` in the artifact store and the ``metrics`` become
metrics events, and only then (``result.json`` written last) does the job report
success. Cancelling asks the run to stop before its next step. The stop request lives in
the server process that runs the pipeline; the state it reports lives in the store.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future
from typing import Any

from triops.core.errors import InvalidInput, NotFound
from triops.ml.artifact_paths import under
from triops.ml.pipelines import load_registered, make_executor, recorded_run_id, run_pipeline
from triops.store.artifacts import ArtifactStore
from triops.store.engine import Database
from triops.store.repos import monitoring as pipeline_repo
from triops.store.repos import runs as run_repo

PREFIX = "pipeline:"
UPSTREAM = "pipeline"
PARAMS = ("training", "hyperparameters")
_stops: dict[str, threading.Event] = {}
_stops_lock = threading.Lock()


def _folder(run_id: str) -> str:
    return f"fine-tuning/{run_id}"


class PipelineFineTuning:
    """A ``FineTuningProvider`` that trains with a registered pipeline of one project."""

    def __init__(self, db: Database, artifacts: ArtifactStore, project: str, pipeline: str,
                 *, modules: Collection[str], submit: Callable[..., Future],
                 executor: str = "local", actor: str = "fine-tuning") -> None:
        self.db, self.artifacts, self.project = db, artifacts, project
        self.pipeline, self.modules, self._submit = pipeline, modules, submit
        self.executor, self.actor = executor, actor

    def submit(self, training: bytes, filename: str, *, hyperparameters: dict[str, Any],
               suffix: str | None, seed: int | None) -> dict[str, Any]:
        with self.db.read() as session:
            registered = pipeline_repo.get_pipeline(session, self.project, self.pipeline)
        pipeline = load_registered(registered.ref, self.modules, self.artifacts, self.project)
        if set(pipeline.params) != set(PARAMS):
            raise InvalidInput(f"pipeline {self.pipeline!r} takes {list(pipeline.params)}; a "
                               f"fine-tuning pipeline takes {list(PARAMS)}")
        params = {"training": training.decode("utf-8", errors="replace"),
                  "hyperparameters": {**hyperparameters,
                                      **({"seed": seed} if seed is not None else {})}}
        executor = make_executor(self.executor)
        stop = threading.Event()
        started: queue.Queue[str] = queue.Queue()
        name = f"{self.pipeline}:{suffix}" if suffix else self.pipeline

        def on_start(run_id: str) -> None:
            with _stops_lock:
                _stops[run_id] = stop
            started.put(run_id)

        future = self._submit(self._train, pipeline, registered, params, executor, on_start,
                              stop, name)
        run_id = recorded_run_id(started, future, "the training pipeline")
        return {"id": run_id, "status": "running", "hyperparameters": hyperparameters}

    def _train(self, pipeline: Any, registered: Any, params: dict[str, Any], executor: Any,
               on_start: Callable[[str], None], stop: threading.Event, name: str) -> None:
        result = run_pipeline(self.db, self.artifacts, self.project, pipeline, params,
                              ref=registered.ref, executor=executor,
                              trigger="fine-tuning", actor=self.actor, on_start=on_start,
                              name=registered.name, stop=stop.is_set)
        try:
            if result.status != "succeeded":
                return  # the run's own row says failed or cancelled, and why
            folder = _folder(result.run_id)
            if self._exists(f"{folder}/result.json"):
                return  # cancelled while the last step ran
            try:
                model, metrics = result.values["model"], list(result.values["metrics"])
            except (KeyError, TypeError):
                self._write_result(folder, {"status": "failed", "error": (
                    "the pipeline must produce the outputs 'model' and 'metrics'")})
                return
            if isinstance(model, bytes):
                path = f"{folder}/model.bin"
                self.artifacts.write_bytes(path, model)
            else:
                path = f"{folder}/model.json"
                self.artifacts.write_bytes(path, json.dumps(model).encode())
            self._write_result(folder, {"status": "succeeded", "model_path": path,
                                        "fine_tuned_model": f"{PREFIX}{name}:{result.run_id}",
                                        "metrics": metrics})
        finally:
            with _stops_lock:
                _stops.pop(result.run_id, None)

    def _write_result(self, folder: str, result: dict[str, Any]) -> None:
        self.artifacts.write_bytes(f"{folder}/result.json", json.dumps(result).encode())

    def _exists(self, path: str) -> bool:
        try:
            self.artifacts.read_bytes(path)
        except (FileNotFoundError, NotFound):
            return False
        return True

    def _result(self, run_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.artifacts.read_bytes(f"{_folder(run_id)}/result.json"))
        except (FileNotFoundError, NotFound):
            return None

    def status(self, job_id: str) -> dict[str, Any]:
        with self.db.read() as session:
            run = pipeline_repo.get_run(session, self.project, job_id)
        result = self._result(job_id)
        if result is not None:
            error = result.get("error")
            return {"id": job_id, "status": result["status"],
                    "fine_tuned_model": result.get("fine_tuned_model"),
                    "error": {"code": "pipeline_failed", "message": error, "param": None}
                    if error else None}
        if run.status in ("failed", "cancelled"):
            return {"id": job_id, "status": run.status, "error": {
                "code": f"pipeline_{run.status}", "message": run.error, "param": None}}
        return {"id": job_id, "status": "running"}

    def events(self, job_id: str) -> list[dict[str, Any]]:
        with self.db.read() as session:
            run = pipeline_repo.get_run(session, self.project, job_id)
            steps = pipeline_repo.steps_of(session, job_id)
        # Ids sort in the order things happened: events of one second are stored by id.
        found = [{"id": "1-run", "created_at": run.started_ms // 1000,
                  "level": "info", "type": "message",
                  "message": f"pipeline {run.pipeline} started on the {run.executor} executor"}]
        for step in steps:
            took = f" in {(step.ended_ms - step.started_ms) / 1000:.1f} s" if step.ended_ms else ""
            found.append({
                "id": f"2-step-{step.id:012d}",
                "created_at": (step.ended_ms or step.started_ms) // 1000,
                "level": "error" if step.status == "failed" else "info", "type": "message",
                "message": f"step {step.step} {step.status}{' (cached)' if step.cached else took}"
                           + (f": {step.error}" if step.error else "")})
        result = self._result(job_id) or {}
        at = (run.ended_ms or run.started_ms) // 1000
        for n, point in enumerate(result.get("metrics") or []):
            if isinstance(point, dict) and isinstance(point.get("step"), int):
                found.append({"id": f"3-metrics-{n:06d}", "created_at": at, "level": "info",
                              "type": "metrics", "message": f"step {point['step']}",
                              "data": point})
        if result.get("model_path"):
            found.append({"id": "4-model", "created_at": at, "level": "info", "type": "message",
                          "message": f"model written to {result['model_path']}"})
        return found

    def cancel(self, job_id: str) -> dict[str, Any]:
        with _stops_lock:
            stop = _stops.get(job_id)
        if stop is not None:
            stop.set()
        if self._result(job_id) is None:
            self._write_result(_folder(job_id), {"status": "cancelled"})
        return self.status(job_id)

    def model_source(self, fine_tuned_model: str, run_id: str) -> str:
        """Copy the trained model into the job's run's artifacts: ``runs:/<run>/model``."""
        job_run = fine_tuned_model.rpartition(":")[2]
        result = self._result(job_run) or {}
        path = result.get("model_path")
        if not path:
            raise NotFound(f"pipeline run {job_run} left no model")
        with self.db.read() as session:
            artifact_uri = run_repo.get(session, self.project, run_id).artifact_uri
        filename = path.rpartition("/")[2]
        self.artifacts.write_bytes(under(self.project, artifact_uri, f"model/{filename}"),
                                   self.artifacts.read_bytes(path))
        return f"runs:/{run_id}/model"
