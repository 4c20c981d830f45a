"""OpenAI's Files and fine-tuning API, faked for the local upstream: no training happens.

Each read of a job moves it one step, so tests and first-time users see every state
without waiting: ``validating_files`` → ``running`` (one metrics event per epoch, the
loss falling) → ``succeeded`` with a ``fine_tuned_model`` that the local upstream's chat
answers like any other model. A base model named ``fail-training`` fails after
validation; ``POST .../cancel`` cancels a job that has not finished.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

TERMINAL = ("succeeded", "failed", "cancelled")


def _json(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status_code=status, media_type="application/json")


def _missing(what: str) -> Response:
    return _json({"error": {"message": f"no such {what}", "type": "invalid_request_error",
                            "param": None, "code": None}}, 404)


def routes(name: str) -> list[Route]:
    files: dict[str, dict[str, Any]] = {}
    jobs: dict[str, dict[str, Any]] = {}
    events: dict[str, list[dict[str, Any]]] = {}

    def event(job_id: str, message: str, kind: str = "message",
              data: dict[str, Any] | None = None) -> None:
        log = events.setdefault(job_id, [])
        log.append({"id": f"ftevent-{job_id[-6:]}-{len(log)}", "object": "fine_tuning.job.event",
                    "created_at": int(time.time()), "level": "info", "message": message,
                    "type": kind, "data": data or {}})

    async def upload(request: Request) -> Response:
        form = await request.form()
        upload_file = form["file"]
        content = await upload_file.read()  # type: ignore[union-attr]
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        files[file_id] = {"id": file_id, "object": "file", "bytes": len(content),
                          "created_at": int(time.time()),
                          "filename": getattr(upload_file, "filename", "") or "upload",
                          "purpose": str(form.get("purpose", "")), "status": "processed",
                          "content": content.decode("utf-8", "replace")}
        return _json({k: v for k, v in files[file_id].items() if k != "content"})

    async def create_job(request: Request) -> Response:
        body = orjson.loads(await request.body())
        training = files.get(body.get("training_file", ""))
        if training is None:
            return _missing("training file")
        job_id = f"ftjob-{uuid.uuid4().hex[:24]}"
        epochs = int((body.get("hyperparameters") or {}).get("n_epochs", 3) or 3)
        jobs[job_id] = {
            "id": job_id, "object": "fine_tuning.job", "created_at": int(time.time()),
            "finished_at": None, "model": body["model"], "fine_tuned_model": None,
            "organization_id": name, "result_files": [], "status": "validating_files",
            "validation_file": body.get("validation_file"),
            "training_file": body["training_file"],
            "hyperparameters": {"n_epochs": epochs, "batch_size": 1,
                                "learning_rate_multiplier": 1.0},
            "trained_tokens": None, "error": None, "seed": body.get("seed") or 0,
            "suffix": body.get("suffix"), "examples": training["content"].count("\n")}
        event(job_id, f"Created fine-tuning job: {job_id}")
        return _json(jobs[job_id])

    def advance(job: dict[str, Any]) -> None:
        if job["status"] in TERMINAL:
            return
        job_id = job["id"]
        if job["status"] == "validating_files":
            if job["model"] == "fail-training":
                job.update(status="failed", finished_at=int(time.time()), error={
                    "code": "invalid_training_file", "param": "training_file",
                    "message": "the training file does not fit this model"})
                event(job_id, "Training failed: the training file does not fit this model")
                return
            job["status"], job["step"] = "running", 0
            event(job_id, "Validated the training file; training started")
            return
        step = job["step"] + 1
        job["step"] = step
        event(job_id, f"Step {step}/{job['hyperparameters']['n_epochs']}", "metrics",
              {"step": step, "train_loss": round(2.0 / (step + 1), 4)})
        if step >= job["hyperparameters"]["n_epochs"]:
            model = f"ft:{job['model']}:{job['suffix'] or 'custom'}:{job_id[-8:]}"
            job.update(status="succeeded", finished_at=int(time.time()),
                       fine_tuned_model=model, trained_tokens=100 * job["examples"] * step)
            event(job_id, f"The job has successfully completed: {model}")

    def public(job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if k not in ("step", "examples", "suffix")}

    async def get_job(request: Request) -> Response:
        job = jobs.get(request.path_params["job_id"])
        if job is None:
            return _missing("job")
        advance(job)
        return _json(public(job))

    async def cancel_job(request: Request) -> Response:
        job = jobs.get(request.path_params["job_id"])
        if job is None:
            return _missing("job")
        if job["status"] not in TERMINAL:
            job.update(status="cancelled", finished_at=int(time.time()))
            event(job["id"], "The job was cancelled")
        return _json(public(job))

    async def job_events(request: Request) -> Response:
        log = events.get(request.path_params["job_id"])
        if log is None:
            return _missing("job")
        # OpenAI lists events newest first.
        return _json({"object": "list", "data": list(reversed(log)), "has_more": False})

    return [
        Route("/v1/files", upload, methods=["POST"]),
        Route("/v1/fine_tuning/jobs", create_job, methods=["POST"]),
        Route("/v1/fine_tuning/jobs/{job_id}", get_job, methods=["GET"]),
        Route("/v1/fine_tuning/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
        Route("/v1/fine_tuning/jobs/{job_id}/events", job_events, methods=["GET"]),
    ]
